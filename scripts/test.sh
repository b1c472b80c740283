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
#     solution and fail on the untouched starter (so no exercise's check is vacuous); with a
#     real node, step 08 deployed into the cluster (a TaskRun, then a failover), and step 07's
#     end-to-end tests once more on the fake node alone (the path of Docker-free learners
#     without one);
#  5. teardown of the test cluster, also on failure.
# Fails when no end-to-end test ran.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

keep=false
case "${1:-}" in
  --keep-cluster) keep=true ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: scripts/test.sh [--keep-cluster]" ;;
esac

cd "$ROOT"
suite_start=$(now)
state=$(mktemp -d "${TMPDIR:-/tmp}/workshop-test.XXXXXX")
cluster=workshop-test
export KUBECONFIG="$state/kubeconfig"
e2e_passed=0 e2e_failed=0 unit_passed=0 proved=0

phase() { say "[$(( $(now) - suite_start ))s] $*"; }
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
# start them now, in the background, while cargo works.
if ! { have kind && docker info >/dev/null 2>&1; }; then
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
phase "throwaway cluster '$cluster' ${real_node[*]}"
scripts/cluster-up.sh --name "$cluster" "${real_node[@]}"

count_e2e() { # LOG: add the pass/fail counts of a cargo test run or a check.sh run to the totals
  local counts
  counts=$(sed -nE 's/^step [0-9]+ \(.*\): ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$1")
  [ -n "$counts" ] || counts="$(grep -cE '^test .* \.\.\. ok$' "$1" || true) $(grep -cE '^test .* \.\.\. FAILED$' "$1" || true)"
  e2e_passed=$(( e2e_passed + ${counts% *} ))
  e2e_failed=$(( e2e_failed + ${counts#* } ))
}

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
done

if [ ${#real_node[@]} -gt 0 ]; then
  # Step 08 as it is deployed: the image (made without a registry), two replicas Ready in a
  # namespace enforcing the restricted Pod Security Standard, each talking to the API server with
  # its ServiceAccount's token through the `kubernetes` Service; a TaskRun; and a failover.
  phase "step 08 in the cluster: manifests/deploy/ on the real node"
  scripts/deploy-real-node.sh
  kubectl apply -f manifests/samples/hello-task.yaml >/dev/null
  run=$(kubectl create -f manifests/samples/hello-taskrun.yaml -o name)
  kubectl wait --for=jsonpath='{.status.phase}'=Succeeded "$run" --timeout=120s >/dev/null \
    || die "the controller deployed in the cluster did not run $run to Succeeded"
  e2e_passed=$(( e2e_passed + 1 ))
  holder() { kubectl -n workshop-system get lease taskrun-controller -o jsonpath='{.spec.holderIdentity}'; }
  leader=$(holder)
  lease=$(kubectl -n workshop-system get lease taskrun-controller -o jsonpath='{.spec.leaseDurationSeconds}')
  [ -n "$leader" ] && [ -n "$lease" ] || die "the deployed controller holds no Lease"
  kubectl -n workshop-system delete pod "$leader" --wait=false >/dev/null
  deleted=$(date +%s%N)
  until new=$(holder) && [ -n "$new" ] && [ "$new" != "$leader" ]; do
    (( ($(date +%s%N) - deleted) / 1000000000 < lease )) || die "no standby took the lead within the lease duration (${lease}s) after $leader's Pod was deleted"
    sleep 0.1
  done
  say "in-cluster failover: $new leads $(( ($(date +%s%N) - deleted) / 1000000 )) ms after the leader's Pod was deleted (lease ${lease}s)"
  e2e_passed=$(( e2e_passed + 1 ))
  # The deployed controller watches every namespace: left running, it would act on the runs of
  # the tests below beside each test's own controller (and write to the runs of a test that
  # wants no controller at all). Remove it, and wait until its Pods are gone.
  kubectl -n workshop-system delete deployment taskrun-controller --cascade=foreground --timeout=120s >/dev/null \
    || die "could not remove the deployed controller before the fake-node tests"

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

[ "$e2e_passed" -gt 0 ] || die "no end-to-end test ran"
[ "$e2e_failed" -eq 0 ] || die "$e2e_failed end-to-end tests failed"
total=$(wc -l <"$state/exercises")
[ "$proved" -eq "$total" ] || die "only $proved of $total exercises were proved"
phase "all green in $(( $(now) - suite_start ))s: $unit_passed unit tests; $e2e_passed tests against the cluster (the cluster's own and every step's check on its solution); $proved exercises, each passing on its solution and failing on its starter"
echo "tests: $((unit_passed + e2e_passed)) passed, 0 failed"
