#!/usr/bin/env bash
# What you have done and what is next, across all steps: for every exercise, its path (core or
# stretch, see the instructor guide's core path), whether its tests pass on your code in steps/,
# fail, or whether you have not started it (its todo!() is still there), then the next exercise.
#
# usage: scripts/progress.sh [--quick]
#   --quick  unit tests only, no end-to-end tests (faster; says which results that leaves open)
#
# It runs the tests of every step you have started: one with an exercise whose todo!() is gone,
# or one you changed (git tells); steps you have not touched are not built.
# Without a cluster, or with --quick, the end-to-end tests do not run, and an exercise proved by
# them is shown as "not checked", never as done.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

quick=false
case "${1:-}" in
  --quick) quick=true ;;
  "") ;;
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: scripts/progress.sh [--quick]" ;;
esac

cluster=false
if ! $quick; then
  if kubectl get --raw /readyz >/dev/null 2>&1; then cluster=true
  else warn "no cluster answers for context '$(kubectl config current-context 2>/dev/null || echo none)': end-to-end tests cannot run (scripts/cluster-up.sh starts one)"; fi
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# One line per exercise, tab-separated: number, kind, step, file, tests, needs, path, minutes,
# title (the workshop's tool reads them from the solutions' comments).
xtask exercises >"$work/exercises"

# not_started NUMBER STEP: an exercise whose starter todo!() is still in steps/ (its message,
# which rustfmt may have put on a line of its own).
not_started() {
  grep -rqF "\"Exercise $1: " "$ROOT/steps/$2/src" 2>/dev/null
}

# touched STEP: whether you changed anything in steps/STEP, against the commit your clone came
# from (its upstream branch) or else the last commit. Outside a git checkout, every step is.
touched() {
  local base
  git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || return 0
  base=$(git -C "$ROOT" rev-parse --verify -q '@{upstream}' 2>/dev/null || echo HEAD)
  ! git -C "$ROOT" diff --quiet "$base" -- "steps/$1" \
    || [ -n "$(git -C "$ROOT" ls-files --others --exclude-standard -- "steps/$1")" ]
}

next="" next_path="" done_count=0 total=0 open=0
current_step=""
while IFS=$'\t' read -r number kind step file tests needs track minutes title; do
  total=$((total + 1))
  if [ "$step" != "$current_step" ]; then
    current_step=$step
    echo
    echo "step ${step%%-*} (steps/$step)"
    log="$work/$step.log"
    # Run the step's tests once, only if some exercise of it is started.
    started=false
    while IFS=$'\t' read -r n k s _; do
      [ "$s" = "$step" ] && [ "$k" = exercise ] && ! not_started "$n" "$s" && started=true
    done <"$work/exercises"
    # A diagnose exercise has no todo!() to tell: its step counts as started once you changed
    # something in it.
    if grep -qP "^[^\t]+\tdiagnose\t$step\t" "$work/exercises" && touched "$step"; then
      started=true
    fi
    compiled=true
    if $started; then
      say "running the tests of step-$step"
      args=(); $cluster && args+=(--include-ignored)
      (cd "$ROOT" && cargo test -p "step-$step" --no-fail-fast --color never -- "${args[@]}") >"$log" 2>&1 || true
      grep -qE '^test .* \.\.\. (ok|FAILED|ignored)' "$log" || compiled=false
    else
      : >"$log"
    fi
  fi
  if [ "$kind" = exercise ] && not_started "$number" "$step"; then
    state="not started"
  elif [ "$kind" = diagnose ] && ! $started; then
    state="not started (nothing changed in steps/$step yet)"
  elif ! $compiled; then
    state="does not compile (cargo test -p step-$step shows why)"
  else
    ok=0 bad=0 skip=0
    IFS=, read -r -a filters <<<"$tests"
    while read -r line; do
      name=$(sed -E 's/^test (.*) \.\.\. .*$/\1/' <<<"$line")
      for f in "${filters[@]}"; do
        if [[ $name == *"$f"* ]]; then
          case "$line" in
            *"... ok") ok=$((ok + 1)) ;;
            *"... FAILED") bad=$((bad + 1)) ;;
            *"... ignored"*) skip=$((skip + 1)) ;;
          esac
          break
        fi
      done
    done < <(grep -E '^test .* \.\.\. (ok|FAILED|ignored)' "$log" || true)
    if [ "$bad" -gt 0 ]; then state="FAIL ($bad of $((ok + bad + skip)) tests fail: scripts/check.sh $number)"
    elif [ "$skip" -gt 0 ]; then state="not checked ($ok pass, $skip need a cluster)"
    elif [ "$ok" -gt 0 ]; then state="done"
    else state="no test ran (scripts/check.sh $number)"
    fi
  fi
  [ "$state" = done ] && done_count=$((done_count + 1))
  [ "$state" = done ] || { open=$((open + 1)); [ -n "$next" ] || { next="$number"; next_path="$track, $minutes min"; }; }
  printf '  %-5s %-8s %-7s %s\n' "$number" "$kind" "$track" "$state"
  [ "$state" = done ] || [ "$next" != "$number" ] || printf '        %s\n' "$title"
done <"$work/exercises"

echo
echo "$done_count of $total exercises done."
if [ -n "$next" ]; then
  echo "next: exercise $next, $next_path (scripts/check.sh $next; stuck? scripts/hint.sh $next)"
  $cluster || echo "(end-to-end tests did not run: exercises they prove are not counted as done)"
else
  echo "every exercise is done."
fi
