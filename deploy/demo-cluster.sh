#!/usr/bin/env bash
# The main demo (`pnpm demo`): a three-node Shoal cluster in network namespaces, narrated step
# by step. Fresh certificates; three shoald nodes (cluster, local SWIM timings, internal VIP
# ownership, a management VIP, the nftables data plane, health checks) on one bridge with three
# HTTP backends and a client; shoalctl through the management VIP; round robin through a VIP;
# the VIP's owner crashes (SIGKILL + link down) under a curl loop and comes back.
#
# Needs root and what deploy/setup.sh installs (iproute2, nftables, openssl, curl, jq, node).
# Network: every address exists only inside namespaces this script creates, all named
# "shdemo-<pid>-*" (links live inside them; the host's own interfaces are never touched).
# Processes: only the PIDs this script starts are signalled. Everything (namespaces, processes,
# the temporary directory) is removed on exit, on success, failure, Ctrl-C or SIGTERM.
# DEMO_KEEP=1 keeps the temporary directory (certificates, configs, logs) for a look afterwards.
# Exit status: 0 when every step did what it says, non-zero with a message naming the step.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

P="shdemo-$$-"                 # every namespace this run creates starts with this
NET=10.230.0                   # the lab's /24, on a bridge inside ${P}sw
MGMT_VIP=$NET.100              # the cluster API (management VIP)
# The web instance's VIP. The election is deterministic (rendezvous hashing of VIP and node
# name): with these names .56 goes to n2, which also wins the management VIP, so the crash in
# step 6 takes the cluster API's address over too (the harder case).
VIP=$NET.56
CLIENT_IP=$NET.5
NODES=(n1 n2 n3)
BACKENDS=(web1 web2 web3)
declare -A IP=([n1]=$NET.11 [n2]=$NET.12 [n3]=$NET.13 [web1]=$NET.21 [web2]=$NET.22 [web3]=$NET.23 [client]=$CLIENT_IP)

if [ -t 1 ]; then B=$'\033[1m' R=$'\033[31m' G=$'\033[32m' N=$'\033[0m'; else B="" R="" G="" N=""; fi
now_ms() { date +%s%3N; }
T0=$(now_ms)
elapsed() { local d=$(($(now_ms) - T0)); printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100)); }
STEP=""
step() { STEP="$1"; printf '\n%s== %s  [%s]%s\n' "$B" "$1" "$(elapsed)" "$N"; }
say() { printf '   %s\n' "$*"; }
cmdline() { printf '%s$ %s%s\n' "$B" "$*" "$N"; }

# ---------------------------------------------------------------- preconditions

precheck() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "demo: the cluster demo needs root (it creates network namespaces); run it as root, or run 'pnpm demo:single' for the single-node API act" >&2
    exit 2
  fi
  local missing=() c
  for c in ip nft openssl curl jq node sysctl; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "demo: missing ${missing[*]}: run 'bash deploy/setup.sh' first" >&2
    exit 2
  fi
  [ -f packages/shoald/dist/src/index.js ] && [ -f packages/cli/dist/src/index.js ] || { echo "demo: shoald/shoalctl are not built: run 'pnpm build' (pnpm demo does)" >&2; exit 2; }
}
precheck

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shdemo-$$-XXXXXX")
CERTS=$WORK/certs
NAMESPACES=()                  # created by this run, in creation order
declare -A SHOALD=()           # node -> shoald PID
OTHER_PIDS=()                  # backends, curl loops
STOPFILES=()
DONE=0
SUMMARY=()

# ---------------------------------------------------------------- failure and cleanup

show_logs() {
  local n
  for n in "${NODES[@]}"; do
    [ -s "$WORK/$n.log" ] || continue
    echo "--- $n's shoald log, last lines other than API requests (all of it: DEMO_KEEP=1):" >&2
    grep -v '"msg":"request"' "$WORK/$n.log" | tail -n 6 | cut -c1-300 >&2
  done
}
fail() {
  printf '\n%sdemo FAILED in step "%s": %s%s\n' "$R" "$STEP" "$*" "$N" >&2
  show_logs
  exit 1
}
on_err() {
  printf '\n%sdemo FAILED in step "%s": line %s: `%s` exited %s%s\n' "$R" "$STEP" "$1" "$2" "$3" "$N" >&2
  show_logs
  exit 1
}
trap 'on_err "$LINENO" "$BASH_COMMAND" "$?"' ERR

