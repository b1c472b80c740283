#!/usr/bin/env bash
# The project's main test suite: the README's test command, the first one CI runs (.ci/run).
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
#  4. the local cluster's own end-to-end tests, then for every step scripts/check.sh NN
#     --solution must pass and print what the book's transcript of it shows
#     (book/src/transcripts/NN-name-check.txt, compared as scripts/lib/transcripts.sh says: a
#     stale transcript fails the run, with its diff); with a real node, step 08 deployed into
#     the cluster (a TaskRun, then a failover), step 09's webhook deployed and called through
#     its Service (a run of a missing Task refused), and step 07's end-to-end tests once more on
#     the fake node alone (the path of Docker-free learners without one);
#  5. teardown of the test cluster, also on failure.
# Fails when no end-to-end test ran, and when a check transcript of the book is stale.
# That every exercise is graded (its check passes on the solution and fails on the starter) is
# scripts/test-exercises.sh, on a cluster of its own; CI runs it next (.ci/run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/suite.sh"

keep=false
case "${1:-}" in
  --keep-cluster) keep=true ;;
  "") ;;
  -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: scripts/test.sh [--keep-cluster]" ;;
esac

cd "$ROOT"
suite_begin workshop-test "$keep"
unit_passed=0

# The control-plane binaries are the long pole on a fresh machine (tens of minutes to build):
# start them now, in the background, while cargo works. They are needed unless the test cluster
# will be kind's: as root on Linux it is the binary runtime with a real node, kind or not.
if { [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ]; } || ! { have kind && docker info >/dev/null 2>&1; }; then
  if ! binaries_built && have go; then
    phase "building the local control plane in the background (log: $state/build.log)"
    "$ROOT/scripts/build-control-plane.sh" >"$state/build.log" 2>&1 &
    build_pid=$!
    suite_pids+=("$build_pid")
  fi
fi

# mdbook, for the book check, is a few minutes of `cargo install` the first time: also now.
book_log="$state/book-install.log"
scripts/book.sh install >"$book_log" 2>&1 &
book_pid=$!
suite_pids+=("$book_pid")

phase "format"
cargo fmt --all -- --check || die "code is not formatted: run cargo fmt --all"
phase "starters are generated from the solutions"
scripts/gen-steps.sh --check
phase "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

phase "unit tests (solutions and test kit; the starters are graded by scripts/test-exercises.sh)"
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
suite_choose_node
if [ ${#real_node[@]} -gt 0 ] && [ -e "$NODE_BRIDGE_NF" ]; then
  # As on a freshly booted machine, where bridged traffic bypasses iptables: the real node's
  # setup must turn it on, or a Pod reaches no Service (the traffic check below).
  echo 0 >"$NODE_BRIDGE_NF"
fi
suite_cluster_up
# Once more, as a learner does every morning: it finds the cluster and reuses it, quietly.
scripts/cluster-up.sh --name "$cluster" "${real_node[@]}" >"$state/cluster-up-again.log" 2>&1 \
  || { cat "$state/cluster-up-again.log" >&2; die "scripts/cluster-up.sh failed on a cluster that runs"; }
grep -q "is running; reusing it" "$state/cluster-up-again.log" \
  || { cat "$state/cluster-up-again.log" >&2; die "scripts/cluster-up.sh did not reuse the running cluster"; }
quiet_or_die "$state/cluster-up-again.log" "scripts/cluster-up.sh (again)"

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

for dir in solutions/[0-9][0-9]-*/; do
  step=$(basename "$dir"); nn=${step%%-*}
  phase "step $nn: scripts/check.sh $nn --solution must pass"
  set +e; scripts/check.sh "$nn" --solution 2>&1 | tee "$state/check-$nn.log"; status=${PIPESTATUS[0]}; set -e
  count_e2e "$state/check-$nn.log"
  [ "$status" -eq 0 ] || die "scripts/check.sh $nn fails on the solution"
  transcript_drift "$step" solution "$state/check-$nn.log"
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

suite_verdict
phase "all green in $(( $(now) - suite_start ))s: $unit_passed unit tests; $e2e_passed tests against the cluster (the cluster's own and every step's check on its solution); $compared check transcripts of the book match this run"
echo "tests: $((unit_passed + e2e_passed)) passed, 0 failed"
