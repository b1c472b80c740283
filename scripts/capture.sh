#!/usr/bin/env bash
# Captures the transcripts the book shows: runs each step's payoff commands (the solutions')
# against the cluster of your kubeconfig's current context, and writes what they printed to
# book/src/transcripts/NN-name*.txt.
#
# usage: scripts/capture.sh [NN...|setup|deploy|deploy-webhook|bench|bench-taskrun|faults]
#        (default: every step)
#        scripts/capture.sh checks [NN...]
#   checks the check transcripts only (NN-name-check*.txt, scripts/lib/transcripts.sh), the ones
#          scripts/test.sh and test-exercises.sh compare with a fresh run: the cheap recapture
#          after a code change
#   setup  the Setup chapter's look at the Docker-free cluster (needs that cluster's context)
#   deploy step 08 deployed into the cluster (needs the real node: cluster-up.sh --real-node)
#   deploy-webhook  step 09's webhook deployed into the cluster (the real node too)
#   bench  the "Measuring it" chapter's figures (about 10 minutes; the mirror benchmarks bring
#          up throwaway clusters of their own, see scripts/bench.sh)
#   bench-taskrun  the same chapter's Task runner on a real node (10 minutes or more; Linux, root)
#   faults the Testing chapter's table of the fault suite (scripts/test-faults.sh, 25 minutes)
#
# A transcript is the command line, as `$ command`, then the command's real output (stdout and
# stderr), exactly as it was printed: nothing is wrapped, cut or edited. The book's page wraps a
# line too long for it visibly (book/theme/transcripts.css), so a transcript never has to. The
# programs log in their compact format (LOG_FORMAT=compact: no timestamps, module names or span
# prefixes), except where a transcript shows what only the default format has (the spans that
# name kube's HTTP requests). To make reruns print the same thing, the commands work in one
# namespace, book-demo, which is deleted and created afresh first, and see the context a learner's
# own cluster has (kwok-workshop or kind-workshop, scripts/cluster-up.sh's default), whatever the
# capturing cluster is called: they run with a copy of the kubeconfig whose current context is
# renamed so. Long-running commands (the informer) run in the background while kubectl changes
# things, and are stopped with SIGINT, as Ctrl-C would.
#
# Every file it writes gets its SHA-256 in book/src/transcripts/SHA256SUMS: the book's test
# (solutions/testkit/tests/book.rs) fails on a transcript whose sum differs, so a transcript
# edited by hand, or written by anything but this script, cannot go unnoticed. The check
# transcripts (NN-name-check*.txt) are also compared with a fresh run: the solution's by
# scripts/test.sh, the starter's and the diagnose-left code's by scripts/test-exercises.sh.
# Re-run it after changing what a solution prints, then check the book: scripts/book.sh build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/cluster.sh"
source "$ROOT/scripts/lib/node.sh"
source "$ROOT/scripts/lib/transcripts.sh"

case "${1:-}" in -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

NS=book-demo
OUT="$ROOT/book/src/transcripts"
cd "$ROOT"
# What a learner's fresh shell has: no backtraces, no log filter, and no colour codes in the files.
unset RUST_BACKTRACE RUST_LOG
export NO_COLOR=1
# Log lines as the book shows them: level, message, fields.
export LOG_FORMAT=compact
CAPTURE="${CARGO_TARGET_DIR:-$ROOT/target}/capture"
mkdir -p "$CAPTURE"
# The files this run writes, for SHA256SUMS at the end.
WRITTEN="$CAPTURE/written"
: >"$WRITTEN"

have kubectl || die "kubectl is not installed: install it (https://kubernetes.io/docs/tasks/tools/), then run this again"
kubectl get --raw /readyz >/dev/null 2>&1 \
  || die "no cluster answers for context '$(kubectl config current-context 2>/dev/null || echo none)': start one with scripts/cluster-up.sh"

# The context a learner's own cluster has: the capturing cluster's kind (kwok or kind), named
# `workshop`. Only the copy's context is renamed; the cluster and the credentials are the same.
context=$(kubectl config current-context)
BOOK_CONTEXT="${context%%-*}-workshop"
kubectl config view --minify --raw >"$CAPTURE/kubeconfig"
chmod 600 "$CAPTURE/kubeconfig"
if [ "$context" != "$BOOK_CONTEXT" ]; then
  kubectl --kubeconfig "$CAPTURE/kubeconfig" config rename-context "$context" "$BOOK_CONTEXT" >/dev/null
fi
export KUBECONFIG="$CAPTURE/kubeconfig"

# record FILE COMMAND [EXPECTED_STATUS]: appends "$ COMMAND" and its output to FILE.
# COMMAND is run by bash from the repository root exactly as written.
record() {
  local file=$1 command=$2 expected=${3:-0} status=0
  printf '$ %s\n' "$command" >>"$file"
  bash -c "$command" >>"$file" 2>&1 || status=$?
  [ "$status" = "$expected" ] || { cat "$file" >&2; die "'$command' exited $status, expected $expected"; }
}

# await FILE TEXT [AFTER] [GREP_FLAGS]: waits (at most 30s) until FILE has a line matching TEXT
# after its first AFTER lines. GREP_FLAGS say how it matches: -xF (the default) a whole line,
# exactly; -E an extended regular expression anywhere in a line.
await() {
  local i after=${3:-0} flags=${4:--xF}
  for i in $(seq 1 300); do
    tail -n +"$((after + 1))" "$1" | grep -q "$flags" -- "$2" && return 0
    sleep 0.1
  done
  cat "$1" >&2
  die "'$2' did not appear in $1 within 30s"
}

# A fresh, empty book-demo namespace, with the kube-root-ca.crt ConfigMap the controller-manager
# publishes into every namespace already there (so it is always listed first).
fresh_namespace() {
  say "recreating namespace $NS"
  kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
  kubectl create namespace "$NS" >/dev/null
  local i
  for i in $(seq 1 300); do
    kubectl -n "$NS" get configmap kube-root-ca.crt >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "kube-root-ca.crt did not appear in namespace $NS within 30s (is kube-controller-manager running?)"
}

# start FILE: starts a new transcript.
start() { mkdir -p "$OUT"; : >"$OUT/$1"; echo "$1" >>"$WRITTEN"; echo "$OUT/$1"; }

# capture_checks NN-name: the step's check transcripts (scripts/lib/transcripts.sh): the check on
# the untouched starter (it fails), with only the diagnose exercise left (it fails), and on the
# solution.
capture_checks() {
  local nn=${1%%-*} state suffix command expected t
  while read -r state suffix; do
    command=$(check_command "$nn" "$state")
    expected=1; [ "$state" = solution ] && expected=0
    t=$(start "$1-$suffix.txt")
    if [ "$state" = diagnose ]; then
      with_diagnose_left "$nn" record "$t" "$command" "$expected"
    else
      record "$t" "$command" "$expected"
    fi
  done < <(check_transcript_states)
}

