#!/usr/bin/env bash
# The project's whole test suite, the one command CI runs (.ci/run).
#
# usage: scripts/test.sh [--keep-cluster]
#   --keep-cluster  leave the throwaway test cluster running afterwards (for debugging)
#
#  1. formatting, generated starters, clippy with warnings denied;
#  2. unit tests of every solution (no cluster needed), and the book: its includes, links and
#     chapters are checked, then it is rendered with mdbook;
#  3. a throwaway cluster of its own (name workshop-test, its own kubeconfig and ports; your
#     cluster and kubeconfig are never touched), brought up while nothing waits on it; on Linux
#     as root it gets a real node (cluster-up.sh --real-node), so Tasks really run; where that
#     cannot be, it says so loudly and tests on the fake node only;
#  4. the local cluster's own end-to-end tests, then for every step: scripts/check.sh NN must
#     pass on the solution, and for every exercise of it, scripts/check.sh N.M must pass on the
#     solution and fail on the untouched starter (so no exercise's check is vacuous), and
#     scripts/check.sh NN must fail on the starter and with only the diagnose exercise left;
#     each of the three step checks must print what the book's transcript of it shows
#     (book/src/transcripts/NN-name-check*.txt, compared as scripts/lib/transcripts.sh says:
#     a stale transcript fails the run, with its diff); with a real node, step 08 deployed
#     into the cluster (a TaskRun, then a failover), step 09's webhook deployed and called
#     through its Service (a run of a missing Task refused), and step 07's end-to-end tests
#     once more on the fake node alone (the path of Docker-free learners without one);
#  5. teardown of the test cluster, also on failure.
# Fails when no end-to-end test ran, and when a check transcript of the book is stale.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/transcripts.sh"

keep=false
case "${1:-}" in
  --keep-cluster) keep=true ;;
  "") ;;
  -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: scripts/test.sh [--keep-cluster]" ;;
esac

cd "$ROOT"
suite_start=$(now)
state=$(mktemp -d "${TMPDIR:-/tmp}/workshop-test.XXXXXX")
cluster=workshop-test
export KUBECONFIG="$state/kubeconfig"
e2e_passed=0 e2e_failed=0 unit_passed=0 proved=0 compared=0
drift=()

phase() { say "[$(( $(now) - suite_start ))s] $*"; }
# No warning that the workshop itself causes may reach a learner: kwokctl's own log lines (JSON)
# and its complaint about a file among its clusters, kubectl's warnings (such as an object applied
# server-side and then client-side). LOG is what WHAT printed.
quiet_or_die() { # LOG WHAT
  if grep -nE '^\{"time"|non-directory entry|^Warning: ' "$1" >&2; then
    die "$2 printed the lines above; a learner must never see them"
  fi
}
cleanup() {
  local status=$?
  [ -n "${build_pid:-}" ] && kill "$build_pid" 2>/dev/null || true
  [ -n "${book_pid:-}" ] && kill "$book_pid" 2>/dev/null || true
  if $keep; then
    say "test cluster kept: KUBECONFIG=$KUBECONFIG kubectl get nodes"
  else
    "$ROOT/scripts/cluster-down.sh" --name "$cluster" >/dev/null 2>&1 || warn "could not delete the test cluster $cluster"
    rm -rf "$state"
  fi
  exit "$status"
}
trap cleanup EXIT

# The control-plane binaries are the long pole on a fresh machine (tens of minutes to build):
# start them now, in the background, while cargo works. They are needed unless the test cluster
# will be kind's: as root on Linux it is the binary runtime with a real node, kind or not.
if { [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ]; } || ! { have kind && docker info >/dev/null 2>&1; }; then
  source "$ROOT/scripts/lib/cluster.sh"
  if ! binaries_built && have go; then
    phase "building the local control plane in the background (log: $state/build.log)"
    "$ROOT/scripts/build-control-plane.sh" >"$state/build.log" 2>&1 &
    build_pid=$!
  fi
fi

# mdbook, for the book check, is a few minutes of `cargo install` the first time: also now.
book_log="$state/book-install.log"
scripts/book.sh install >"$book_log" 2>&1 &
book_pid=$!

