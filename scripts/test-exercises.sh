#!/usr/bin/env bash
# Every exercise graded: what makes the workshop's checks worth running. CI runs it after
# scripts/test.sh (.ci/run).
#
# usage: scripts/test-exercises.sh [--keep-cluster] [NN ...]
#   --keep-cluster  leave the throwaway cluster running afterwards (for debugging)
#   NN              only these steps (default: all)
#
# On a throwaway cluster of its own (name workshop-exercises, its own kubeconfig and ports; on
# Linux as root with the machine's real node, as scripts/test.sh), for every step:
#  - for every exercise, scripts/check.sh N.M --solution must pass and scripts/check.sh N.M on
#    the untouched starter must fail (exit status 1): every exercise's check tests something the
#    learner has to write, so none passes by accident;
#  - scripts/check.sh NN must fail on the untouched starter, and with only its diagnose exercise
#    left, and print what the book's transcripts of them show
#    (book/src/transcripts/NN-name-check-starter.txt and -check-diagnose.txt, compared as
#    scripts/lib/transcripts.sh says: a stale transcript fails the run, with its diff).
# The last line counts the exercises proved; it fails when one was not, and when no test ran.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/suite.sh"

usage() { die "usage: scripts/test-exercises.sh [--keep-cluster] [NN ...]  (--help for more)"; }
keep=false only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-cluster) keep=true; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9][0-9]) only+=("$1"); shift ;;
    *) usage ;;
  esac
done

cd "$ROOT"
steps=()
for dir in solutions/[0-9][0-9]-*/; do
  step=$(basename "$dir")
  if [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" ${step%%-*} "* ]]; then steps+=("$step"); fi
done
[ ${#steps[@]} -gt 0 ] || die "no step ${only[*]} in solutions/ (the steps: $(cd solutions && ls -d [0-9][0-9]-* | cut -c1-2 | tr '\n' ' '))"

suite_begin workshop-exercises "$keep"
phase "the workshop's tool, and the list of exercises"
xtask exercises >"$state/exercises"
suite_choose_node
suite_cluster_up

proved=0 total=0
for step in "${steps[@]}"; do
  nn=${step%%-*}
  # Exercise by exercise: the tests its `Proved by:` line names pass on the solution and fail on
  # the untouched starter. The first check of each builds the step's test binaries; the others
  # only filter.
  while IFS=$'\t' read -r number _ _ _ _ _; do
    total=$((total + 1))
    phase "exercise $number: scripts/check.sh $number passes on the solution, fails on the starter"
    set +e; scripts/check.sh "$number" --solution >"$state/check-$number.log" 2>&1; status=$?; set -e
    tail -n 2 "$state/check-$number.log"
    count_e2e "$state/check-$number.log"
    [ "$status" -eq 0 ] || { cat "$state/check-$number.log" >&2; die "scripts/check.sh $number fails on the solution (exit $status)"; }
    set +e; scripts/check.sh "$number" >"$state/starter-$number.log" 2>&1; status=$?; set -e
    tail -n 1 "$state/starter-$number.log"
    [ "$status" -eq 1 ] || { cat "$state/starter-$number.log" >&2; die "scripts/check.sh $number should fail (exit 1) on the starter, got exit $status"; }
    proved=$((proved + 1))
  done < <(awk -F'\t' -v s="$step" '$3 == s' "$state/exercises")
  # The whole step on the untouched starter, and with only its diagnose exercise left: both
  # fail, and print what the book's transcripts of them show. The starter's test binaries are
  # built already (by the exercises' checks above); the diagnose-left code builds once more.
  phase "step $nn: scripts/check.sh $nn must fail on the untouched starter, and with only its diagnose exercise left"
  set +e; scripts/check.sh "$nn" >"$state/starter-$nn.log" 2>&1; status=$?; set -e
  tail -n 1 "$state/starter-$nn.log"
  [ "$status" -eq 1 ] || { cat "$state/starter-$nn.log" >&2; die "scripts/check.sh $nn should fail (exit 1) on the starter, got exit $status"; }
  transcript_drift "$step" starter "$state/starter-$nn.log"
  set +e; with_diagnose_left "$nn" scripts/check.sh "$nn" >"$state/diagnose-$nn.log" 2>&1; status=$?; set -e
  tail -n 1 "$state/diagnose-$nn.log"
  [ "$status" -eq 1 ] || { cat "$state/diagnose-$nn.log" >&2; die "scripts/check.sh $nn should fail (exit 1) with only the diagnose exercise left, got exit $status"; }
  transcript_drift "$step" diagnose "$state/diagnose-$nn.log"
done

suite_verdict
[ "$total" -gt 0 ] || die "no exercise found in steps ${steps[*]}"
[ "$proved" -eq "$total" ] || die "only $proved of $total exercises were proved"
phase "all green in $(( $(now) - suite_start ))s: $proved exercises, each passing on its solution and failing on its starter ($e2e_passed tests passed on the solutions); $compared check transcripts of the book match this run"
