#!/usr/bin/env bash
# The fault suite: the controllers of steps 04, 05, 07 and 08 under the faults of real clusters.
#
# usage: scripts/test-faults.sh [--only NAME[,NAME...]] [--keep-cluster]
#   --only          run only these scenarios (names: apiserver, etcd, sigkill, relist, partition,
#                   rival-writer, finalizer, bad-input)
#   --keep-cluster  leave the fault cluster running afterwards (for a closer look)
#
# Builds the controllers and the suite (solutions/faults), brings up a throwaway cluster of its
# own (name workshop-faults, its own kubeconfig and ports, the binary runtime with its fake node:
# some scenarios restart its API server and etcd), runs the scenarios, and deletes the cluster
# afterwards, also on failure. Each scenario prints its figures (objects churned, faults
# injected, time to converge, requests sent); the controllers' logs are kept in target/faults/.
# The last line says `N passed, M failed`; it fails when any scenario failed or none ran.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { die "usage: scripts/test-faults.sh [--only NAME[,NAME...]] [--keep-cluster]  (--help for more)"; }

only=() keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=(--only "${2:?--only needs a value}"); shift 2 ;;
    --keep-cluster) keep=true; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
done

cd "$ROOT"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
logs="$target_dir/faults"
cluster=workshop-faults

say "building the controllers and the fault suite"
cargo build --locked -p solution-04-mirror -p solution-05-controller -p solution-07-taskrun \
  -p solution-08-production -p workshop-faults

state=$(mktemp -d "${TMPDIR:-/tmp}/workshop-faults.XXXXXX")
export KUBECONFIG="$state/kubeconfig"
trap 'end_throwaway_cluster "$cluster" "$state" "$keep" fault' EXIT
say "throwaway cluster '$cluster' (the binary runtime: the suite restarts its API server and etcd)"
scripts/cluster-up.sh --name "$cluster" --runtime binary >&2

rm -rf "$logs" && mkdir -p "$logs"
say "running the scenarios (controllers' logs: $logs)"
set +e
"$target_dir/debug/faults" --bin-dir "$target_dir/debug" --cluster "$cluster" --log-dir "$logs" \
  "${only[@]}" | tee "$logs/summary.txt"
status=${PIPESTATUS[0]}
set -e
summary=$(tail -n 1 "$logs/summary.txt")
[[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] || die "the fault suite ended without its summary line (exit $status)"
(( BASH_REMATCH[1] > 0 )) || die "no fault scenario ran"
(( BASH_REMATCH[2] == 0 && status == 0 )) || die "fault suite: $summary"
say "fault suite: $summary"
