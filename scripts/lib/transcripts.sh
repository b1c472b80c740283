# The book's check transcripts, shared by scripts/capture.sh (which writes them) and
# scripts/test.sh and scripts/test-exercises.sh (which compare them with a fresh run). Source it
# after common.sh.
#
# Each step has three, in book/src/transcripts/:
#   NN-name-check-starter.txt   `scripts/check.sh NN` on the untouched starter
#   NN-name-check-diagnose.txt  `scripts/check.sh NN` once every exercise of the step is done and
#                               only its diagnose exercise is left (what the chapter's diagnose
#                               section says the learner sees)
#   NN-name-check.txt           `scripts/check.sh NN --solution`
# A transcript's first line is the command as the learner types it (`$ scripts/check.sh NN`), the
# rest what it printed.

# check_transcript_states: the three states, one a line: "STATE FILE_SUFFIX".
check_transcript_states() {
  printf '%s\n' "starter check-starter" "diagnose check-diagnose" "solution check"
}

# check_command NN STATE: the command the transcript shows (and that runs, from $ROOT).
check_command() {
  case "$2" in
    solution) echo "scripts/check.sh $1 --solution" ;;
    *) echo "scripts/check.sh $1" ;;
  esac
}

# with_diagnose_left NN COMMAND...: runs COMMAND with steps/NN-name holding the diagnose-left
# code (the code of a learner who did every exercise and has not found the bug yet: the
# workshop's tool, `xtask diagnose-left`, writes each Rust file of the solution so), then puts
# the starter back,
# also when COMMAND fails or the script is interrupted (the caller's EXIT trap still runs after).
# Returns COMMAND's status.
with_diagnose_left() {
  local nn=$1 solution status=0 rel previous
  shift
  solution=$(ls -d "$ROOT"/solutions/"$nn"-*/ | head -n 1); solution=${solution%/}
  _starter="$ROOT/steps/$(basename "$solution")"
  [ -d "$_starter" ] || die "there is no steps/$(basename "$solution")"
  xtask exercises "$nn" | cut -f2 | grep -qx diagnose || die "${solution#"$ROOT"/} has no diagnose exercise"
  _starter_backup=$(mktemp -d "${TMPDIR:-/tmp}/workshop-starter.XXXXXX")
  cp -R "$_starter/." "$_starter_backup/"
  previous=$(_trap_command "$(trap -p EXIT)")
  # shellcheck disable=SC2064 # the caller's trap as it is now, on purpose
  trap "_restore_starter; $previous" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  while IFS= read -r -d '' rel; do
    rel=${rel#"$solution"/}
    [ -f "$_starter/$rel" ] || continue   # a file the starter does not get (gen-steps: solution only)
    xtask diagnose-left "${solution#"$ROOT"/}/$rel" >"$_starter/$rel"
  done < <(find "$solution" -name '*.rs' -not -path '*/target/*' -print0)
  "$@" || status=$?
  _restore_starter
  # shellcheck disable=SC2064
  if [ -n "$previous" ]; then trap "$previous" EXIT; else trap - EXIT; fi
  trap - INT TERM
  return "$status"
}

# The starter as it was, with fresh modification times (cp without -p), so that cargo rebuilds it.
_restore_starter() {
  [ -n "${_starter_backup:-}" ] || return 0
  rm -rf "$_starter" && mkdir -p "$_starter" && cp -R "$_starter_backup/." "$_starter/"
  rm -rf "$_starter_backup"
  _starter_backup=
}

# _trap_command "$(trap -p SIGNAL)": the command of a trap as `trap -p` prints it, unquoted.
_trap_command() {
  [ -n "$1" ] || return 0
  eval "set -- $1"
  printf '%s' "$3"
}

# normalise_check_output: what varies from one run of `scripts/check.sh` to the next, although
# the code is the same, replaced by a fixed word (stdin to stdout). Only this, and each reason:
#   - the context's name: the book's cluster is kwok-workshop, CI's is its own;
#   - a panic's location inside the Rust standard library (/rustc/<commit>/library/...:L:C): the
#     compiler's commit and line numbers, which change with the toolchain, not with our code;
#   - local ports (`127.0.0.1:32752`): each cluster's API server, and each test's own listeners,
#     get a port of their own;
#   - timestamps (`2026-12-05T08:28:20.069237Z`), in the controller logs a failing test prints;
#   - thread ids (`thread 'tokio-rt-worker' (17397) panicked`), the operating system's;
#   - tokio's task ids (`JoinError::Panic(Id(28), ...)`): the order in which tasks were spawned
#     across the whole test binary, whose tests run in parallel;
#   - the test kit's namespaces (`wt-into-gone-abw5kb4q-15`): each is made unique by the clock,
#     the process id and a counter (testkit's `unique_name`);
#   - names the API server generates (`build-45hsn` from `generateName: build-`): five random
#     characters from its alphabet, which has no vowels;
#   - resourceVersions an assertion prints (`Some("14104")`): the cluster's counter, which every
#     write anywhere moves on.
# Everything else (test names, pass and FAIL, panic messages and our files' line numbers, counts)
# must be the same, or the transcript is stale.
normalise_check_output() {
  sed -E \
    -e 's/^(==> checking .* against context ).*/\1CONTEXT/' \
    -e 's#/rustc/[0-9a-f]+/library/([^ :]+):[0-9]+:[0-9]+#/rustc/COMMIT/library/\1:LINE#g' \
    -e 's#(127\.0\.0\.1|localhost):[0-9]+#\1:PORT#g' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/TIME/g' \
    -e "s/thread '([^']*)' \([0-9]+\)/thread '\\1' (N)/g" \
    -e 's/\bId\([0-9]+\)/Id(N)/g' \
    -e 's/\b(wt-[a-z0-9-]+)-[0-9a-z]{1,8}-[0-9]+\b/\1-UNIQUE/g' \
    -e 's/\b([a-z0-9]+)-[bcdfghjklmnpqrstvwxz2456789]{5}\b/\1-XXXXX/g' \
    -e 's/Some\("[0-9]+"\)/Some("RV")/g'
}

# check_verdicts: the verdicts of a check's output (stdin to stdout), without the reasons under
# each failure: the header, every test's status and name, the tests that could not run, the
# summary and the last word.
check_verdicts() {
  grep -E '^(==> |  (pass|FAIL)  |  not run|    [^ ]|(step|exercise) [^ ]+ \(|all checks pass|exercise .* is done|not everything|error: )' || true
}

# compare_check_transcript FILE OUTPUT STATE: compares the transcript FILE (without its command
# line) with OUTPUT, a fresh run's, both normalised, and prints a unified diff and returns 1
# when they differ. For the solution and the diagnose-left code the whole output is compared:
# the reasons under a failure are the diagnose exercise's symptoms, which the chapter shows. For
# the untouched starter, only the verdicts: its reasons are the todo!()s each test meets first,
# and in a test that runs several tasks or processes at once (step 08's replicas), which todo!()
# is met first, and what else panics after it, is a race. The book's own test checks every
# `panicked at` of a transcript against the code instead (solutions/testkit/tests/book/claims.rs).
compare_check_transcript() {
  local file=$1 output=$2 state=${3:-solution} keep=cat
  [ "$state" = starter ] && keep=check_verdicts
  if diff -u --label "${file#"$ROOT"/} (the book)" --label "this run" \
      <(tail -n +2 "$file" | normalise_check_output | $keep) \
      <(normalise_check_output <"$output" | $keep); then
    return 0
  fi
  return 1
}