phase "format"
cargo fmt --all -- --check || die "code is not formatted: run cargo fmt --all"
phase "starters are generated from the solutions"
scripts/gen-steps.sh --check
phase "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

phase "unit tests (solutions and test kit; starters are checked below)"
# The starters' own tests fail by design until the learner does the exercises.
cargo test --workspace --exclude 'step-*' --locked 2>&1 | tee "$state/unit.log"
unit_passed=$(awk '/^test result:/ { s += $4 } END { print s + 0 }' "$state/unit.log")

phase "the book (structure checks, then rendering with mdbook)"
if ! wait "$book_pid"; then cat "$book_log" >&2; die "installing mdbook failed (above)"; fi
scripts/book.sh check

if [ -n "${build_pid:-}" ]; then
  phase "waiting for the control-plane build to finish"
  tail -n +1 -f "$state/build.log" --pid="$build_pid" >&2 || true
  wait "$build_pid" || die "building the control plane failed (log above)"
  build_pid=
fi
# A real node where the machine allows it: Linux, root, and the real node not taken by another
# cluster (one per machine).
real_node=()
source "$ROOT/scripts/lib/cluster.sh"
source "$ROOT/scripts/lib/node.sh"
owner=$(node_owner || true)
if [ "$(uname -s)" != Linux ] || [ "$(id -u)" != 0 ]; then
  warn "NO REAL NODE: it needs Linux and root; steps 07 and 08 are tested on the fake node only"
elif [ -n "$owner" ] && [ "$owner" != "$cluster" ] && [ -d "$KWOK_CLUSTERS/$owner" ]; then
  warn "NO REAL NODE: cluster '$owner' has this machine's real node (scripts/cluster-down.sh --name $owner frees it); steps 07 and 08 are tested on the fake node only"
else
  real_node=(--real-node)
  export WORKSHOP_REAL_NODE=1