# The Docker-free cluster's fake node, for the Setup chapter: a Pod goes Running, nothing runs.
capture_setup() {
  case "$(kubectl config current-context)" in
    kwok-*) ;;
    *) die "the setup transcript shows the Docker-free cluster: switch to its context (kwok-workshop) first" ;;
  esac
  fresh_namespace
  local t
  t=$(start setup-kwok.txt)
  record "$t" "kubectl get nodes"
  record "$t" "kubectl -n $NS run hello --image=busybox:1.36 --restart=Never -- sh -c 'echo hello; exit 3'"
  record "$t" "kubectl -n $NS wait --for=condition=Ready pod/hello --timeout=60s"
  record "$t" "kubectl -n $NS get pod hello"
  record "$t" "kubectl -n $NS logs hello" 1
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
}

capture_01() {
  cargo build -q -p solution-01-connect -p step-01-connect
  local t
  fresh_namespace
  t=$(start 01-connect-starter.txt)
  record "$t" "cargo run -q -p step-01-connect -- --namespace $NS" 101
  t=$(start 01-connect.txt)
  record "$t" "cargo run -q -p solution-01-connect -- --namespace $NS"
  # kube's log names each request's method and URL in a span, which only the default format shows.
  t=$(start 01-connect-debug.txt)
  record "$t" "RUST_LOG=kube_client=debug LOG_FORMAT=text cargo run -q -p solution-01-connect -- --namespace $NS"
  t=$(start 01-connect-no-such-context.txt)
  record "$t" "cargo run -q -p solution-01-connect -- --context no-such-cluster --namespace $NS" 1
  t=$(start 01-connect-no-such-namespace.txt)
  record "$t" "cargo run -q -p solution-01-connect -- --namespace no-such-namespace"
  t=$(start 01-connect-unreachable.txt)
  record "$t" "kubectl config view --minify --raw | sed 's#server: .*#server: https://127.0.0.1:1#' > /tmp/unreachable.kubeconfig"
  record "$t" "KUBECONFIG=/tmp/unreachable.kubeconfig cargo run -q -p solution-01-connect -- --namespace $NS" 1
  capture_checks 01-connect
  t=$(start 01-connect-compare.txt)
  record "$t" "scripts/compare.sh 01"
}

# watch_while NAME COMMAND [KUBECTL_COMMAND EXPECTED_LINE]...: starts COMMAND (the informer;
# terminal 1, NAME.txt) and waits for its cache to sync, then for each pair runs the kubectl
# command (terminal 2, NAME-kubectl.txt) and waits for the informer to print the expected line
# ("" when it should print nothing: then it gets a second to prove it). Then sends SIGINT.
watch_while() {
  local name=$1 command=$2; shift 2
  in_background -xF "$name" "$command" "cache synced, watching..." "$@"
}

# run_while NAME COMMAND READY [KUBECTL_COMMAND EXPECTED]...: the same for programs that log
# (the controllers of steps 03 to 05): READY and each EXPECTED are extended regular expressions
# matched anywhere in a line that the program prints. READY "" starts the kubectl commands at
# once (a level-triggered controller catches up with whatever happened before it was ready);
# EXPECTED "" waits a second instead (for a kubectl command that only looks).
run_while() {
  local name=$1 command=$2 ready=$3; shift 3
  in_background -E "$name" "$command" "$ready" "$@"
}

