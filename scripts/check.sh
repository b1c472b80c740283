#!/usr/bin/env bash
# Checks your work on one step: runs that step's tests (unit and end-to-end) against your code in
# steps/NN-name and the cluster your kubeconfig points at, then says what passes and what is
# still missing.
#
# usage: scripts/check.sh NN [--solution]
#   NN          the step number, e.g. 01 or 1
#   --solution  check the reference solution instead (what CI does to prove the check can pass)
#
# Exit status: 0 when every check passes, 1 when some fail, 2 when the checks could not run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage="usage: scripts/check.sh NN [--solution]"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
case "$1" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
nn=$(printf '%02d' "$((10#${1//[!0-9]/}))" 2>/dev/null) || { echo "$usage" >&2; exit 2; }
kind=step
[ "${2:-}" = --solution ] && kind=solution
[ $# -le 2 ] || { echo "$usage" >&2; exit 2; }

dir=$(ls -d "$ROOT"/solutions/"$nn"-*/ 2>/dev/null | head -n 1) || true
[ -n "$dir" ] || { echo "error: there is no step $nn (steps: $(ls "$ROOT/steps" | tr '\n' ' '))" >&2; exit 2; }
name=$(basename "$dir")
package="$kind-$name"

if ! kubectl get --raw /readyz >/dev/null 2>&1; then
  echo "error: no cluster answers for context '$(kubectl config current-context 2>/dev/null || echo none)'." >&2
  echo "       Start one with scripts/cluster-up.sh, then run scripts/check.sh $nn again." >&2
  exit 2
fi

say "checking $package against context $(kubectl config current-context)"
log=$(mktemp); trap 'rm -f "$log"' EXIT
# --include-ignored: the end-to-end tests are #[ignore]d for plain `cargo test`; here they run.
set +e
(cd "$ROOT" && cargo test -p "$package" --no-fail-fast --color never -- --include-ignored) >"$log" 2>&1
status=$?
set -e

passed=$(grep -cE '^test .* \.\.\. ok$' "$log" || true)
failed=$(grep -cE '^test .* \.\.\. FAILED$' "$log" || true)
if [ "$status" -ne 0 ] && [ "$((passed + failed))" -eq 0 ]; then
  grep -E '^(error|warning)' -A 12 "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
  echo "error: $package does not compile; fix the errors above first." >&2
  exit 2
fi

echo
grep -E '^test .* \.\.\. ok$' "$log" | sed -E 's/^test (.*) \.\.\. ok$/  pass  \1/' || true
# For each failure, the first line of its panic says what is missing (a todo!'s message, an assertion).
{ grep -E '^test .* \.\.\. FAILED$' "$log" || true; } | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | while read -r t; do
  # Why it failed: the panic message, or the error a test returned ("Error: ..."), from the
  # test's own section of the output.
  why=$(awk -v t="$t" '
    $0 == "---- " t " stdout ----" { mine = 1; next }
    /^---- .* stdout ----$/ { mine = 0 }
    mine && /^thread .*panicked/ { getline; print; exit }
    mine && /^Error: / { print; exit }
  ' "$log")
  printf '  FAIL  %s\n        %s\n' "$t" "${why:-see the output of cargo test -p $package -- --include-ignored}"
done
echo
echo "step $nn ($package): $passed passed, $failed failed"
if [ "$failed" -eq 0 ] && [ "$status" -eq 0 ] && [ "$passed" -gt 0 ]; then
  echo "all checks pass. On to the next step!"
  exit 0
fi
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && { tail -n 20 "$log" >&2; echo "cargo test failed without a failing test (see above)" >&2; }
exit 1
