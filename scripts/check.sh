#!/usr/bin/env bash
# Checks your work: runs a step's tests, or one exercise's, against your code in steps/NN-name and
# the cluster your kubeconfig points at, then says what passes and what is still missing.
#
# usage: scripts/check.sh NN|N.M [--solution]
#   NN          a whole step, e.g. 04 or 4: every test of the step
#   N.M         one exercise, e.g. 4.3 or 04.3: the tests its `Proved by:` line names
#   --solution  check the reference solution instead (what CI does to prove the check can pass)
#
# Unit tests need no cluster. Without one, they still run, and the check says which end-to-end
# tests it could not run (start a cluster with scripts/cluster-up.sh, then check again).
# Exit status: 0 when every check ran and passed, 1 when some fail, 2 when the checks could not
# run (or not all of them: no cluster).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage="usage: scripts/check.sh NN|N.M [--solution]"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
case "$1" in -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -le 2 ] || { echo "$usage" >&2; exit 2; }
kind=step
case "${2:-}" in
  --solution) kind=solution ;;
  "") ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
[[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "$usage" >&2; exit 2; }

# The exercises' comments are read by the workshop's tool: one line per exercise, tab-separated
# (number, kind, step, file, tests, ...). It says so when there is no such exercise or step.
rows=$(xtask exercises "$1") || exit 2
filters=()
if [[ $1 == *.* ]]; then
  IFS=$'\t' read -r exercise _ name _ tests _ <<<"$rows"
  IFS=, read -r -a filters <<<"$tests"
  what="exercise $exercise"
else
  IFS=$'\t' read -r _ _ name _ <<<"$rows"
  what="step ${name%%-*}"
fi
package="$kind-$name"

# End-to-end tests are #[ignore]d for a plain `cargo test`; with a cluster, they run too.
cluster=true
if ! kubectl get --raw /readyz >/dev/null 2>&1; then
  cluster=false
  say "checking $what ($package) without a cluster: no cluster answers for context '$(kubectl config current-context 2>/dev/null || echo none)'"
else
  say "checking $what ($package) against context $(kubectl config current-context)"
fi
[ ${#filters[@]} -eq 0 ] || say "tests: ${filters[*]}"
log=$(mktemp); trap 'rm -f "$log"' EXIT
args=()
$cluster && args+=(--include-ignored)
set +e
(cd "$ROOT" && cargo test -p "$package" --no-fail-fast --color never -- "${args[@]}" "${filters[@]}") >"$log" 2>&1
status=$?
set -e

passed=$(grep -cE '^test .* \.\.\. ok$' "$log" || true)
failed=$(grep -cE '^test .* \.\.\. FAILED$' "$log" || true)
skipped=$(grep -cE '^test .* \.\.\. ignored' "$log" || true)
if [ "$status" -ne 0 ] && [ "$((passed + failed))" -eq 0 ]; then
  grep -E '^(error|warning)' -A 12 "$log" | awk 'NR <= 60' >&2 || tail -n 40 "$log" >&2
  echo "error: $package does not compile; fix the errors above first." >&2
  exit 2
fi
# Warnings about the code you wrote (a forgotten `.await` is one): shown, not fatal.
if grep -qE "^warning: .*" "$log" && grep -qE "^ *--> (steps|solutions)/$name/" "$log"; then
  echo
  echo "the compiler warns about $name:"
  awk -v dir="$name/" '
    /^warning: / { block = $0; keep = 0; next }
    block != "" && /^ *--> / { keep = index($0, dir) > 0 }
    block != "" && /^$/ { if (keep) print block "\n"; block = ""; keep = 0; next }
    block != "" { block = block "\n" $0 }
  ' "$log" | awk 'NR <= 40'
fi

# The tests in a fixed order, whichever finished first: test binary by test binary, as cargo
# runs them (the library's unit tests, then each file of tests/, then the doc tests), and by name
# within each. Two runs of the same code print the same lines, so they can be compared (CI
# compares a fresh run with the book's transcripts). Each line: status, then name.
results=$(awk '
  /^ *(Running|Doc-tests) / { binary++ }
  match($0, /^test .* \.\.\. (ok|FAILED|ignored)/) {
    line = substr($0, 6)
    status = line; sub(/.* \.\.\. /, "", status); sub(/[ ,].*/, "", status)
    sub(/ \.\.\. (ok|FAILED|ignored).*$/, "", line)
    printf "%04d\t%s\t%s\n", binary, line, status
  }
' "$log" | LC_ALL=C sort -t$'\t' -k1,1n -k2,2 | cut -f2,3)
tests_with() { awk -F'\t' -v s="$1" '$2 == s { print $1 }' <<<"$results"; }

echo
tests_with ok | sed 's/^/  pass  /'
# For each failure, why: every panic in the test's output with its whole message (an assertion's
# left and right values, a todo!'s sentence), then the error the test returned ("Error: ...").
# A panic that several threads of one test hit alike is shown once, and distinct panics in the
# order of their text, not of the threads that happened to get there first.
tests_with FAILED | while read -r t; do
  printf '  FAIL  %s\n' "$t"
  # (awk stops itself after 30 lines: a `head` here would end it with SIGPIPE.)
  why=$(awk -v t="$t" '
    function flush() { if (block != "" && !(seen[block]++)) panics[++np] = block; block = "" }
    $0 == "---- " t " stdout ----" { mine = 1; next }
    mine && (/^---- .* stdout ----$/ || /^failures:$/ || /^successes:$/) { exit }
    !mine { next }
    /^thread .*panicked at/ { flush(); inpanic = 1; inerr = 0; block = "panicked at " substr($0, index($0, "panicked at ") + 12); next }
    /^Error: / { inpanic = 0; flush(); inerr = 1 }
    inpanic && (/^note: run with/ || /^stack backtrace:/ || /^[[:space:]]*$/) { inpanic = 0; flush(); next }
    inpanic { block = block "\n  " $0; next }
    inerr && (/^Stack backtrace:/ || (/^[[:space:]]*$/ && ++blank > 1)) { inerr = 0 }
    inerr { errors = errors "  " $0 "\n" }
    END {
      flush()
      # The error without the blank lines that ended it.
      sub(/([[:space:]]*\n)+$/, "\n", errors)
      if (errors == "\n") errors = ""
      # Sorted by their text (a small insertion sort: awk has none of its own).
      for (i = 2; i <= np; i++) {
        v = panics[i]
        for (j = i - 1; j >= 1 && panics[j] > v; j--) panics[j + 1] = panics[j]
        panics[j + 1] = v
      }
      for (i = 1; i <= np; i++) text = text panics[i] "\n"
      text = text errors
      n = split(text, lines, "\n")
      for (i = 1; i < n && i <= 30; i++) print lines[i]
    }
  ' "$log")
  printf '%s\n' "${why:-see the output of: cargo test -p $package -- --include-ignored $t}" | sed 's/^/        /'
done
if [ "$skipped" -gt 0 ]; then
  echo
  echo "  not run (they need a cluster; start one with scripts/cluster-up.sh):"
  tests_with ignored | sed 's/^/    /'
fi
echo
echo "$what ($package): $passed passed, $failed failed, $skipped not run"
if [ "$((passed + failed + skipped))" -eq 0 ]; then
  echo "error: no test matched ${filters[*]:-anything}: the exercise's \`Proved by:\` line names no test" >&2
  exit 2
fi
if [ "$failed" -eq 0 ] && [ "$status" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$skipped" -eq 0 ]; then
  if [ -n "${exercise:-}" ]; then echo "exercise $exercise is done."; else echo "all checks pass. On to the next step!"; fi
  exit 0
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  tail -n 20 "$log" >&2; echo "cargo test failed without a failing test (see above)" >&2; exit 1
fi
[ "$failed" -gt 0 ] && exit 1
echo "not everything could run: start a cluster (scripts/cluster-up.sh) and check again." >&2
exit 2