# in_background GREP_FLAGS NAME COMMAND READY [KUBECTL_COMMAND EXPECTED]...: what watch_while
# and run_while share; GREP_FLAGS is how `await` matches READY and EXPECTED.
in_background() {
  local flags=$1 name=$2 command=$3 ready=$4; shift 4
  local t1 t2 status=0
  t1=$(start "$name.txt")
  [ $# -eq 0 ] || t2=$(start "$name-kubectl.txt")
  printf '$ %s\n' "$command" >>"$t1"
  # SIGINT after 90s at the latest; normally we send it ourselves below, once all is seen.
  timeout --preserve-status -s INT 90 bash -c "$command" >>"$t1" 2>&1 &
  background_pid=$!
  # If anything below fails, stop the program too.
  trap 'kill -INT "$background_pid" 2>/dev/null || true' EXIT
  [ -z "$ready" ] || await "$t1" "$ready" 0 "$flags"
  local seen
  while [ $# -gt 0 ]; do
    seen=$(wc -l <"$t1")
    record "$t2" "$1"
    if [ -n "$2" ]; then await "$t1" "$2" "$seen" "$flags"; else sleep 1; fi
    shift 2
  done
  # Anything printed after the last expected line would show up here too.
  sleep 1
  kill -INT "$background_pid" 2>/dev/null || true
  wait "$background_pid" || status=$?
  trap - EXIT
  [ "$status" = 0 ] || { cat "$t1" >&2; die "'$command' exited $status after SIGINT, expected 0"; }
}

capture_02() {
  cargo build -q -p solution-02-informer -p step-02-informer
  local t informer="cargo run -q -p solution-02-informer --"
  fresh_namespace
  t=$(start 02-informer-starter.txt)
  record "$t" "cargo run -q -p step-02-informer -- --namespace $NS" 101
  fresh_namespace
  # The list's and the watch's URLs are in kube's spans, which only the default format shows.
  watch_while 02-informer-debug "RUST_LOG=kube_client=debug LOG_FORMAT=text $informer --namespace $NS"
  fresh_namespace
  watch_while 02-informer "$informer --namespace $NS" \
    "kubectl create configmap demo -n $NS --from-literal=color=red" "ADD $NS/demo" \
    "kubectl patch configmap demo -n $NS --type merge -p '{\"data\":{\"color\":\"blue\"}}'" "UPDATE $NS/demo" \
    "kubectl delete configmap demo -n $NS" "DELETE $NS/demo"
  fresh_namespace
  watch_while 02-informer-selector "$informer --namespace $NS --selector app=demo" \
    "kubectl create configmap demo -n $NS --from-literal=color=red" "" \
    "kubectl label configmap demo -n $NS app=demo" "ADD $NS/demo" \
    "kubectl label configmap demo -n $NS app-" "DELETE $NS/demo" \
    "kubectl delete configmap demo -n $NS" ""
  fresh_namespace
  watch_while 02-informer-unchanged "$informer --namespace $NS" \
    "kubectl create configmap demo -n $NS --from-literal=color=red" "ADD $NS/demo" \
    "kubectl patch configmap demo -n $NS --type merge -p '{\"data\":{\"color\":\"red\"}}'" "" \
    "kubectl patch configmap demo -n $NS --type merge -p '{\"data\":{\"color\":\"blue\"}}'" "UPDATE $NS/demo"
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  capture_checks 02-informer
}

capture_03() {
  cargo build -q -p solution-03-workqueue -p step-03-workqueue
  local t queue="cargo run -q -p solution-03-workqueue --"
  fresh_namespace
  t=$(start 03-workqueue-starter.txt)
  record "$t" "cargo run -q -p step-03-workqueue -- --namespace $NS" 1
  # The payoff: every key fails four times on purpose, backs off 5, 10, 20, 40 ms, then succeeds.
  run_while 03-workqueue "$queue --namespace $NS --fail-first 4" "kube-root-ca\.crt +try 5 at .* ok$" \
    "kubectl create configmap demo -n $NS --from-literal=color=red" "$NS/demo +try 5 at .* ok$"
  # A key that keeps failing: the waits double until the program is stopped.
  fresh_namespace
  run_while 03-workqueue-forever "$queue --namespace $NS --fail-first 1000" "kube-root-ca\.crt +try 12 at "
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  t=$(start 03-workqueue-bench.txt)
  # Each benchmark's name, time and throughput; not criterion's comparison with an earlier run.
  record "$t" "cargo bench -q -p solution-03-workqueue 2>/dev/null | awk '/^workqueue\\//{print; on=1; next} /change:/{on=0} on && /time:|thrpt:/'"
  capture_checks 03-workqueue
}

# The mirror's experiments, shared by steps 04 and 05. MIRROR is the command that runs the
# controller, READY what it prints once its cache has synced ("" for none), PREFIX the
# transcripts' file name prefix.
mirror_captures() {
  local mirror=$1 ready=$2 prefix=$3
  # The payoff: the companion appears, heals, and goes with its source.
  fresh_namespace
  run_while "$prefix" "$mirror --namespace $NS" "$ready" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion" \
    "kubectl get configmaps -n $NS" "" \
    "kubectl delete configmap colors-synced -n $NS" "created companion" \
    "kubectl get configmaps -n $NS" "" \
    "kubectl delete configmap colors -n $NS" "" \
    "kubectl wait --for=delete configmap/colors-synced -n $NS --timeout=30s" "" \
    "kubectl get configmaps -n $NS" ""
}

capture_04() {
  cargo build -q -p solution-04-mirror -p step-04-mirror
  local t mirror="cargo run -q -p solution-04-mirror --"
  fresh_namespace
  # The starter meets its first todo!() at the first reconcile: give it a source to reconcile.
  kubectl apply -n "$NS" -f manifests/samples/colors.yaml >/dev/null
  t=$(start 04-mirror-starter.txt)
  record "$t" "cargo run -q -p step-04-mirror -- --namespace $NS" 1
  mirror_captures "$mirror" "cache synced" 04-mirror
  # A hand edit is healed; the companion, up close.
  fresh_namespace
  run_while 04-mirror-edit "$mirror --namespace $NS" "cache synced" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion" \
    "kubectl patch configmap colors-synced -n $NS --type merge -p '{\"data\":{\"red\":\"pink\",\"extra\":\"key\"}}'" "healed companion" \
    "kubectl get configmap colors-synced -n $NS -o yaml" ""
  # A ConfigMap that only has the companion's name is never touched.
  fresh_namespace
  run_while 04-mirror-foreign "$mirror --namespace $NS" "cache synced" \
    "kubectl create configmap x-synced -n $NS --from-literal=mine=precious" "" \
    "kubectl create configmap x -n $NS --from-literal=a=1" "" \
    "kubectl label configmap x -n $NS workshop.io/managed=true" "attempt=6 " \
    "kubectl get configmap x-synced -n $NS -o jsonpath='{.data}{\"\\n\"}'" "" \
    "kubectl events -n $NS --for configmap/x" "" \
    "kubectl delete configmap x-synced -n $NS" "created companion"
  # Unmanaged: the label goes, the companion goes.
  fresh_namespace
  run_while 04-mirror-unmanage "$mirror --namespace $NS" "cache synced" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion" \
    "kubectl label configmap colors -n $NS workshop.io/managed-" "deleted companion" \
    "kubectl get configmaps -n $NS" ""
  # A change that changes nothing in the companion writes nothing.
  fresh_namespace
  run_while 04-mirror-noop "$mirror --namespace $NS" "cache synced" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion" \
    "kubectl get configmap colors-synced -n $NS -o jsonpath='{.metadata.resourceVersion}{\"\\n\"}'" "" \
    "kubectl label configmap colors -n $NS unrelated=change" "" \
    "kubectl get configmap colors-synced -n $NS -o jsonpath='{.metadata.resourceVersion}{\"\\n\"}'" ""
  # Orphan the companion, then make a new source with the same name: a new uid, not its owner.
  fresh_namespace
  run_while 04-mirror-orphan "$mirror --namespace $NS" "cache synced" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion" \
    "kubectl delete configmap colors -n $NS --cascade=orphan" "" \
    "kubectl get configmap colors-synced -n $NS -o jsonpath='{.metadata.ownerReferences}{\"\\n\"}'" "" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "attempt=3 " \
    "kubectl events -n $NS --for configmap/colors" ""
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  # The ServiceAccount's permissions, exactly the verbs the mirror calls.
  kubectl apply -f manifests/rbac/mirror.yaml >/dev/null
  t=$(start 04-mirror-rbac.txt)
  local as="--as=system:serviceaccount:workshop-system:configmap-mirror"
  record "$t" "kubectl auth can-i -n $NS list configmaps $as"
  record "$t" "kubectl auth can-i -n $NS get configmaps $as" 1
  record "$t" "kubectl auth can-i -n $NS update configmaps $as"
  record "$t" "kubectl auth can-i -n $NS patch configmaps $as" 1
  record "$t" "kubectl auth can-i -n $NS create events.events.k8s.io $as"
  record "$t" "kubectl auth can-i -n $NS list secrets $as" 1
  capture_checks 04-mirror
}

# A fresh, empty second namespace, $NS-copies: where the mirror into another namespace keeps
# its companions. Its ConfigMaps lose their finalizers first, or it would never go.
fresh_copies() {
  local copies="$NS-copies" cm
  say "recreating namespace $copies"
  for cm in $(kubectl get configmaps -n "$NS" -o name 2>/dev/null); do
    kubectl patch -n "$NS" "$cm" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null
  done
  kubectl delete namespace "$copies" --ignore-not-found --wait=true --timeout=120s >/dev/null
  kubectl create namespace "$copies" >/dev/null
}

# until_companion COMMAND: runs the mirror COMMAND until the sample's colors has its companion,
# then stops it as Ctrl-C would: a mirror that did its work and is down now.
until_companion() {
  local log pid status=0
  log=$(mktemp)
  timeout --preserve-status -s INT 90 bash -c "$1" >"$log" 2>&1 &
  pid=$!
  kubectl apply -n "$NS" -f manifests/samples/colors.yaml >/dev/null
  await "$log" "created companion" 0 -E
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  [ "$status" = 0 ] || { cat "$log" >&2; die "'$1' exited $status after SIGINT, expected 0"; }
  rm -f "$log"
}

# Step 05's mirror into another namespace ($NS into $NS-copies), whose sources carry a finalizer:
# what the garbage collector does to an owner reference across namespaces, the mirror at work,
# a source deleted while the controller is down (Terminating until it is back), an operator
# taking the finalizer off by hand, and the ServiceAccount's permissions. CONTROLLER runs it.
capture_05_into() {
  local controller=$1 t
  local into="$controller --namespace $NS --into $NS-copies"
  local finalizers="kubectl get configmap colors -n $NS -o custom-columns=DELETED:.metadata.deletionTimestamp,FINALIZERS:.metadata.finalizers"
  fresh_copies; fresh_namespace
  kubectl apply -n "$NS" -f manifests/samples/colors.yaml >/dev/null
  t=$(start 05-controller-gc-across.txt)
  record "$t" "kubectl create -n $NS-copies -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: colors-synced
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: colors
    uid: \$(kubectl get configmap colors -n $NS -o jsonpath='{.metadata.uid}')
data: { red: '#f00' }
YAML"
  record "$t" "sleep 5; kubectl get configmap colors-synced -n $NS-copies" 1
  record "$t" "kubectl get events -n $NS-copies -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message"
  # The mirror at work.
  fresh_copies; fresh_namespace
  run_while 05-controller-into "$into" "" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion" \
    "kubectl get configmaps -n $NS-copies" "" \
    "$finalizers" "" \
    "kubectl label configmap colors -n $NS workshop.io/managed-" "removed the finalizer" \
    "$finalizers" "" \
    "kubectl label configmap colors -n $NS workshop.io/managed=true" "created companion" \
    "kubectl delete configmap colors -n $NS" "deleted companion" \
    "kubectl get configmaps -n $NS-copies" ""
  # Deleted while the controller is down: Terminating, until it is back.
  fresh_copies; fresh_namespace
  until_companion "$into"
  t=$(start 05-controller-into-down.txt)
  record "$t" "kubectl delete configmap colors -n $NS --wait=false"
  record "$t" "sleep 2; $finalizers"
  record "$t" "kubectl get configmaps -n $NS-copies"
  run_while 05-controller-into-back "$into" "deleted companion" \
    "kubectl wait --for=delete configmap/colors -n $NS --timeout=30s" "" \
    "kubectl get configmaps -n $NS" "" \
    "kubectl get configmaps -n $NS-copies" ""
  # An operator takes the finalizer off by hand, while the controller is down: the cost.
  fresh_copies; fresh_namespace
  until_companion "$into"
  t=$(start 05-controller-into-unstick.txt)
  record "$t" "kubectl delete configmap colors -n $NS --wait=false"
  record "$t" "kubectl patch configmap colors -n $NS --type json -p '[
  {\"op\": \"test\", \"path\": \"/metadata/finalizers/0\", \"value\": \"workshop.io/companion-cleanup\"},
  {\"op\": \"remove\", \"path\": \"/metadata/finalizers/0\"}]'"
  record "$t" "kubectl get configmaps -n $NS"
  record "$t" "kubectl get configmaps -n $NS-copies -l workshop.io/source-namespace=$NS -L workshop.io/source-uid"
  record "$t" "kubectl delete configmap colors-synced -n $NS-copies"
  # The ServiceAccount's permissions: two roles, each bound in one namespace.
  kubectl apply -f manifests/rbac/mirror.yaml >/dev/null
  t=$(start 05-controller-into-rbac.txt)
  local sa="workshop-system:configmap-mirror-into" as="--as=system:serviceaccount:workshop-system:configmap-mirror-into"
  record "$t" "kubectl create rolebinding configmap-mirror-into-source -n $NS --clusterrole=configmap-mirror-into-source --serviceaccount=$sa"
  record "$t" "kubectl create rolebinding configmap-mirror-into-target -n $NS-copies --clusterrole=configmap-mirror-into-target --serviceaccount=$sa"
  # The authorizer learns of new RoleBindings a moment after they are made.
  local i
  for i in $(seq 1 50); do
    kubectl auth can-i get configmaps -n "$NS-copies" "$as" >/dev/null 2>&1 && break
    sleep 0.1
  done
  record "$t" "kubectl auth can-i patch configmaps -n $NS $as"
  record "$t" "kubectl auth can-i patch configmaps -n $NS-copies $as" 1
  record "$t" "kubectl auth can-i get configmaps -n $NS $as" 1
  record "$t" "kubectl auth can-i get configmaps -n $NS-copies $as"
  record "$t" "kubectl auth can-i delete configmaps -n $NS $as" 1
  record "$t" "kubectl auth can-i delete configmaps -n $NS-copies $as"
  record "$t" "kubectl auth can-i list configmaps -n default $as" 1
}

capture_05() {
  cargo build -q -p solution-05-controller -p step-05-controller
  local t controller="cargo run -q -p solution-05-controller --"
  fresh_namespace
  t=$(start 05-controller-starter.txt)
  record "$t" "cargo run -q -p step-05-controller -- --namespace $NS" 101
  # The Controller logs nothing when its cache is ready: the kubectl commands start at once.
  mirror_captures "$controller" "" 05-controller
  # Every reconcile, and what the runtime does when the source is gone.
  fresh_namespace
  run_while 05-controller-debug "RUST_LOG=info,connect=debug $controller --namespace $NS" "kube-root-ca\.crt" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "reconciled object=.*/colors-synced\\." \
    "kubectl delete configmap colors -n $NS" "not found in local store"
  # Per-object backoff, kept in the Context.
  fresh_namespace
  run_while 05-controller-fail-first "$controller --namespace $NS --fail-first 4" "kube-root-ca\.crt.*failure 4 of 4" \
    "kubectl apply -n $NS -f manifests/samples/colors.yaml" "created companion"
  capture_05_into "$controller"
  kubectl delete namespace "$NS" "$NS-copies" --ignore-not-found --wait=false >/dev/null
  # Lines of code per file, without tests (a file's #[cfg(test)] module, at its end), blank lines
  # and comments: how much of steps 02 to 04 the runtime replaced.
  local loc='awk '\''
  FNR == 1 { test = 0 }
  /^#\[cfg\(test\)\]/ { test = 1 }
  !test && !/^[[:space:]]*(\/\/|$)/ { n[FILENAME]++ }
  END { for (f in n) printf "%4d  %s\n", n[f], f }
'\'' solutions/0[2-5]-*/src/*.rs | sort -k2'
  t=$(start 05-controller-loc.txt)
  record "$t" "$loc"
  capture_checks 05-controller
}

# Step 06 talks to the API server only: the CRDs, the program, kubectl reading and rejecting.
capture_06() {
  cargo build -q -p solution-06-crds -p step-06-crds
  local t run broken_task bad_runs typo
  t=$(start 06-crds-apply.txt)
  record "$t" "kubectl apply -f manifests/crds/"
  record "$t" "kubectl wait --for=condition=Established crd/tasks.workshop.io crd/taskruns.workshop.io --timeout=30s"
  record "$t" "kubectl api-resources --api-group=workshop.io"
  fresh_namespace
  t=$(start 06-crds-starter.txt)
  record "$t" "cargo run -q -p step-06-crds -- --namespace $NS" 101
  t=$(start 06-crds.txt)
  record "$t" "cargo run -q -p solution-06-crds -- --namespace $NS"
  t=$(start 06-crds-get.txt)
  record "$t" "kubectl get taskruns -n $NS"
  record "$t" "kubectl get tasks -n $NS"
  record "$t" "kubectl get workshop -n $NS"
  t=$(start 06-crds-explain.txt)
  record "$t" "kubectl explain task.spec.steps"
  # Invalid objects: every problem of one object is reported at once, and nothing is stored.
  read -r -d '' broken_task <<'YAML' || true
apiVersion: workshop.io/v1alpha1
kind: Task
metadata:
  name: broken
spec:
  steps:
    - name: Greet
      image: ""
      script: echo hi
      command: [echo]
    - name: count
      image: busybox:1.37
    - name: count
      image: busybox:1.37
YAML
  t=$(start 06-crds-invalid-task.txt)
  record "$t" "kubectl apply -n $NS -f - <<'EOF'
$broken_task
EOF" 1
  read -r -d '' bad_runs <<'YAML' || true
apiVersion: workshop.io/v1alpha1
kind: TaskRun
metadata:
  name: whenever
spec:
  taskRef:
    name: hello
  timeout: 5 minutes
---
apiVersion: workshop.io/v1alpha1
kind: TaskRun
metadata:
  name: too-soon
spec:
  taskRef:
    name: hello
  timeout: 0s
YAML
  t=$(start 06-crds-invalid-run.txt)
  record "$t" "kubectl apply -n $NS -f - <<'EOF'
$bad_runs
EOF" 1
  record "$t" "kubectl get taskruns -n $NS -o name"
  # Play the controller: the spec cannot change, the status only through its subresource.
  t=$(start 06-crds-status.txt)
  record "$t" "kubectl create -n $NS -f manifests/samples/hello-taskrun.yaml"
  run=$(sed -n 's#^taskrun.workshop.io/\(hello-[a-z0-9]*\) created$#\1#p' "$t")
  [ -n "$run" ] || { cat "$t" >&2; die "no TaskRun name in $t"; }
  record "$t" "kubectl patch taskrun $run -n $NS --type merge -p '{\"spec\":{\"timeout\":\"10m\"}}'" 1
  record "$t" "kubectl label taskrun $run -n $NS team=workshop"
  record "$t" "kubectl patch taskrun $run -n $NS --type merge -p '{\"status\":{\"phase\":\"Running\"}}'"
  record "$t" "kubectl patch taskrun $run -n $NS --subresource=status --type merge -p '{\"status\":{\"phase\":\"Running\",\"podName\":\"pretend\"}}'"
  record "$t" "kubectl get taskrun $run -n $NS"
  # Break it: a misspelt field. Strict validation (kubectl's default) rejects it; without it,
  # the API server drops what its schema does not know.
  read -r -d '' typo <<'YAML' || true
apiVersion: workshop.io/v1alpha1
kind: Task
metadata:
  name: typo
spec:
  steps:
    - name: greet
      image: busybox:1.37
      scirpt: echo hi
YAML
  t=$(start 06-crds-typo.txt)
  record "$t" "kubectl apply -n $NS -f - <<'EOF'
$typo
EOF" 1
  record "$t" "kubectl apply -n $NS --validate=warn -f - <<'EOF'
$typo
EOF"
  record "$t" "kubectl get task typo -n $NS -o jsonpath='{.spec}{\"\\n\"}'"
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  capture_checks 06-crds
}

# newest_run: the name of the newest TaskRun in $NS (the plugin's runs get generated names).
newest_run() {
  kubectl get taskruns -n "$NS" --sort-by=.metadata.creationTimestamp \
    -o jsonpath='{.items[-1:].metadata.name}'
}

# Step 07's "Break it": a run that waits for its Task, and a Pod deleted in the middle of a run.
capture_07_break() {
  local t pid
  "${CARGO_TARGET_DIR:-$ROOT/target}/debug/solution-07-taskrun" --namespace "$NS" 2>/dev/null &
  pid=$!
  t=$(start 07-taskrun-break.txt)
  record "$t" "kubectl create -n $NS -f - <<'YAML'
apiVersion: workshop.io/v1alpha1
kind: TaskRun
metadata: { name: early }
spec: { taskRef: { name: later } }
YAML"
  record "$t" "sleep 2; kubectl get taskrun early -n $NS -o custom-columns=PHASE:.status.phase,REASON:.status.conditions[0].reason"
  record "$t" "kubectl create -n $NS -f - <<'YAML'
apiVersion: workshop.io/v1alpha1
kind: Task
metadata: { name: later }
spec: { steps: [ { name: hi, image: busybox:1.37, script: echo hi } ] }
YAML"
  record "$t" "kubectl wait taskrun/early -n $NS --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s"
  record "$t" "kubectl create -n $NS -f - <<'YAML'
apiVersion: workshop.io/v1alpha1
kind: Task
metadata: { name: slow }
spec: { steps: [ { name: nap, image: busybox:1.37, script: sleep 600 } ] }
---
apiVersion: workshop.io/v1alpha1
kind: TaskRun
metadata: { name: interrupted }
spec: { taskRef: { name: slow } }
YAML"
  record "$t" "kubectl wait taskrun/interrupted -n $NS --for=jsonpath='{.status.phase}'=Running --timeout=60s"
  record "$t" "kubectl delete pod interrupted-pod -n $NS"
  record "$t" "kubectl wait taskrun/interrupted -n $NS --for=jsonpath='{.status.phase}'=Failed --timeout=60s"
  record "$t" "kubectl get taskrun interrupted -n $NS -o custom-columns=PHASE:.status.phase,REASON:.status.conditions[0].reason"
  record "$t" "kubectl get taskrun interrupted -n $NS -o jsonpath='{.status.conditions[0].message}{\"\\n\"}'"
  record "$t" "sleep 2; kubectl get pods -n $NS -l workshop.io/taskrun=interrupted"
  kill "$pid" 2>/dev/null || true
}

# Step 07: a stranger's Pod with the name a run's Pod will have: the run waits, and says why.
capture_07_blocked() {
  local t pid
  "${CARGO_TARGET_DIR:-$ROOT/target}/debug/solution-07-taskrun" --namespace "$NS" 2>/dev/null &
  pid=$!
  t=$(start 07-taskrun-blocked.txt)
  record "$t" "kubectl run blocked-pod -n $NS --image=busybox:1.37 --restart=Never -- sleep 600"
  record "$t" "kubectl create -n $NS -f - <<'YAML'
apiVersion: workshop.io/v1alpha1
kind: TaskRun
metadata: { name: blocked }
spec: { taskRef: { name: hello } }
YAML"
  record "$t" "kubectl wait taskrun/blocked -n $NS --for=jsonpath='{.status.conditions[0].reason}'=PodNameTaken --timeout=60s"
  record "$t" "kubectl get taskrun blocked -n $NS -o jsonpath='{.status.conditions[0].message}{\"\\n\"}'"
  kill "$pid" 2>/dev/null || true
}

capture_07() {
  cargo build -q -p solution-07-taskrun -p step-07-taskrun --bins
  # `kubectl task` is the plugin program kubectl-task, found on PATH (cargo install puts it there).
  local t saved_path=$PATH
  export PATH="${CARGO_TARGET_DIR:-$ROOT/target}/debug:$PATH"
  kubectl apply -f manifests/crds/ >/dev/null
  fresh_namespace
  run_while 07-taskrun "cargo run -q -p solution-07-taskrun -- --namespace $NS" "" \
    "kubectl apply -n $NS -f manifests/samples/hello-task.yaml" "" \
    "kubectl task start hello -n $NS -p who=book --follow" "" \
    "kubectl get taskruns -n $NS" "" \
    "kubectl get pods -n $NS" ""
  # What the run's containers printed (a real node's; KWOK's fake node has none to show).
  t=$(start 07-taskrun-logs.txt)
  record "$t" "kubectl task logs $(newest_run) -n $NS"
  capture_07_break
  t=$(start 07-taskrun-events.txt)
  record "$t" "kubectl get events -n $NS --field-selector involvedObject.kind=TaskRun --sort-by=.metadata.creationTimestamp -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message"
  capture_07_blocked
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  export PATH=$saved_path
  capture_checks 07-taskrun
}

# Step 08: two replicas, one leader; the leader killed, then the other stopped cleanly.
capture_08() {
  cargo build -q -p solution-08-production -p step-08-production -p solution-07-taskrun --bins
  local t a b program="target/debug/solution-08-production" saved_path=$PATH
  export PATH="${CARGO_TARGET_DIR:-$ROOT/target}/debug:$PATH"
  kubectl apply -f manifests/crds/ >/dev/null
  fresh_namespace
  kubectl apply -n "$NS" -f manifests/samples/hello-task.yaml >/dev/null
  a=$(start 08-production-a.txt)
  b=$(start 08-production-b.txt)
  # The replicas' Lease is in the learner's namespace (a shared cluster has one Lease per learner).
  local replica="--namespace $NS --lease-namespace $NS --lease-name taskrun-controller"
  printf '$ %s\n' "$program $replica --identity replica-a --listen 127.0.0.1:8081" >>"$a"
  # shellcheck disable=SC2086 # $replica is flags, split on purpose
  "$program" $replica --identity replica-a --listen 127.0.0.1:8081 >>"$a" 2>&1 &
  local pid_a=$!
  await "$a" "became the leader" 0 -E
  printf '$ %s\n' "$program $replica --identity replica-b --listen 127.0.0.1:8082" >>"$b"
  # shellcheck disable=SC2086
  "$program" $replica --identity replica-b --listen 127.0.0.1:8082 >>"$b" 2>&1 &
  local pid_b=$!
  trap 'kill -KILL "$pid_a" "$pid_b" 2>/dev/null || true' EXIT
  await "$b" "caches synced" 0 -E
  local lease="kubectl get lease taskrun-controller -n $NS -o custom-columns=HOLDER:.spec.holderIdentity,TRANSITIONS:.spec.leaseTransitions"
  local metrics="grep -E '^taskrun_controller_(leader|reconciles_total)'"
  t=$(start 08-production-failover.txt)
  record "$t" "$lease"
  record "$t" "kubectl task start hello -n $NS --follow"
  record "$t" "curl -s localhost:8081/metrics | $metrics"
  record "$t" "curl -s localhost:8082/metrics | $metrics"
  record "$t" "curl -s -o /dev/null -w '%{http_code}\\n' localhost:8082/readyz"
  printf '$ %s\n' "kill -KILL $pid_a    # replica-a" >>"$t"
  kill -KILL "$pid_a"
  record "$t" "time kubectl task start hello -n $NS --follow"
  record "$t" "kubectl task logs $(newest_run) -n $NS"
  record "$t" "$lease"
  record "$t" "curl -s localhost:8082/metrics | $metrics"
  t=$(start 08-production-shutdown.txt)
  printf '$ %s\n' "kill -TERM $pid_b    # replica-b" >>"$t"
  kill -TERM "$pid_b"
  local status=0
  wait "$pid_b" || status=$?
  [ "$status" = 0 ] || { cat "$b" >&2; die "replica-b exited $status after SIGTERM, expected 0"; }
  record "$t" "$lease"
  trap - EXIT
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  export PATH=$saved_path
  t=$(start 08-production-json.txt)
  record "$t" "timeout -s INT 2 $program --namespace $NS --lease-namespace $NS --listen 127.0.0.1:0 --log-format json 2>&1 | head -n 2"
  capture_checks 08-production
}

# Step 08 deployed into the cluster, on the real node of `cluster-up.sh --real-node`: the Pods,
# a run, its output, the leader's Pod deleted and the standby taking the Lease. Removes the
# Deployment afterwards (it watches every namespace).
capture_deploy() {
  kubectl get node "$NODE_NAME" >/dev/null 2>&1 \
    || die "the deploy transcript needs the real node: scripts/cluster-up.sh --real-node"
  say "deploying step 08 (scripts/deploy-real-node.sh: a release build, minutes the first time)"
  scripts/deploy-real-node.sh >&2
  local t leader standby lease="kubectl get lease taskrun-controller -n workshop-system -o custom-columns=HOLDER:.spec.holderIdentity,TRANSITIONS:.spec.leaseTransitions" saved_path=$PATH
  export PATH="${CARGO_TARGET_DIR:-$ROOT/target}/debug:$PATH"
  cargo build -q -p solution-07-taskrun --bin kubectl-task
  fresh_namespace
  kubectl apply -n "$NS" -f manifests/samples/hello-task.yaml >/dev/null
  t=$(start 08-production-deploy.txt)
  record "$t" "kubectl get pods -n workshop-system"
  record "$t" "kubectl get pods -n workshop-system -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName"
  record "$t" "$lease"
  record "$t" "kubectl task start hello -n $NS -p who=cluster --follow"
  record "$t" "kubectl task logs $(newest_run) -n $NS"
  leader=$(kubectl get lease taskrun-controller -n workshop-system -o jsonpath='{.spec.holderIdentity}')
  standby=$(kubectl get pods -n workshop-system -l app.kubernetes.io/name=taskrun-controller \
    -o jsonpath='{.items[*].metadata.name}' | tr ' ' '\n' | grep -vx "$leader" | head -n 1)
  [ -n "$leader" ] && [ -n "$standby" ] || die "no leader and standby to fail over between"
  record "$t" "kubectl delete pod $leader -n workshop-system --wait=false"
  record "$t" "time kubectl wait lease/taskrun-controller -n workshop-system --for=jsonpath='{.spec.holderIdentity}'=$standby --timeout=60s"
  record "$t" "$lease"
  kubectl -n workshop-system delete deployment taskrun-controller --cascade=foreground --timeout=120s >/dev/null
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  export PATH=$saved_path
}

# A run of a Task that does not exist (a typo of hello), for step 09's webhook to refuse.
MISSING_TASK_RUN='apiVersion: workshop.io/v1alpha1
kind: TaskRun
metadata: { generateName: typo- }
spec: { taskRef: { name: helo } }'

# await_webhook: waits (at most 30s) until the API server calls the webhook registered for $NS,
# that is until a dry run of a run of a missing Task is refused by it. A dry run stores nothing;
# the webhook logs it (dry_run=true).
await_webhook() {
  local i answer
  for i in $(seq 1 150); do
    answer=$(kubectl create -n "$NS" --dry-run=server -f - <<<"$MISSING_TASK_RUN" 2>&1 || true)
    [[ $answer == *'admission webhook "task-exists.workshop.io" denied the request'* ]] && return 0
    sleep 0.2
  done
  die "the API server did not call the webhook of namespace $NS within 30s"
}

# Step 09: the webhook on this machine, registered for book-demo: a run of a missing Task is
# refused, one of an existing Task admitted. Then the webhook stopped, with failurePolicy Fail
# (refused, and only in book-demo), and with Ignore (admitted unchecked).
capture_09() {
  cargo build -q -p solution-09-webhook -p step-09-webhook
  local t log pid status=0 program="target/debug/solution-09-webhook"
  local policy="-o jsonpath='{.webhooks[0].failurePolicy}{\"\\n\"}'"
  kubectl apply -f manifests/crds/ >/dev/null
  fresh_namespace
  kubectl delete validatingwebhookconfiguration "taskrun-webhook-$NS" --ignore-not-found >/dev/null
  log=$(start 09-webhook.txt)
  printf '$ %s\n' "$program --namespace $NS" >>"$log"
  "$program" --namespace "$NS" >>"$log" 2>&1 &
  pid=$!
  trap 'kill -INT "$pid" 2>/dev/null || true' EXIT
  await "$log" "registered" 0 -E
  await_webhook
  t=$(start 09-webhook-kubectl.txt)
  # The registration as the API server stores it (defaults filled in), but the caBundle: a
  # line of base64.
  record "$t" "kubectl get validatingwebhookconfiguration taskrun-webhook-$NS -o yaml | grep -v caBundle"
  record "$t" "kubectl apply -n $NS -f manifests/samples/hello-task.yaml"
  record "$t" "kubectl create -n $NS -f manifests/samples/hello-taskrun.yaml"
  record "$t" "kubectl create -n $NS -f - <<'EOF'
$MISSING_TASK_RUN
EOF" 1
  record "$t" "kubectl get taskruns -n $NS"
  # Down, with failurePolicy Fail: the registration stays, nobody answers.
  t=$(start 09-webhook-down.txt)
  printf '$ %s\n' "kill -INT $pid    # the webhook stops" >>"$t"
  kill -INT "$pid"
  wait "$pid" || status=$?
  trap - EXIT
  [ "$status" = 0 ] || { cat "$log" >&2; die "the webhook exited $status after SIGINT, expected 0"; }
  record "$t" "kubectl get validatingwebhookconfiguration taskrun-webhook-$NS $policy"
  record "$t" "kubectl create -n $NS -f manifests/samples/hello-taskrun.yaml" 1
  # Another namespace (a learner's next door, say) is not guarded: its runs go through.
  kubectl create namespace "$NS-other" >/dev/null
  record "$t" "kubectl create -n $NS-other --dry-run=server -f - <<'EOF'
$MISSING_TASK_RUN
EOF"
  kubectl delete namespace "$NS-other" --wait=false >/dev/null
  # Down, with failurePolicy Ignore: admitted unchecked.
  t=$(start 09-webhook-ignore.txt)
  record "$t" "timeout -s INT 3 $program --namespace $NS --failure-policy Ignore 2>&1 | grep -E 'registered|stopped'"
  record "$t" "kubectl get validatingwebhookconfiguration taskrun-webhook-$NS $policy"
  record "$t" "kubectl create -n $NS -f - <<'EOF'
$MISSING_TASK_RUN
EOF"
  record "$t" "kubectl delete validatingwebhookconfiguration taskrun-webhook-$NS"
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
  capture_checks 09-webhook
}

# Step 09's webhook deployed into the cluster, on the real node of `cluster-up.sh --real-node`:
# called by the API server through its Service. Removes it afterwards (its registration too).
capture_deploy_webhook() {
  kubectl get node "$NODE_NAME" >/dev/null 2>&1 \
    || die "the webhook's deploy transcript needs the real node: scripts/cluster-up.sh --real-node"
  fresh_namespace
  say "deploying step 09's webhook (scripts/deploy-real-node.sh: a release build, minutes the first time)"
  scripts/deploy-real-node.sh --package solution-09-webhook --namespace "$NS" >&2
  await_webhook
  local t
  t=$(start 09-webhook-deploy.txt)
  record "$t" "kubectl get pods -n workshop-system -l app.kubernetes.io/name=taskrun-webhook -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName"
  record "$t" "kubectl get validatingwebhookconfiguration taskrun-webhook-$NS -o jsonpath='{.webhooks[0].clientConfig.service}{\"\\n\"}'"
  record "$t" "kubectl create -n $NS -f - <<'EOF'
$MISSING_TASK_RUN
EOF" 1
  record "$t" "kubectl logs -n workshop-system deployment/taskrun-webhook | grep -E 'registered|dry_run\":false'"
  kubectl -n workshop-system delete deployment taskrun-webhook --cascade=foreground --timeout=120s >/dev/null
  kubectl delete validatingwebhookconfiguration "taskrun-webhook-$NS" >/dev/null
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null
}

# The "Measuring it" chapter's figures: the tables the benchmarks print, copied under the command
# that printed them. The mirror benchmarks (scripts/bench.sh, a throwaway cluster each, a few
# minutes each) keep their figures in target/bench/mirror-NN.txt; the transcript is the table
# from there, with the repository's path left out. Run one benchmark at a time: they compete for
# the CPU, and so does anything else the machine is doing (bench-machine.txt says how busy it was).
capture_bench() {
  local t step command figures
  t=$(start bench-machine.txt)
  record "$t" "nproc"
  record "$t" "cat /proc/loadavg"
  for step in 04 05; do
    command="scripts/bench.sh mirror"
    [ "$step" = 04 ] || command+=" --step $step"
    say "running $command (progress below; the table goes to book/src/transcripts/bench-mirror-$step.txt)"
    # shellcheck disable=SC2086 # the command is words, split on purpose
    $command >&2
    figures="${CARGO_TARGET_DIR:-$ROOT/target}/bench/mirror-$step.txt"
    t=$(start "bench-mirror-$step.txt")
    printf '$ %s\n' "$command" >>"$t"
    sed -n '/^mirror benchmark: /,$p' "$figures" | sed "s#$ROOT/##" >>"$t"
    grep -q ' targets met$' "$t" || { cat "$figures" >&2; die "no table in $figures"; }
  done
  t=$(start bench-workqueue.txt)
  # Each benchmark's name, time and throughput; not criterion's comparison with an earlier run.
  record "$t" "cargo bench -q -p solution-03-workqueue 2>/dev/null | awk '/^workqueue\\//{print; on=1; next} /change:/{on=0} on && /time:|thrpt:/'"
}

# The Task runner's benchmark on the real node (`scripts/bench.sh taskrun --real-node`, its own
# throwaway cluster, 10 minutes or more): the table.
capture_bench_taskrun() {
  local t command="scripts/bench.sh taskrun --real-node" figures
  figures="${CARGO_TARGET_DIR:-$ROOT/target}/bench/taskrun.txt"
  t=$(start bench-taskrun-real.txt)
  say "running $command (progress below; the table goes to ${t#"$ROOT"/})"
  # shellcheck disable=SC2086 # the command is words, split on purpose
  $command >&2
  printf '$ %s\n' "$command" >>"$t"
  sed -n '/^taskrun benchmark: /,$p' "$figures" | sed "s#$ROOT/##" >>"$t"
  grep -q ' targets met$' "$t" || { cat "$figures" >&2; die "no table in $figures"; }
}

# The fault suite's table (the Testing chapter): scripts/test-faults.sh (its own throwaway
# cluster, 25 minutes or more), then the table its run printed, from its header line on.
capture_faults() {
  local t figures="${CARGO_TARGET_DIR:-$ROOT/target}/faults/summary.txt"
  say "running scripts/test-faults.sh (progress below; the table goes to book/src/transcripts/faults-summary.txt)"
  scripts/test-faults.sh >&2
  t=$(start faults-summary.txt)
  sed -n '/^scenario /,$p' "$figures" >>"$t"
  grep -qE '^[0-9]+ passed, 0 failed$' "$t" || { cat "$figures" >&2; die "no table in $figures"; }
}

steps=("$@")
checks_only=false
if [ "${steps[0]:-}" = checks ]; then checks_only=true; steps=("${steps[@]:1}"); fi
if [ ${#steps[@]} -eq 0 ]; then
  for dir in "$ROOT"/solutions/[0-9][0-9]-*/; do steps+=("$(basename "$dir" | cut -c1-2)"); done
fi
for nn in "${steps[@]}"; do
  if [ "$nn" = setup ]; then say "setup: capturing against context $(kubectl config current-context)"; capture_setup; continue; fi
  if [ "$nn" = deploy ]; then say "deploy: step 08 in the cluster, on the real node"; capture_deploy; continue; fi
  if [ "$nn" = deploy-webhook ]; then say "deploy-webhook: step 09 in the cluster, on the real node"; capture_deploy_webhook; continue; fi
  if [ "$nn" = bench-taskrun ]; then capture_bench_taskrun; continue; fi
  if [ "$nn" = bench ]; then say "bench: the figures of the Measuring chapter (about 10 minutes)"; capture_bench; continue; fi
  if [ "$nn" = faults ]; then capture_faults; continue; fi
  nn=$(printf '%02d' "$((10#${nn//[!0-9]/}))")
  if $checks_only; then
    dir=$(ls -d "$ROOT"/solutions/"$nn"-*/ 2>/dev/null | head -n 1) || true
    [ -n "$dir" ] || die "there is no step $nn"
    say "step $nn: its check transcripts, against context $(kubectl config current-context)"
    # The kinds the checks need (step 06's tests install them too; step 07's expect them).
    case "$nn" in 0[6-8]) kubectl apply -f manifests/crds/ >/dev/null ;; esac
    capture_checks "$(basename "$dir")"
    continue
  fi
  if ! declare -F "capture_$nn" >/dev/null; then
    if [ $# -gt 0 ]; then die "there is nothing to capture for step $nn (add capture_$nn to $0)"; fi
    warn "no captures for step $nn yet (add capture_$nn to $0)"
    continue
  fi
  say "step $nn: capturing against context $(kubectl config current-context)"
  "capture_$nn"
done
# Record the sum of every transcript written, replacing its earlier line.
sums="$OUT/SHA256SUMS"
touch "$sums"
sort -u "$WRITTEN" | while read -r file; do
  awk -v f="$file" '$2 != f' "$sums" >"$sums.new" && mv "$sums.new" "$sums"
  (cd "$OUT" && sha256sum "$file") >>"$sums"
done
LC_ALL=C sort -k2,2 -o "$sums" "$sums"
say "transcripts are in ${OUT#"$ROOT"/} (their sums in ${sums#"$ROOT"/}); check the book with scripts/book.sh build"