fi
if [ ${#real_node[@]} -gt 0 ] && [ -e "$NODE_BRIDGE_NF" ]; then
  # As on a freshly booted machine, where bridged traffic bypasses iptables: the real node's
  # setup must turn it on, or a Pod reaches no Service (the traffic check below).
  echo 0 >"$NODE_BRIDGE_NF"
fi
phase "throwaway cluster '$cluster' ${real_node[*]}"
scripts/cluster-up.sh --name "$cluster" "${real_node[@]}" 2>&1 | tee "$state/cluster-up.log"
quiet_or_die "$state/cluster-up.log" "scripts/cluster-up.sh"
# Once more, as a learner does every morning: it finds the cluster and reuses it, quietly.
scripts/cluster-up.sh --name "$cluster" "${real_node[@]}" >"$state/cluster-up-again.log" 2>&1 \
  || { cat "$state/cluster-up-again.log" >&2; die "scripts/cluster-up.sh failed on a cluster that runs"; }
grep -q "is running; reusing it" "$state/cluster-up-again.log" \
  || { cat "$state/cluster-up-again.log" >&2; die "scripts/cluster-up.sh did not reuse the running cluster"; }
quiet_or_die "$state/cluster-up-again.log" "scripts/cluster-up.sh (again)"

# transcript_drift NN-name STATE LOG: compares the book's check transcript of STATE
# (scripts/lib/transcripts.sh) with LOG, this run's output of the same command, and notes the
# transcript as stale when they differ (the diff is printed; the run fails at the end).
transcript_drift() {
  local suffix file
  suffix=$(check_transcript_states | awk -v s="$2" '$1 == s { print $2 }')
  file="book/src/transcripts/$1-$suffix.txt"
  compared=$((compared + 1))
  if [ ! -f "$ROOT/$file" ]; then
    warn "$file does not exist"; drift+=("$file"); return 0
  fi
  if compare_check_transcript "$ROOT/$file" "$3" "$2"; then
    say "$file matches this run"
  else
    warn "$file is stale: \`$(check_command "${1%%-*}" "$2")\` printed what the diff above shows (+)"
    drift+=("$file")
  fi
}

count_e2e() { # LOG: add the pass/fail counts of a cargo test run or a check.sh run to the totals
  local counts
  counts=$(sed -nE 's/^step [0-9]+ \(.*\): ([0-9]+) passed, ([0-9]+) failed(, [0-9]+ not run)?$/\1 \2/p' "$1")
  [ -n "$counts" ] || counts="$(grep -cE '^test .* \.\.\. ok$' "$1" || true) $(grep -cE '^test .* \.\.\. FAILED$' "$1" || true)"
  e2e_passed=$(( e2e_passed + ${counts% *} ))
  e2e_failed=$(( e2e_failed + ${counts#* } ))
}

if [ ${#real_node[@]} -gt 0 ]; then
  # Pods talk to each other and to Services on the real node, also while dockerd runs (it
  # sets the machine's FORWARD policy to DROP; kind's tests start it on the same machine).
  phase "in-cluster traffic on the real node"
  node_traffic_check
  e2e_passed=$(( e2e_passed + 1 ))
fi

phase "end-to-end: the local cluster itself"
set +e
cargo test -p workshop-testkit --locked --test cluster -- --ignored 2>&1 | tee "$state/cluster.log"
status=${PIPESTATUS[0]}
set -e
count_e2e "$state/cluster.log"
[ "$status" -eq 0 ] || die "the local cluster's end-to-end tests failed"

# The exercises, from the workshop's tool: number, kind, step, file, tests, ... (tab-separated).
xtask exercises >"$state/exercises"
for dir in solutions/[0-9][0-9]-*/; do
  step=$(basename "$dir"); nn=${step%%-*}
  phase "step $nn: scripts/check.sh $nn --solution must pass"
  set +e; scripts/check.sh "$nn" --solution 2>&1 | tee "$state/check-$nn.log"; status=${PIPESTATUS[0]}; set -e
  count_e2e "$state/check-$nn.log"
  [ "$status" -eq 0 ] || die "scripts/check.sh $nn fails on the solution"
  transcript_drift "$step" solution "$state/check-$nn.log"

  # Exercise by exercise: the tests its `Proved by:` line names pass on the solution and fail on
  # the untouched starter. The step's test binaries are built already: these runs only filter.
  while IFS=$'\t' read -r number _ _ _ _ _; do
    phase "exercise $number: scripts/check.sh $number passes on the solution, fails on the starter"
    set +e; scripts/check.sh "$number" --solution >"$state/check-$number.log" 2>&1; status=$?; set -e
    tail -n 2 "$state/check-$number.log"
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

if [ ${#real_node[@]} -gt 0 ]; then
  # Step 08 as it is deployed: the image (made without a registry), two replicas Ready in a
  # namespace enforcing the restricted Pod Security Standard, each talking to the API server with
  # its ServiceAccount's token through the `kubernetes` Service; a TaskRun; and a failover.
  phase "step 08 in the cluster: manifests/deploy/ on the real node"
  scripts/deploy-real-node.sh 2>&1 | tee "$state/deploy.log"
  source "$ROOT/scripts/lib/deploy.sh"
  deployed_run_succeeds 2>&1 | tee -a "$state/deploy.log"
  quiet_or_die "$state/deploy.log" "deploying step 08"
  e2e_passed=$(( e2e_passed + 1 ))
  deployed_failover
  e2e_passed=$(( e2e_passed + 1 ))
  # The deployed controller watches every namespace: left running, it would act on the runs of
  # the tests below beside each test's own controller (and write to the runs of a test that
  # wants no controller at all). Remove it, and wait until its Pods are gone.
  kubectl -n workshop-system delete deployment taskrun-controller --cascade=foreground --timeout=120s >/dev/null \
    || die "could not remove the deployed controller before the fake-node tests"

  # Step 09's webhook as it is deployed: its image, one replica in workshop-system, called by
  # the API server through its Service (the configuration's clientConfig.service, and a
  # certificate for taskrun-webhook.workshop-system.svc), guarding a namespace of its own.
  phase "step 09 in the cluster: manifests/webhook/ on the real node, called through its Service"
  guarded=webhook-in-cluster
  kubectl create namespace "$guarded" >/dev/null
  scripts/deploy-real-node.sh --package solution-09-webhook --namespace "$guarded"
  webhook_config="taskrun-webhook-$guarded"
  [ "$(kubectl get validatingwebhookconfiguration "$webhook_config" -o jsonpath='{.webhooks[0].clientConfig.service.name}')" = taskrun-webhook ] \
    || die "the deployed webhook did not register itself with clientConfig.service"
  missing_run='{"apiVersion":"workshop.io/v1alpha1","kind":"TaskRun","metadata":{"generateName":"biuld-"},"spec":{"taskRef":{"name":"biuld"}}}'
  expected="admission webhook \"task-exists.workshop.io\" denied the request: Task \"biuld\" not found in namespace \"$guarded\""
  # The API server reads new configurations through a watch: give it a moment to call.
  for i in $(seq 1 100); do
    refused=$(kubectl create -n "$guarded" --dry-run=server -f - <<<"$missing_run" 2>&1 || true)
    [[ $refused == *"$expected"* ]] && break
    sleep 0.2
  done
  refused=$(kubectl create -n "$guarded" -f - <<<"$missing_run" 2>&1) \
    && die "the webhook in the cluster admitted a run of a missing Task: $refused"
  [[ $refused == *"$expected"* ]] || die "a run of a missing Task was refused, but not by the webhook through its Service: $refused"
  say "in-cluster webhook: $refused"
  e2e_passed=$(( e2e_passed + 1 ))
  kubectl apply -n "$guarded" -f manifests/samples/hello-task.yaml >/dev/null
  kubectl create -n "$guarded" -f manifests/samples/hello-taskrun.yaml >/dev/null \
    || die "the webhook in the cluster refused a run of an existing Task"
  e2e_passed=$(( e2e_passed + 1 ))
  # Its registration outlives it (failurePolicy Fail): remove both, then the namespace.
  kubectl -n workshop-system delete deployment taskrun-webhook --cascade=foreground --timeout=120s >/dev/null
  kubectl delete validatingwebhookconfiguration "$webhook_config" >/dev/null
  kubectl delete namespace "$guarded" --wait=false >/dev/null

  # The fake node's path, which Docker-free learners on other systems get: the real node
  # cordoned, the fake one untainted, step 07's end-to-end tests once more.
  phase "step 07 on the fake node alone"
  kubectl cordon "$NODE_NAME" >/dev/null
  kubectl taint nodes -l type=kwok "$NODE_FAKE_TAINT-" >/dev/null
  set +e
  WORKSHOP_REAL_NODE=0 cargo test -p solution-07-taskrun --locked --test e2e --test plugin -- --ignored 2>&1 | tee "$state/fake-07.log"
  status=${PIPESTATUS[0]}
  set -e
  count_e2e "$state/fake-07.log"
  kubectl uncordon "$NODE_NAME" >/dev/null
  kubectl taint nodes -l type=kwok "$NODE_FAKE_TAINT=true:NoSchedule" --overwrite >/dev/null
  [ "$status" -eq 0 ] || die "step 07's end-to-end tests fail on the fake node"
fi

[ ${#drift[@]} -eq 0 ] || die "${#drift[@]} of the book's $compared check transcripts differ from this run (diffs above): ${drift[*]}. Recapture them against a cluster of your own, then review the diff: scripts/capture.sh checks $(printf '%s\n' "${drift[@]}" | sed -E 's#.*/([0-9]{2})-.*#\1#' | sort -u | tr '\n' ' ')"
[ "$e2e_passed" -gt 0 ] || die "no end-to-end test ran"
[ "$e2e_failed" -eq 0 ] || die "$e2e_failed end-to-end tests failed"
total=$(wc -l <"$state/exercises")
[ "$proved" -eq "$total" ] || die "only $proved of $total exercises were proved"
phase "all green in $(( $(now) - suite_start ))s: $unit_passed unit tests; $e2e_passed tests against the cluster (the cluster's own and every step's check on its solution); $proved exercises, each passing on its solution and failing on its starter; $compared check transcripts of the book match this run"
echo "tests: $((unit_passed + e2e_passed)) passed, 0 failed"
