#!/usr/bin/env bash
# The tests the instructor relies on: the core path, and each exercise's `Needs:`.
#
# usage: scripts/test-paths.sh [--current] [--jobs N] [--keep-cluster] [NN|N.M ...]
#   --current       use the cluster of your kubeconfig instead of a throwaway one
#   --jobs N        runs of a step's tests at once (default 2)
#   --keep-cluster  leave the throwaway cluster running afterwards (for a closer look)
#   NN|N.M          only these steps (their core path and every exercise's Needs), or only
#                   these exercises' Needs
#
# - The core path (book: Instructor guide > The core path): with only a step's core exercises
#   solved and its stretch exercises as in the starter, every core exercise's check passes.
# - Each exercise's `Needs:` (the line in its comment in solutions/) is exactly what its check
#   needs: the check passes with the exercise and its needs solved and the rest of the step as
#   in the starter; it fails when any one of the needs is left as in the starter, and when the
#   exercise itself is.
# A check is what `scripts/check.sh N.M` runs, end-to-end tests included. The book's counts
# and tables that come from the exercises are checked by scripts/gen-steps.sh --check and the
# book's test (scripts/test.sh runs both).
#
# Each step is built once, with every exercise region switchable at run time (the workshop's tool:
# `cargo xtask verify`, in a copy of the workspace under target/xtask/shadow that shares
# target/), so each combination of exercises is one run of the step's tests. Without --current
# it brings up a throwaway cluster of its own (name workshop-paths, its own kubeconfig and
# ports, the binary runtime with its fake node) and deletes it afterwards, also on failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { die "usage: scripts/test-paths.sh [--current] [--jobs N] [--keep-cluster] [NN|N.M ...]  (--help for more)"; }

current=false keep=false args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --current) current=true; shift ;;
    --jobs) args+=(--jobs "${2:?--jobs needs a value}"); shift 2 ;;
    --keep-cluster) keep=true; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) args+=("$1"); shift ;;
    *) usage ;;
  esac
done

cd "$ROOT"
start=$(now)
say "building the workshop's tool"
cargo build -q --locked -p workshop-xtask
if ! $current; then
  cluster=workshop-paths
  state=$(mktemp -d "${TMPDIR:-/tmp}/workshop-paths.XXXXXX")
  export KUBECONFIG="$state/kubeconfig"
  trap 'end_throwaway_cluster "$cluster" "$state" "$keep" paths' EXIT
  say "throwaway cluster '$cluster' (fake node)"
  scripts/cluster-up.sh --name "$cluster" --runtime binary >&2
fi
xtask verify "${args[@]}"
say "the core path and every exercise's Needs hold ($(( $(now) - start ))s)"
