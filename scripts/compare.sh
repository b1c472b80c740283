#!/usr/bin/env bash
# For instructors: shows how a learner's step differs from the reference solution.
#
# usage: scripts/compare.sh NN [LEARNER_STEP_DIR]
#   NN                the step number, e.g. 04
#   LEARNER_STEP_DIR  the learner's copy of the step (default: steps/NN-name in this checkout),
#                     for example their repository's steps/04-mirror
#
# Prints which exercises are still todo!(), then a unified diff of the Rust sources
# (solution on the left, learner on the right). Exit status 0 even when they differ.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: scripts/compare.sh NN [LEARNER_STEP_DIR]"
case "$1" in -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
nn=$(printf '%02d' "$((10#${1//[!0-9]/}))")
solution=$(ls -d "$ROOT"/solutions/"$nn"-*/ 2>/dev/null | head -n 1) || true
[ -n "$solution" ] || die "there is no step $nn"
solution=${solution%/}
learner=${2:-$ROOT/steps/$(basename "$solution")}
[ -d "$learner" ] || die "no such directory: $learner"

# Paths inside this checkout are shown relative to it, as a reader would type them.
cd "$ROOT"
solution=${solution#"$ROOT"/}
learner=$(cd "$learner" && pwd); learner=${learner#"$ROOT"/}
echo "solution: $solution"
echo "learner:  $learner"
echo
# A todo!'s message starts with "Exercise N.M:" (scripts/gen-steps.sh writes them so).
left=$(grep -rhoE --include='*.rs' '"Exercise [0-9.]+:' "$learner" 2>/dev/null | tr -d '":' | sort -u || true)
if [ -n "$left" ]; then
  echo "still todo!(): $(echo "$left" | paste -sd ',' | sed 's/,/, /g')"
else
  echo "no todo!() left"
fi
echo
# The package name differs by design (solution-NN-x / step-NN-x); everything else is the work.
diff -ru -x target -x Cargo.lock -I '^name = "\(step\|solution\)-' -I '^# Generated from solutions/' \
  "$solution" "$learner" || true
