#!/usr/bin/env bash
# The single-node acts (`pnpm demo:single`, or after the cluster act with DEMO_SINGLE=1 pnpm demo):
# one shoald with fresh dev certificates, driven by shoalctl and by slb's curl lines, then (as
# root) shoald programming the kernel with real traffic inside network namespaces
# (deploy/demo-dataplane.sh). Everything lives in .shoal-demo/ (removed at the end unless
# DEMO_KEEP=1). Nothing leaves this machine: the API is on loopback, the first act programs
# no kernel, the second act's addresses exist only inside its own namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO="$ROOT/.shoal-demo"
PORT=${DEMO_PORT:-18443}
SLB_PORT=${DEMO_SLB_PORT:-18001}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

rm -rf "$DEMO"
mkdir -p "$DEMO"
SHOALD_PID=""
cleanup() {
  if [ -n "$SHOALD_PID" ] && kill -0 "$SHOALD_PID" 2>/dev/null; then
    kill -TERM "$SHOALD_PID"
    wait "$SHOALD_PID" || true
  fi
  if [ "${DEMO_KEEP:-0}" != "1" ]; then rm -rf "$DEMO"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

step "A cluster CA, a node certificate and admin/operator/viewer client certificates, in one command"
run bash certs/shoal-certs.sh bootstrap --dir "$DEMO/certs"

cat > "$DEMO/shoald.yaml" <<YAML
node: { name: node1 }
dataDir: $DEMO/data
api:
  host: 127.0.0.1
  port: $PORT
  tls: { cert: certs/node1.crt, key: certs/node1.key, ca: certs/ca.crt }
slbCompat: { enabled: true, host: 127.0.0.1, port: $SLB_PORT }
# The demo's backends are fictional addresses: program no kernel and probe nothing, so the
# demo sends no traffic off this machine.
dataplane: { driver: none }
ownership: { mode: none }
health: { enabled: false }
pools:
  - name: default
    ranges: [192.168.0.85-192.168.0.90]
YAML

step "Start shoald (log: $DEMO/shoald.log)"
node packages/shoald/bin/shoald.js --config "$DEMO/shoald.yaml" >"$DEMO/shoald.log" 2>&1 &
SHOALD_PID=$!
for _ in $(seq 1 100); do
  if curl -s --cacert "$DEMO/certs/ca.crt" --cert "$DEMO/certs/admin.crt" --key "$DEMO/certs/admin.key" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$SHOALD_PID" 2>/dev/null || { cat "$DEMO/shoald.log"; exit 1; }
  sleep 0.1
done

export SHOAL_ENDPOINTS="https://127.0.0.1:$PORT"
export SHOAL_CA="$DEMO/certs/ca.crt" SHOAL_CERT="$DEMO/certs/admin.crt" SHOAL_KEY="$DEMO/certs/admin.key"
shoalctl() { node "$ROOT/packages/cli/bin/shoalctl.js" "$@"; }

step "Node status"
run shoalctl status

step "Create an instance: a VIP from the default pool, round robin over two backends"
run shoalctl instance create web --port 80 --backend 10.10.0.11:8080 --backend 10.10.0.12:8080 --label env=demo
run shoalctl instance list

step "Add a backend with weight 2, then look at the backends"
run shoalctl backend add web 10.10.0.13:8080 --weight 2
run shoalctl backend list web

step "Stop and start it; read it as YAML"
run shoalctl instance stop web
run shoalctl instance start web
run shoalctl instance get web -o yaml

step "A viewer can read but not write"
SHOAL_CERT="$DEMO/certs/viewer.crt" SHOAL_KEY="$DEMO/certs/viewer.key" shoalctl instance list
printf '$ SHOAL_CERT=viewer.crt shoalctl instance delete web\n'
if SHOAL_CERT="$DEMO/certs/viewer.crt" SHOAL_KEY="$DEMO/certs/viewer.key" shoalctl instance delete web; then
  echo "unexpected: a viewer deleted an instance" >&2; exit 1
else
  echo "(refused, exit $?)"
fi

step "slb's API, with slb's own curl lines (plain HTTP on loopback)"
H="127.0.0.1:$SLB_PORT"
printf '$ curl -X POST http://%s/loadbalancer -H '"'"'Content-Type: application/json'"'"' -d '"'"'{"name":"test loadbalancer", "port": 6443}'"'"'\n' "$H"
# (Not `tee /dev/stderr`: with stdout and stderr sent to one file, tee would truncate it.)
LB=$(curl -s -X POST "http://$H/loadbalancer" -H 'Content-Type: application/json' -d '{"name":"test loadbalancer", "port": 6443}')
printf '%s\n' "$LB"
UUID=$(jq -r .uuid <<<"$LB")
printf '$ curl -X POST http://%s/loadbalancer/%s/backend -d '"'"'{"ip":"10.80.96.25", "port": 6443}'"'"'\n' "$H" "$UUID"
curl -s -X POST "http://$H/loadbalancer/$UUID/backend" -d '{"ip":"10.80.96.25", "port": 6443}'
echo
printf '$ curl -s http://%s/loadbalancers | jq\n' "$H"
curl -s "http://$H/loadbalancers" | jq

step "Delete both; their VIPs go back to the pool"
run curl -s -X DELETE "http://$H/loadbalancer/$UUID"
echo
run shoalctl instance delete web
run shoalctl instance list

step "Stop shoald gracefully (SIGTERM)"
kill -TERM "$SHOALD_PID"
wait "$SHOALD_PID"
SHOALD_PID=""
echo "shoald exited cleanly; last log lines:"
tail -n 3 "$DEMO/shoald.log"

# Second act: the data plane with real traffic, inside namespaces of its own.
if [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null && command -v ip >/dev/null; then
  bash deploy/demo-dataplane.sh
else
  step "Data plane with real traffic: skipped (needs root, ip and nft: run deploy/setup.sh as root)"
fi
