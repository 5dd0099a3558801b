#!/usr/bin/env bash
# Sets up a Debian 12 machine (Node >= 20, root or sudo) to build, test and run Shoal:
# the Debian tools the tests and the demo drive, pnpm, the workspace's dependencies, and a
# build. Idempotent: a second run installs nothing and only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "[setup] Shoal needs Node.js >= 20 (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# command -> Debian package. Tests that need a tool check for it and skip saying why; CI (root)
# gets all of them from here.
declare -A wanted=(
  [openssl]=openssl   # certs/shoal-certs.sh: the cluster CA and certificates
  [curl]=curl         # slb's documented curl lines, run as written by the tests and the demo
  [jq]=jq             # the demo pretty-prints slb's JSON as its README does
  [ip]=iproute2       # network namespaces, veth and bridges for the labs; VIP addresses
  [sysctl]=procps     # forwarding switches inside lab namespaces
  [nft]=nftables      # the nftables data plane (kernels without IPVS) and its lab
  [conntrack]=conntrack   # inspecting and clearing NAT flows of removed backends
  [qemu-system-x86_64]=qemu-system-x86   # boots Debian's kernel with IPVS for the IPVS tests
  [ipvsadm]=ipvsadm   # cross-checks what the IPVS driver programmed, inside that guest
  [busybox]=busybox-static   # the guest's init and the backends' httpd
  [cpio]=cpio         # packs the guest's initramfs
  [modprobe]=kmod     # loads ip_vs and friends in the guest
  [xz]=xz-utils       # unpacks the kernel package's modules
  [wrk]=wrk           # pnpm bench: requests per second through a VIP vs direct
  [keepalived]=keepalived   # VIP ownership by VRRP (keepalived mode): config checks and failover lab
  [arping]=arping     # the layer-2 lab checks gratuitous ARP from the client's side
  [tcpdump]=tcpdump   # the layer-2 lab captures announcements
  [bird]=bird2        # BGP labs: BIRD 2 as the router (the MetalLB tutorial's topology)
  [vtysh]=frr         # BGP labs: FRR as the router (its daemons run only inside lab namespaces)
  [gobgpd]=gobgpd     # BGP labs: GoBGP as a peer
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# corepack's signature check fails on these machines; npm installs pnpm fine.
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version | cut -d. -f1)" != "10" ]; then
  log "installing pnpm 10"
  $SUDO npm install -g --silent pnpm@10 >/dev/null
fi

log "installing workspace dependencies"
pnpm install --frozen-lockfile --reporter=silent
log "building"
pnpm -s build
log "ready"
