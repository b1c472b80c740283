#!/usr/bin/env bash
# Shows the workshop's payoff: brings up the local cluster if there is none, then runs the
# payoff moment of the furthest finished step (or of the step you name).
#
# usage: scripts/demo.sh [--step NN]
#
# Works from a fresh machine: the first run builds what it needs (the control plane, cached by
# version; the Rust workspace) and shows progress; later runs take seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

step=
case "${1:-}" in
  --step) step=$(printf '%02d' "$((10#${2:?--step needs a number}))") ;;
  "") ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: scripts/demo.sh [--step NN]" ;;
esac

cd "$ROOT"
have cargo || die "cargo is not installed: install Rust from https://rustup.rs, then run this again"
"$ROOT/scripts/cluster-up.sh"
say "building the workspace (the first build takes a few minutes)"
cargo build --quiet --workspace --bins

demo_01() {
  say "step 01, connect: a kube::Client from your kubeconfig, one list call"
  cargo run --quiet -p solution-01-connect
}

if [ -z "$step" ]; then
  # The furthest step that has a demo above.
  step=$(declare -F | sed -n 's/^declare -f demo_\([0-9][0-9]\)$/\1/p' | sort | tail -n 1)
fi
type "demo_$step" >/dev/null 2>&1 || die "step $step has no demo"
"demo_$step"
