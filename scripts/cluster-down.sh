#!/usr/bin/env bash
# Deletes a cluster made by scripts/cluster-up.sh (kind or the local binary runtime).
#
# usage: scripts/cluster-down.sh [--name NAME]    (default: workshop)
# Deleting a cluster that does not exist is not an error, so this is safe to run twice.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/cluster.sh"

name=workshop
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=${2:?--name needs a value}; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (usage: scripts/cluster-down.sh [--name NAME])" ;;
  esac
done

found=false
source "$ROOT/scripts/lib/node.sh"
if [ "$(node_owner || true)" = "$name" ]; then
  say "removing the real node of '$name' (processes, mounts, bridge, iptables chains)"
  node_down
  found=true
fi
if [ -d "$KWOK_CLUSTERS/$name" ]; then
  kwokctl=$(kwokctl_bin) || die "cluster '$name' was made by kwokctl, which is gone; remove $KWOK_CLUSTERS/$name by hand"
  say "deleting local cluster '$name'"
  kwokctl_quiet "$name" delete cluster --name "$name"
  found=true
fi
source "$ROOT/scripts/lib/kind.sh"
if kind=$(kind_bin) && "$kind" get clusters 2>/dev/null | grep -qx "$name"; then
  say "deleting kind cluster '$name'"
  "$kind" delete cluster --name "$name"
  found=true
fi
$found || say "no cluster named '$name'; nothing to delete"
