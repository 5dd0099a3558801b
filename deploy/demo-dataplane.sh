#!/usr/bin/env bash
# The demo's second act: shoald programming the kernel, with real traffic, inside network
# namespaces this script makes (a client, the load balancer, two backends) and removes at the
# end. Needs root, iproute2 and nft; the addresses exist only inside these namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO="$ROOT/.shoal-demo/dataplane"
P="shdemo-$$-dp-"   # every namespace this act creates starts with this
CERTS="$ROOT/.shoal-demo/certs"
VIP=10.210.1.10

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in cl lb b1 b2; do ip netns del "$P$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
trap "exit 130" INT TERM
mkdir -p "$DEMO"

step "Namespaces: client -> load balancer (VIP $VIP) -> two backends"
for ns in cl lb b1 b2; do ip netns add "$P$ns"; ip -n "$P$ns" link set lo up; done
ip -n "${P}cl" link add eth0 type veth peer name eth0 netns "${P}lb"
ip -n "${P}cl" link set eth0 up; ip -n "${P}lb" link set eth0 up
ip -n "${P}cl" addr add 10.210.1.2/24 dev eth0
ip -n "${P}lb" addr add 10.210.1.1/24 dev eth0
ip -n "${P}lb" addr add "$VIP/32" dev eth0
ip -n "${P}lb" link add br0 type bridge; ip -n "${P}lb" link set br0 up
ip -n "${P}lb" addr add 10.210.2.1/24 dev br0
nsx lb sysctl -qw net.ipv4.ip_forward=1
nsx lb sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
i=0
for b in b1 b2; do
  i=$((i + 1))
  ip -n "$P$b" link add eth0 type veth peer name "${b}p" netns "${P}lb"
  ip -n "${P}lb" link set "${b}p" master br0; ip -n "${P}lb" link set "${b}p" up
  ip -n "$P$b" link set eth0 up
  ip -n "$P$b" addr add "10.210.2.1$i/24" dev eth0
  ip -n "$P$b" route add default via 10.210.2.1
  # `ip netns exec` directly (not a shell function) so $! is the server itself: ip execs node.
  ip netns exec "$P$b" node -e "require('http').createServer((q,s)=>s.end('hello from $b\n')).listen(8080)" &
  PIDS+=($!)
done

cat > "$DEMO/shoald.yaml" <<YAML
node: { name: lb1 }
dataDir: $DEMO/data
api: { host: 127.0.0.1, port: 18443, tls: { cert: $CERTS/node1.crt, key: $CERTS/node1.key, ca: $CERTS/ca.crt } }
dataplane: { driver: auto }
ownership: { mode: none }
health: { enabled: true }
YAML
step "shoald in the load balancer's namespace, data plane chosen automatically"
ip netns exec "${P}lb" node packages/shoald/bin/shoald.js --config "$DEMO/shoald.yaml" >"$DEMO/shoald.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '"shoald ready"' "$DEMO/shoald.log" && break; sleep 0.1; done
grep -o '"dataplane":"[a-z]*","reason":"[^"]*"' "$DEMO/shoald.log" | head -1
ctl() { nsx lb node packages/cli/bin/shoalctl.js --endpoint https://127.0.0.1:18443 --ca "$CERTS/ca.crt" --cert "$CERTS/admin.crt" --key "$CERTS/admin.key" "$@"; }

step "An instance on the VIP with an HTTP health check"
printf '$ shoalctl instance create web --vip %s --port 80 --backend 10.210.2.11:8080 --backend 10.210.2.12:8080 --health http --health-path / --health-interval 500\n' "$VIP"
ctl instance create web --vip "$VIP" --port 80 --backend 10.210.2.11:8080 --backend 10.210.2.12:8080 --health http --health-path / --health-interval 500
for _ in $(seq 1 50); do [ "$(ctl backend list web -o json | grep -c '"health": "up"')" = 2 ] && break; sleep 0.2; done
ctl backend list web

step "The client calls the VIP: round robin"
for _ in 1 2 3 4; do nsx cl curl -s --max-time 2 "http://$VIP/"; done

step "b2's server dies: its health check fails and it gets weight 0"
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
for _ in $(seq 1 50); do ctl backend list web -o json | grep -q '"health": "down"' && break; sleep 0.2; done
ctl backend list web
for _ in 1 2 3 4; do nsx cl curl -s --max-time 2 "http://$VIP/"; done

step "What shoald put in the kernel, and what is left after the instance is deleted"
if nsx lb nft list tables 2>/dev/null | grep -q 'inet shoal'; then nsx lb nft list set inet shoal v4_tcp_services; fi
ctl instance delete web
sleep 1
printf 'rules mentioning the VIP after delete: %s\n' "$(nsx lb nft list ruleset 2>/dev/null | grep -c "$VIP" || true)"