# SIGTERM once (a second SIGTERM would cut shoald's graceful stop short), up to 6 s to exit,
# then SIGKILL; reaps them.
stop_pids() { # pid...
  local pid i
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local rc=$? ns pid left problems=() notes=()
  set +eE
  trap - ERR
  trap '' INT TERM
  STEP="clean up"
  if [ "$DONE" = 1 ]; then printf '\n%s== 8. Clean up: stop every process, delete every namespace  [%s]%s\n' "$B" "$(elapsed)" "$N"
  else printf '\n%s== Clean up  [%s]%s\n' "$B" "$(elapsed)" "$N"; fi
  for f in "${STOPFILES[@]}"; do : >"$f" 2>/dev/null; done
  # Every shoald at once (SIGTERM: each leaves the cluster and releases its VIPs), then the rest.
  stop_pids "${SHOALD[@]}"
  stop_pids "${OTHER_PIDS[@]}"
  say "stopped the $((${#SHOALD[@]} + ${#OTHER_PIDS[@]})) processes this run started (by PID)"
  for ((i = ${#NAMESPACES[@]} - 1; i >= 0; i--)); do
    ns=${NAMESPACES[i]}
    left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    if [ -n "$left" ]; then
      # Children of this run's processes (a SIGKILLed shoald leaves its `nft monitor` behind):
      # nothing else can be inside a namespace this run created.
      notes+=("$(for pid in $left; do printf '%s (%s) ' "$pid" "$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-40)"; done)in ${ns#"$P"}")
      for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
      sleep 0.2
    fi
    ip netns del "$ns" 2>/dev/null || problems+=("cannot delete namespace $ns")
  done
  [ "${#notes[@]}" -eq 0 ] || say "also stopped what they left in their namespaces: ${notes[*]}"
  say "deleted ${#NAMESPACES[@]} namespaces (${P}*), and with them every link, address and nftables table in them"
  if [ "${DEMO_KEEP:-0}" = "1" ]; then say "kept $WORK (DEMO_KEEP=1)"; else rm -rf "$WORK"; say "removed $WORK"; fi
  left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P" | tr '\n' ' ' || true)
  [ -z "$left" ] || problems+=("namespaces left behind: $left")
  for pid in "${SHOALD[@]}" "${OTHER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && problems+=("process $pid still running"); done
  if [ "${#problems[@]}" -gt 0 ]; then
    printf '%scleanup problem: %s%s\n' "$R" "${problems[*]}" "$N" >&2
    [ "$rc" -ne 0 ] || rc=1
  else
    say "checked: 'ip netns list' shows none of ${P}*, and none of this run's processes is alive"
  fi
  if [ "$DONE" = 1 ] && [ "$rc" -eq 0 ]; then
    printf '\n%s== Summary  [%s]%s\n' "$B" "$(elapsed)" "$N"
    for line in "${SUMMARY[@]}"; do say "$line"; done
    printf '\n%sdemo OK%s (%s)\n' "$G" "$N" "$(elapsed)"
  elif [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
    printf '%sdemo interrupted (exit %s); everything it created has been removed%s\n' "$R" "$rc" "$N" >&2
  elif [ "$rc" -ne 0 ]; then
    printf '%sdemo FAILED (exit %s); everything it created has been removed%s\n' "$R" "$rc" "$N" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

# ---------------------------------------------------------------- helpers

wait_for() { # description seconds command...: polls every 0.2 s
  local desc=$1 secs=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $desc"
    sleep 0.2
  done
}
add_ns() { NAMESPACES+=("$P$1"); ip netns add "$P$1"; ip -n "$P$1" link set lo up; }
# A namespace on the bridge: veth eth0 inside it, its peer <short>p enslaved to br0 in ${P}sw.
attach() { # short ip
  add_ns "$1"
  ip -n "$P$1" link add eth0 type veth peer name "$1p" netns "${P}sw"
  ip -n "${P}sw" link set "$1p" master br0
  ip -n "${P}sw" link set "$1p" up
  ip -n "$P$1" link set eth0 up
  ip -n "$P$1" addr add "$2/24" dev eth0
}
in_ns() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }

SHOALCTL_FLAGS=(--endpoint "https://$MGMT_VIP:8443" --ca "$CERTS/ca.crt" --cert "$CERTS/admin.crt" --key "$CERTS/admin.key")
ctl() { in_ns client node "$ROOT/packages/cli/bin/shoalctl.js" "${SHOALCTL_FLAGS[@]}" --timeout 3000 "$@"; }
# Shown as typed, then run; retried (quietly) only on exit 6, "unavailable": no answer through
# the management VIP while it moves. Any other failure stops the demo.
show_ctl() {
  local out i rc
  cmdline "shoalctl $*"
  for i in 1 2 3 4 5; do
    rc=0
    out=$(ctl "$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then printf '%s\n' "$out"; return 0; fi
    [ "$rc" -eq 6 ] || break
    sleep 0.5
  done
  printf '%s\n' "$out" >&2
  fail "shoalctl $* exited $rc (after $i attempts through the management VIP)"
}
member_states() { ctl members -o json 2>/dev/null | jq -r '.items | sort_by(.name) | map("\(.name)=\(.state)") | join(" ")'; }
all_alive() { [ "$(member_states)" = "n1=alive n2=alive n3=alive" ]; }
is_dead() { [[ " $(member_states) " == *" $1=dead "* ]]; }

holders() { # vip [nodes...]: nodes whose eth0 holds vip/32
  local vip=$1 n out=() among=("${NODES[@]}")
  shift
  [ $# -eq 0 ] || among=("$@")
  for n in "${among[@]}"; do
    [[ $(ip -n "$P$n" -4 -o addr show dev eth0 2>/dev/null) == *"inet $vip/32 "* ]] && out+=("$n")
  done
  echo "${out[*]:-}"
}
one_holder() { local h; h=$(holders "$@"); [ -n "$h" ] && [ "$(wc -w <<<"$h")" -eq 1 ]; }
show_addrs() {
  local n
  for n in "${NODES[@]}"; do
    printf '   %-3s %s\n' "$n" "$(ip -n "$P$n" -br -4 addr show dev eth0 | tr -s ' ')"
  done
}

start_shoald() { # node
  ip netns exec "$P$1" node packages/shoald/bin/shoald.js --config "$WORK/$1.yaml" >>"$WORK/$1.log" 2>&1 &
  SHOALD[$1]=$!
}
ready_count() { grep -c '"shoald ready"' "$WORK/$1.log" 2>/dev/null || true; }
shoald_ready() { # node count: the node's log has count "ready" lines, and it is alive
  kill -0 "${SHOALD[$1]}" 2>/dev/null || fail "shoald on $1 exited: $(tail -n 3 "$WORK/$1.log" | cut -c1-300)"
  [ "$(ready_count "$1")" -ge "$2" ]
}

# The client's curl loop: one line per request ("<ms> ok <answer>" or "<ms> fail"), each request
# given 300 ms, until the stop file appears.
LOOP='while [ ! -e "$1" ]; do t=$(date +%s%3N); if a=$(curl -s --max-time 0.3 "http://$2/") && [ -n "$a" ]; then echo "$t ok $a"; else echo "$t fail"; fi; sleep 0.05; done'
LOOP_PID=""
start_loop() { # name
  STOPFILES+=("$WORK/$1.stop")
  ip netns exec "${P}client" bash -c "$LOOP" loop "$WORK/$1.stop" "$VIP" >"$WORK/$1.txt" 2>&1 &
  LOOP_PID=$!
  OTHER_PIDS+=("$LOOP_PID")
}
stop_loop() { # name
  : >"$WORK/$1.stop"
  wait "$LOOP_PID" 2>/dev/null || true
}
loop_ok_after() { awk -v t="$2" '$1 > t && $2 == "ok" { f = 1 } END { exit !f }' "$WORK/$1.txt"; }
# "requests answered failed longest_gap_ms first_ok_ms_after_event": the gap is the longest
# time between two answered requests (their start times) over the whole loop.
loop_stats() { # name event_ms
  awk -v ev="$2" '
    { n++ }
    $2 == "ok" { ok++; if (last != "" && $1 - last > gap) gap = $1 - last; last = $1; if ($1 >= ev && first == "") first = $1 - ev }
    $2 != "ok" { bad++ }
    END { printf "%d %d %d %d %s\n", n, ok + 0, bad + 0, gap + 0, (first == "" ? "none" : first) }' "$WORK/$1.txt"
}
loop_who() { awk '$2 == "ok" { print $3 }' "$WORK/$1.txt" | sort | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? ", " : ""), $2, $1 }'; }

# ---------------------------------------------------------------- 1. certificates

step "1. Fresh certificates: a cluster CA, one certificate per node, an admin client certificate"
say "in $CERTS (a temporary directory, removed at the end)"
cmdline "bash certs/shoal-certs.sh ca --dir \$CERTS"
bash certs/shoal-certs.sh ca --dir "$CERTS" | sed 's/^/   /'
for n in "${NODES[@]}"; do
  cmdline "bash certs/shoal-certs.sh node --dir \$CERTS --name $n --ip ${IP[$n]} --ip $MGMT_VIP"
  bash certs/shoal-certs.sh node --dir "$CERTS" --name "$n" --ip "${IP[$n]}" --ip "$MGMT_VIP" | sed 's/^/   /'
done
cmdline "bash certs/shoal-certs.sh client --dir \$CERTS --name admin --role admin"
bash certs/shoal-certs.sh client --dir "$CERTS" --name admin --role admin | sed 's/^/   /'
say "n1's subject and SANs (its own IP, and the management VIP so clients can check the name through it):"
openssl x509 -in "$CERTS/n1.crt" -noout -subject -ext subjectAltName -nameopt RFC2253 | grep -v 'X509v3' | sed 's/^ */     /'
cmdline "openssl rand -base64 32 > \$CERTS/gossip.keys     # the cluster's gossip key (AES-256-GCM)"
(umask 077 && openssl rand -base64 32 >"$CERTS/gossip.keys")

# ---------------------------------------------------------------- 2. the lab and the nodes

step "2. Namespaces on one bridge: three shoald nodes, three HTTP backends, a client"
add_ns sw
ip -n "${P}sw" link add br0 type bridge
ip -n "${P}sw" link set br0 up
in_ns sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
for n in "${NODES[@]}" "${BACKENDS[@]}" client; do attach "$n" "${IP[$n]}"; done
say "bridge br0 in ${P}sw; $NET.0/24 exists only in these namespaces:"
for n in "${NODES[@]}"; do say "  ${P}$n  ${IP[$n]}  shoald"; done
for b in "${BACKENDS[@]}"; do say "  ${P}$b  ${IP[$b]}  node -e http server on :8080 answering \"$b\""; done
say "  ${P}client  $CLIENT_IP  shoalctl and curl"
for b in "${BACKENDS[@]}"; do
  ip netns exec "$P$b" node -e "require('http').createServer((q,s)=>s.end(process.argv[1]+'\n')).listen(8080,'0.0.0.0')" "$b" >/dev/null 2>&1 &
  OTHER_PIDS+=($!)
done
for b in "${BACKENDS[@]}"; do
  wait_for "backend $b to listen" 10 in_ns client curl -sf --max-time 1 -o /dev/null "http://${IP[$b]}:8080/"
done

for n in "${NODES[@]}"; do
  cat >"$WORK/$n.yaml" <<YAML
node: { name: $n }
dataDir: $WORK/data-$n
api:
  host: ${IP[$n]}
  port: 8443
  tls: { cert: $CERTS/$n.crt, key: $CERTS/$n.key, ca: $CERTS/ca.crt }
cluster:
  enabled: true
  bind: { host: ${IP[$n]}, port: 7946 }
  seeds: [${IP[n1]}:7946]
  keyFile: $CERTS/gossip.keys
  profile: local
  swim: { probeIntervalMs: 200, probeTimeoutMs: 100 }
  antiEntropyIntervalMs: 1000
ownership: { mode: internal, reannounceIntervalMs: 2000, claimDelayMs: 3000 }
management: { vip: $MGMT_VIP, port: 8443 }
dataplane: { driver: nftables }
health: { enabled: true }
shutdown: { graceMs: 2000 }
YAML
done
say "n1's config (n2 and n3 differ only in name and addresses):"
sed "s|$WORK|\$WORK|g; s|^|     |" "$WORK/n1.yaml"
for n in "${NODES[@]}"; do
  cmdline "ip netns exec ${P}$n node packages/shoald/bin/shoald.js --config \$WORK/$n.yaml"
  start_shoald "$n"
  # n1 is the seed: the others join once it answers.
  [ "$n" != n1 ] || wait_for "n1 to be ready" 30 shoald_ready n1 1
done
for n in n2 n3; do wait_for "$n to be ready" 30 shoald_ready "$n" 1; done
say "three shoald ready (logs: \$WORK/n1.log ...)"

# ---------------------------------------------------------------- 3. members

step "3. shoalctl members, from the client, through the management VIP $MGMT_VIP"
say "shoalctl runs in ${P}client as: shoalctl --endpoint https://$MGMT_VIP:8443 --ca ca.crt --cert admin.crt --key admin.key ..."
say "waiting for the management VIP: elected, claimed after the 3 s claim delay, its API backends healthy"
wait_for "the three nodes alive through the management VIP" 45 all_alive
show_ctl members
MGMT_HOLDER=$(holders "$MGMT_VIP")
say "the management VIP $MGMT_VIP is on $MGMT_HOLDER; it balances the three APIs, \"(self)\" marks the node that answered"

# ---------------------------------------------------------------- 4. an instance

all_ready() { for n in "${NODES[@]}"; do grep -q '"ready to hold VIPs"' "$WORK/$n.log" 2>/dev/null || return 1; done; }
wait_for "every node ready to hold VIPs (its claim delay over; ready=1 in its metadata)" 20 all_ready

step "4. Create a web instance through the management VIP: VIP $VIP:80, the three backends, HTTP health checks"
show_ctl instance create web --vip "$VIP" --port 80 --backend "${IP[web1]}:8080" --backend "${IP[web2]}:8080" --backend "${IP[web3]}:8080" --health http --health-path / --health-interval 500
healthy_backends() { [ "$(ctl backend list web -o json 2>/dev/null | jq '[.. | objects | select(.health? == "up")] | length')" = 3 ]; }
wait_for "the three backends healthy" 20 healthy_backends
show_ctl instance get web
wait_for "the VIP $VIP on exactly one node" 20 one_holder "$VIP"
OWNER=$(holders "$VIP")
say "which node holds the VIP (ip -br addr show dev eth0 in each node's namespace):"
show_addrs
say "=> $VIP is on $OWNER (elected by every node alike; the others hold it nowhere)"
SUMMARY+=("cluster: n1 n2 n3 alive; management VIP $MGMT_VIP on $MGMT_HOLDER; web VIP $VIP on $OWNER")

# ---------------------------------------------------------------- 5. round robin

step "5. Round robin: 12 requests from the client through $VIP"
cmdline "for i in \$(seq 12); do curl -s http://$VIP/; done | sort | uniq -c"
RR=$(for i in $(seq 12); do in_ns client curl -s --max-time 2 "http://$VIP/" || echo "(no answer)"; done)
sort <<<"$RR" | uniq -c | sed 's/^ */   /'
[ "$(sort -u <<<"$RR" | grep -c '^web')" = 3 ] || fail "expected answers from all three backends, got: $(tr '\n' ' ' <<<"$RR")"
SUMMARY+=("round robin: $(sort <<<"$RR" | uniq -c | awk '{printf "%s%s=%s", (NR>1?", ":""), $2, $1}') over 12 requests")

# ---------------------------------------------------------------- 6. crash the owner

step "6. Crash the VIP's owner $OWNER (SIGKILL its shoald, set its link down) under a curl loop"
say "client loop: curl -s --max-time 0.3 http://$VIP/ every 50 ms"
start_loop loop1
sleep 1.5
CRASHED=$OWNER
SURVIVORS=()
for n in "${NODES[@]}"; do [ "$n" = "$CRASHED" ] || SURVIVORS+=("$n"); done
CRASH_AT=$(now_ms)
cmdline "kill -KILL ${SHOALD[$CRASHED]}      # shoald on $CRASHED"
kill -KILL "${SHOALD[$CRASHED]}"
cmdline "ip -n ${P}$CRASHED link set eth0 down"
ip -n "$P$CRASHED" link set eth0 down
wait "${SHOALD[$CRASHED]}" 2>/dev/null || true
unset "SHOALD[$CRASHED]"
wait_for "a survivor to claim $VIP" 20 one_holder "$VIP" "${SURVIVORS[@]}"
CLAIM_MS=$(($(now_ms) - CRASH_AT))
NEW_OWNER=$(holders "$VIP" "${SURVIVORS[@]}")
wait_for "the client's requests to be answered again" 20 loop_ok_after loop1 "$CRASH_AT"
sleep 2
stop_loop loop1
read -r L1_N L1_OK L1_BAD L1_GAP L1_FIRST <<<"$(loop_stats loop1 "$CRASH_AT")"
L1_WHO=$(loop_who loop1)
say "which node holds the VIP now ($CRASHED's kernel still has its copy, on a link that is down):"
show_addrs
say "=> $VIP moved $CRASHED -> $NEW_OWNER; seen on $NEW_OWNER ${CLAIM_MS} ms after the crash"
if [ "$MGMT_HOLDER" = "$CRASHED" ]; then
  wait_for "a survivor to claim the management VIP" 20 one_holder "$MGMT_VIP" "${SURVIVORS[@]}"
  say "=> the management VIP $MGMT_VIP moved too: it is on $(holders "$MGMT_VIP" "${SURVIVORS[@]}") now"
fi
say "curl loop: $L1_N requests, $L1_OK answered, $L1_BAD failed; answers: $L1_WHO"
say "measured gap: ${L1_GAP} ms without an answer (first answer $L1_FIRST ms after the crash)"
say "waiting for the survivors to declare $CRASHED dead (SWIM: suspect, then dead)"
wait_for "$CRASHED to be dead in the members list" 30 is_dead "$CRASHED"
show_ctl members
SUMMARY+=("crash of $CRASHED: VIP on $NEW_OWNER after ${CLAIM_MS} ms; $L1_OK/$L1_N requests answered; longest gap ${L1_GAP} ms")

# ---------------------------------------------------------------- 7. bring it back

step "7. Bring $CRASHED back: link up, restart its shoald"
READY_BEFORE=$(ready_count "$CRASHED")
start_loop loop2
cmdline "ip -n ${P}$CRASHED link set eth0 up"
ip -n "$P$CRASHED" link set eth0 up
cmdline "ip netns exec ${P}$CRASHED node packages/shoald/bin/shoald.js --config \$WORK/$CRASHED.yaml"
start_shoald "$CRASHED"
wait_for "$CRASHED to be ready again" 30 shoald_ready "$CRASHED" $((READY_BEFORE + 1))
RESTART_AT=$(now_ms)
say "ready; it drops the VIP copy its kernel kept and claims nothing during its 3 s claim delay;"
say "then, if it wins a VIP back, it claims first and the holder lets go when it hears (make-before-break)"
sleep 0.5
WATCH_END=$(($(now_ms) + 6000))
declare -A OVERLAP_SINCE=()
MAX_OVERLAP=0
while [ "$(now_ms)" -lt "$WATCH_END" ]; do
  for v in "$VIP" "$MGMT_VIP"; do
    c=$(wc -w <<<"$(holders "$v")")
    [ "$c" -ge 1 ] || fail "$v was on no node during the return"
    if [ "$c" -gt 1 ]; then
      t=$(now_ms)
      [ -n "${OVERLAP_SINCE[$v]:-}" ] || OVERLAP_SINCE[$v]=$t
      o=$((t - OVERLAP_SINCE[$v]))
      [ "$o" -le "$MAX_OVERLAP" ] || MAX_OVERLAP=$o
      [ "$o" -le 1000 ] || fail "$v was on $c nodes at once for over a second after the restart: $(holders "$v")"
    else
      OVERLAP_SINCE[$v]=""
    fi
  done
  sleep 0.05
done
wait_for "n1 n2 n3 alive again" 30 all_alive
wait_for "the VIP on exactly one node" 20 one_holder "$VIP"
wait_for "the management VIP on exactly one node" 20 one_holder "$MGMT_VIP"
sleep 1
one_holder "$VIP" || fail "the VIP $VIP did not stay on exactly one node: $(holders "$VIP")"
one_holder "$MGMT_VIP" || fail "the management VIP did not stay on exactly one node: $(holders "$MGMT_VIP")"
FINAL_OWNER=$(holders "$VIP")
stop_loop loop2
read -r L2_N L2_OK L2_BAD L2_GAP _ <<<"$(loop_stats loop2 "$RESTART_AT")"
L2_WHO=$(loop_who loop2)
show_ctl members
show_addrs
say "=> $VIP is on exactly one node: $FINAL_OWNER, the management VIP on $(holders "$MGMT_VIP") (watched for 6 s: never on no node; on two for ${MAX_OVERLAP} ms at most, the hand-back's gossip hop)"
[ "$FINAL_OWNER" != "$CRASHED" ] || say "   (back on $CRASHED: the election is deterministic, and $CRASHED wins it again once its claim delay is over)"
say "curl loop during the return: $L2_N requests, $L2_OK answered, $L2_BAD failed; longest gap ${L2_GAP} ms; answers: $L2_WHO"
cmdline "for i in \$(seq 6); do curl -s http://$VIP/; done"
for i in $(seq 6); do
  a=$(in_ns client curl -s --max-time 2 "http://$VIP/") || fail "no answer through $VIP after the return"
  say "$a"
done
SUMMARY+=("$CRASHED back: all alive; VIP on exactly one node ($FINAL_OWNER), management VIP on $(holders "$MGMT_VIP"); $L2_OK/$L2_N requests answered meanwhile; longest gap ${L2_GAP} ms")

# ---------------------------------------------------------------- 8. clean up (the EXIT trap)

DONE=1
exit 0
