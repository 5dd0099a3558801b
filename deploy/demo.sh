#!/usr/bin/env bash
# `pnpm demo`: the README's main command.
#
#   bash deploy/demo.sh           the cluster act (deploy/demo-cluster.sh): three shoald nodes in
#                                 network namespaces, shoalctl through the management VIP, round
#                                 robin through a VIP, the VIP's owner crashed and brought back
#   DEMO_SINGLE=1 bash deploy/demo.sh
#                                 the cluster act, then the single-node acts
#   bash deploy/demo.sh single    only the single-node acts (deploy/demo-single.sh: one shoald
#                                 driven by shoalctl and slb's curl lines, then its data plane with
#                                 real traffic in namespaces); `pnpm demo:single`
#
# Needs root for namespaces (the single-node API act alone does not) and what deploy/setup.sh
# installs. Each act cleans up after itself on success, failure, Ctrl-C and SIGTERM, and exits
# non-zero with a message when a step does not do what it says.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-cluster}" in
  cluster)
    bash deploy/demo-cluster.sh
    if [ "${DEMO_SINGLE:-0}" = "1" ]; then
      printf '\n#### The single-node acts (DEMO_SINGLE=1)\n'
      bash deploy/demo-single.sh
    fi
    ;;
  single) bash deploy/demo-single.sh ;;
  *)
    echo "usage: bash deploy/demo.sh [cluster|single]   (DEMO_SINGLE=1 adds the single-node acts after the cluster act)" >&2
    exit 2
    ;;
esac
