#!/usr/bin/env bash
# Mutation testing of the exercises: does each step's check reject wrong answers?
#
# usage: scripts/mutants.sh [--list] [NN ...]
#   NN      the steps to test, e.g. 03 04 (default: every step in solutions/)
#   --list  only list each exercise's mutants (no build, no tests, no cluster)
#
# For each step, cargo-mutants makes small wrong versions ("mutants") of the code between
# `// BEGIN SOLUTION` and `// END SOLUTION` in solutions/NN-name, one at a time (a `<` turned into
# `<=`, a `!` deleted, a function body replaced by a default value), and runs the step's whole
# check against each: its unit and end-to-end tests, as scripts/check.sh runs them. A mutant the
# tests reject is caught; one they pass is missed, a wrong answer the check would accept. A mutant
# that does not compile is unviable; one whose tests run past the timeout has not passed them
# either, and is counted apart. To save builds, a step whose library has unit tests runs each
# mutant against those first (one test binary, no cluster); only the mutants they miss run
# against the whole check.
#
# A mutant that no test should catch, because it behaves like the solution in everything the
# exercise asks for, is listed with its reason in scripts/mutants-explained.txt: it is not tested
# and counts as explained. The run fails on any other missed mutant; kill it with a test that
# fails on it.
#
# Needs a cluster: the end-to-end tests run against your kubeconfig's current context. Slow (a few
# minutes for a step whose tests are pure, much longer for one whose tests need the cluster) and
# not part of scripts/test.sh. To reuse target/ it mutates solutions/ in place and restores each
# file after each mutant: do not edit solutions/ while it runs. The first run installs
# cargo-mutants (pinned as CARGO_MUTANTS_VERSION in scripts/versions.env) from crates.io into the
# workshop cache. Reports go to target/mutants/: a summary in report.txt, and cargo-mutants' own
# output (a log per mutant) in NN/unit/mutants.out/ and NN/full/mutants.out/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage="usage: scripts/mutants.sh [--list] [NN ...]"
list=false steps=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --list) list=true ;;
    [0-9]|[0-9][0-9]) steps+=("$(printf '%02d' "$((10#$arg))")") ;;
    *) die "$usage" ;;
  esac
done
if [ ${#steps[@]} -eq 0 ]; then
  for dir in "$ROOT"/solutions/[0-9][0-9]-*/; do steps+=("$(basename "$dir" | cut -c1-2)"); done
fi

MUTANTS="$WORKSHOP_CACHE/tools/bin/cargo-mutants"
EXPLAINED="$ROOT/scripts/mutants-explained.txt"
OUT="$ROOT/target/mutants"
MARKER='~ changed by cargo-mutants ~'

# Installs cargo-mutants at the pinned version unless that exact version is already in the cache.
install_cargo_mutants() {
  cargo_install_pinned cargo-mutants "$CARGO_MUTANTS_VERSION" \
    "cargo-mutants $CARGO_MUTANTS_VERSION" "$MUTANTS" mutants --version
}

# regions NN: one line per exercise region of step NN's solution, from the workshop's tool:
# "FILE FIRST LAST NUMBER", FILE relative to the repository, FIRST..LAST the lines of code between
# the markers, NUMBER the exercise's.
regions() {
  xtask regions "$1"
}

# region_diff REGIONS: a unified diff whose added lines are exactly the regions' lines, as if the
# exercises had just been written into otherwise unchanged files: cargo-mutants' --in-diff then
# keeps only the mutants that touch an exercise.
region_diff() {
  local file tmp
  tmp=$(mktemp)
  for file in $(cut -d' ' -f1 "$1" | sort -u); do
    awk -v file="$file" '
      $1 == file { for (i = $2; i <= $3; i++) skip[i] = 1 }
      END {
        while ((getline line < file) > 0) { n++; if (!(n in skip)) print line }
      }
    ' "$1" >"$tmp"
    (cd "$ROOT" && diff -u --label "a/$file" --label "b/$file" "$tmp" "$file") || true
  done
  rm -f "$tmp"
}

# exercise_of REGIONS: reads mutant names ("FILE:LINE:COL: description") on stdin and prints each
# prefixed by its exercise number: the region it starts in, or else the first region after it in
# the same file (a mutant that replaces a whole function body starts at the function's `{`).
exercise_of() {
  awk '
    NR == FNR { file[NR] = $1; first[NR] = $2; last[NR] = $3; number[NR] = $4; n = NR; next }
    {
      split($0, part, ":"); best = ""; bestfirst = 0
      for (i = 1; i <= n; i++) {
        if (file[i] != part[1] || last[i] < part[2] + 0) continue
        if (best == "" || first[i] < bestfirst) { best = number[i]; bestfirst = first[i] }
      }
      print (best == "" ? "?" : best), $0
    }
  ' "$1" -
}

# Everything cargo-mutants says about a step goes through one function: the exercise regions
# only, the reviewed exclusions, that step's package.
cargo_mutants() {
  local package=$1 diff=$2; shift 2
  (cd "$ROOT" && "$MUTANTS" mutants --package "$package" --in-diff "$diff" "$@")
}

# mutate PACKAGE DIFF OUTPUT TIMEOUT SKIP -- [--lib] [TEST_BINARY_ARGS...]: tests the exercises'
# mutants in place, each against `cargo test -p PACKAGE [--lib] -- TEST_BINARY_ARGS`, except those
# named in the file SKIP. Results in OUTPUT/mutants.out.
mutate() {
  local package=$1 diff=$2 output=$3 timeout=$4 skip=$5 status outcome
  shift 6
  local cargo_test_args=()
  [ "${1:-}" = --lib ] && { cargo_test_args=(--lib); shift; }
  # cargo-mutants' --iterate skips the mutants named in previously_caught.txt; its name filters
  # (--re, --exclude-re) would not do, as they let every struct-field mutant through.
  rm -rf "$output"
  mkdir -p "$output/mutants.out"
  cp "$skip" "$output/mutants.out/previously_caught.txt"
  set +e
  cargo_mutants "$package" "$diff" --no-config --in-place --baseline=skip --no-shuffle --iterate \
    --timeout "$timeout" --output "$output" -- "${cargo_test_args[@]}" -- "$@"
  status=$?
  set -e
  check_restored
  case $status in
    0|2|3) ;;
    *) die "cargo-mutants failed on $package (exit $status); see $output/mutants.out" ;;
  esac
  for outcome in caught missed timeout unviable; do touch "$output/mutants.out/$outcome.txt"; done
}

# explained: the names listed in scripts/mutants-explained.txt, each of which must come after a
# comment that gives its reason.
explained() {
  awk -v file="${EXPLAINED#"$ROOT"/}" '
    /^[[:space:]]*$/ { reason = 0; next }
    /^[[:space:]]*#/ { reason = 1; next }
    !reason { printf "error: %s:%d: an entry with no comment above it saying why\n", file, NR > "/dev/stderr"; failed = 1; next }
    { print }
    END { exit failed }
  ' "$EXPLAINED" | sort -u
}

# without_position: mutant names without their line and column, as scripts/mutants-explained.txt
# writes them (so that editing the comments above an exercise does not break the list).
without_position() {
  sed -E 's/^([^:]+):[0-9]+:[0-9]+: /\1: /'
}

# Restores nothing by itself, but refuses to end quietly if a mutant was left in a file.
check_restored() {
  local left
  left=$(cd "$ROOT" && grep -rlF -- "$MARKER" solutions 2>/dev/null || true)
  [ -z "$left" ] || die "cargo-mutants left a mutant in: $left (restore with git checkout -- <file>, after saving your own edits)"
}

install_cargo_mutants
if ! $list; then
  if ! kubectl get --raw /readyz >/dev/null 2>&1; then
    die "no cluster answers for context '$(kubectl config current-context 2>/dev/null || echo none)': the checks' end-to-end tests need one. Start one with scripts/cluster-up.sh, then run scripts/mutants.sh again."
  fi
  trap check_restored EXIT
fi

mkdir -p "$OUT"
report="$OUT/report.txt"
$list || : >"$report"
unexplained=0
for nn in "${steps[@]}"; do
  dir=$(ls -d "$ROOT"/solutions/"$nn"-*/ 2>/dev/null | head -n 1) || true
  [ -n "$dir" ] || die "there is no step $nn (steps: $(ls "$ROOT/solutions" | grep '^[0-9]' | tr '\n' ' '))"
  dir=${dir%/}
  package=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$dir/Cargo.toml" | head -n 1)
  work="$OUT/$nn"
  mkdir -p "$work"
  regions "$nn" >"$work/regions.txt"
  if [ ! -s "$work/regions.txt" ]; then
    say "step $nn ($package) has no exercise regions; nothing to mutate"
    continue
  fi
  region_diff "$work/regions.txt" >"$work/regions.diff"

  # What the exercises offer, split into the explained ones and the rest.
  cargo_mutants "$package" "$work/regions.diff" --list --no-config | sort >"$work/all.txt"
  explained >"$work/explained-names.txt" || die "fix ${EXPLAINED#"$ROOT"/} first"
  awk 'FILENAME == ARGV[1] { known[$0] = 1; next }
       { name = $0; sub(/:[0-9]+:[0-9]+: /, ": ", name); print (name in known ? "explained" : "test"), $0 }' \
    "$work/explained-names.txt" "$work/all.txt" >"$work/split.txt"
  sed -n 's/^explained //p' "$work/split.txt" >"$work/explained.txt"
  sed -n 's/^test //p' "$work/split.txt" >"$work/to-test.txt"
  # An entry of this step that matches no mutant any more (the code changed): say so.
  without_position <"$work/all.txt" | sort -u >"$work/all-names.txt"
  grep -F "${dir#"$ROOT"/}/" "$work/explained-names.txt" | comm -23 - "$work/all-names.txt" \
    | sed "s|^|warning: no such mutant any more; remove it from ${EXPLAINED#"$ROOT"/}: |" >&2 || true
  if $list; then
    say "step $nn ($package): $(wc -l <"$work/to-test.txt") mutants to test, $(wc -l <"$work/explained.txt") explained in ${EXPLAINED#"$ROOT"/}"
    exercise_of "$work/regions.txt" <"$work/to-test.txt" | sed 's/^/    /'
    exercise_of "$work/regions.txt" <"$work/explained.txt" | sed 's/^/    (explained) /'
    continue
  fi

  # The unmutated check must pass first; how long it takes sets the timeout for the mutants.
  say "step $nn ($package): building and running its check unmutated (cargo test -p $package -- --include-ignored)"
  run_with_progress "build $package's tests" "$work/baseline-build.log" \
    bash -c "cd '$ROOT' && cargo test -p '$package' --no-run"
  start=$(now)
  run_with_progress "$package's check, unmutated" "$work/baseline.log" \
    bash -c "cd '$ROOT' && cargo test -p '$package' -- --include-ignored" \
    || die "step $nn's check fails on the solution itself (see $work/baseline.log); fix that first"
  baseline=$(( $(now) - start ))
  timeout=$(( baseline * 4 > 60 ? baseline * 4 : 60 ))
  start=$(now)
  rm -rf "$work/unit" "$work/full"
  : >"$work/unit-caught.txt"; : >"$work/unviable.txt"; : >"$work/unit-timeout.txt"
  cp "$work/explained.txt" "$work/skip-full.txt"

  # Phase 1, when the library has unit tests: each mutant against them alone, which builds one
  # test binary and needs no cluster. What they catch, the whole check catches too.
  if grep -rqF '#[cfg(test)]' "$dir/src" && [ -s "$work/to-test.txt" ]; then
    say "step $nn ($package): $(wc -l <"$work/to-test.txt") mutants, first against the unit tests (cargo test --lib)"
    mutate "$package" "$work/regions.diff" "$work/unit" 30 "$work/explained.txt" -- --lib
    cp "$work/unit/mutants.out/caught.txt" "$work/unit-caught.txt"
    cp "$work/unit/mutants.out/unviable.txt" "$work/unviable.txt"
    # A mutant that hangs the unit tests has not passed them: the whole check would hang too.
    cp "$work/unit/mutants.out/timeout.txt" "$work/unit-timeout.txt"
    sort "$work/explained.txt" "$work/unit-caught.txt" "$work/unviable.txt" "$work/unit-timeout.txt" >"$work/skip-full.txt"
  fi

  # Phase 2: the rest against the whole check, end-to-end tests included.
  : >"$work/full-caught.txt"; : >"$work/missed.txt"; : >"$work/timeout.txt"
  left=$(sort "$work/skip-full.txt" | comm -23 <(sort "$work/all.txt") - | wc -l)
  if [ "$left" -gt 0 ]; then
    say "step $nn ($package): $left mutants against the whole check (${baseline}s unmutated; timeout ${timeout}s)"
    mutate "$package" "$work/regions.diff" "$work/full" "$timeout" "$work/skip-full.txt" -- --include-ignored
    cp "$work/full/mutants.out/caught.txt" "$work/full-caught.txt"
    cat "$work/full/mutants.out/unviable.txt" >>"$work/unviable.txt"
    cp "$work/full/mutants.out/missed.txt" "$work/missed.txt"
    cp "$work/full/mutants.out/timeout.txt" "$work/timeout.txt"
  fi
  elapsed=$(( $(now) - start ))

  # The report: per exercise, how many mutants each outcome had.
  sort -o "$work/caught.txt" "$work/unit-caught.txt" "$work/full-caught.txt"
  sort -o "$work/timeout.txt" "$work/unit-timeout.txt" "$work/timeout.txt"
  for outcome in caught missed timeout unviable; do
    exercise_of "$work/regions.txt" <"$work/$outcome.txt" | sed "s/^/$outcome /"
  done >"$work/outcomes.txt"
  exercise_of "$work/regions.txt" <"$work/explained.txt" | sed 's/^/explained /' >>"$work/outcomes.txt"
  {
    printf 'step %s (%s): %s mutants in %ss (check %ss unmutated)\n' "$nn" "$package" \
      "$(wc -l <"$work/to-test.txt")" "$elapsed" "$baseline"
    printf '  %-9s %6s %7s %7s %9s %9s %10s\n' exercise tried caught missed unviable timeouts explained
    cut -d' ' -f4 "$work/regions.txt" | sort -u -V | while read -r number; do
      awk -v n="$number" '
        $2 == n { count[$1]++; if ($1 != "explained") tried++ }
        END {
          printf "  %-9s %6d %7d %7d %9d %9d %10d\n", n, tried, count["caught"], count["missed"],
            count["unviable"], count["timeout"], count["explained"]
        }
      ' "$work/outcomes.txt"
    done
    awk '$1 == "missed" { $1 = "  MISSED"; print }' "$work/outcomes.txt"
  } | tee -a "$report"
  missed=$(grep -c '^missed ' "$work/outcomes.txt" || true)
  unexplained=$(( unexplained + missed ))
done

$list && exit 0
echo
if [ "$unexplained" -gt 0 ]; then
  echo "$unexplained mutants survived the checks (MISSED above): each is a wrong answer a check accepts." >&2
  echo "Kill each with a test that fails on it, or, if it behaves exactly like the solution, explain it in ${EXPLAINED#"$ROOT"/}." >&2
  echo "report: ${report#"$ROOT"/}" >&2
  exit 1
fi
say "every mutant of the exercises was caught or is explained; report: ${report#"$ROOT"/}"
