#!/usr/bin/env bash
# Captures the transcripts the book shows: runs each step's payoff commands (the solutions')
# against the cluster of your kubeconfig's current context, and writes what they printed to
# book/src/transcripts/NN-name*.txt.
#
# usage: scripts/capture.sh [NN...|setup]   (default: every step that has captures below)
#   setup  the Setup chapter's look at the Docker-free cluster (needs that cluster's context)
#
# A transcript is the command line, as `$ command`, then the command's real output (stdout and
# stderr, unedited). To make reruns print the same thing, the commands work in one namespace,
# book-demo, which is deleted and created afresh first. Long-running commands (the informer) run
# in the background while kubectl changes things, and are stopped with SIGINT, as Ctrl-C would.
# Re-run it after changing what a solution prints, then check the book: scripts/book.sh build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "${1:-}" in -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

NS=book-demo
OUT="$ROOT/book/src/transcripts"
cd "$ROOT"
# What a learner's fresh shell has: no backtraces, no log filter, and no colour codes in the files.
unset RUST_BACKTRACE RUST_LOG
export NO_COLOR=1

have kubectl || die "kubectl is not installed: install it (https://kubernetes.io/docs/tasks/tools/), then run this again"
kubectl get --raw /readyz >/dev/null 2>&1 \
  || die "no cluster answers for context '$(kubectl config current-context 2>/dev/null || echo none)': start one with scripts/cluster-up.sh"

# record FILE COMMAND [EXPECTED_STATUS]: appends "$ COMMAND" and its output to FILE.
# COMMAND is run by bash from the repository root exactly as written.
record() {
  local file=$1 command=$2 expected=${3:-0} status=0
  printf '$ %s\n' "$command" >>"$file"
  bash -c "$command" >>"$file" 2>&1 || status=$?
  [ "$status" = "$expected" ] || { cat "$file" >&2; die "'$command' exited $status, expected $expected"; }
}

# await FILE TEXT [AFTER]: waits (at most 30s) until FILE has a line equal to TEXT after its
# first AFTER lines.
await() {
  local i after=${3:-0}
  for i in $(seq 1 300); do
    tail -n +"$((after + 1))" "$1" | grep -qxF -- "$2" && return 0
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
start() { mkdir -p "$OUT"; : >"$OUT/$1"; echo "$OUT/$1"; }

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
  t=$(start 01-connect-starter.txt)
  record "$t" "cargo run -q -p step-01-connect" 101
  t=$(start 01-connect.txt)
  record "$t" "cargo run -q -p solution-01-connect"
  t=$(start 01-connect-debug.txt)
  record "$t" "RUST_LOG=kube_client=debug cargo run -q -p solution-01-connect"
  t=$(start 01-connect-no-such-context.txt)
  record "$t" "cargo run -q -p solution-01-connect -- --context no-such-cluster" 1
  t=$(start 01-connect-no-such-namespace.txt)
  record "$t" "cargo run -q -p solution-01-connect -- --namespace no-such-namespace"
  t=$(start 01-connect-unreachable.txt)
  record "$t" "kubectl config view --minify --raw | sed 's#server: .*#server: https://127.0.0.1:1#' > /tmp/unreachable.kubeconfig"
  record "$t" "KUBECONFIG=/tmp/unreachable.kubeconfig cargo run -q -p solution-01-connect" 1
  t=$(start 01-connect-check-starter.txt)
  record "$t" "scripts/check.sh 01" 1
  t=$(start 01-connect-check.txt)
  record "$t" "scripts/check.sh 01 --solution"
  t=$(start 01-connect-compare.txt)
  record "$t" "scripts/compare.sh 01"
}

# watch_while NAME COMMAND [KUBECTL_COMMAND EXPECTED_LINE]...: starts COMMAND (the informer;
# terminal 1, NAME.txt) and waits for its cache to sync, then for each pair runs the kubectl
# command (terminal 2, NAME-kubectl.txt) and waits for the informer to print the expected line
# ("" when it should print nothing: then it gets a second to prove it). Then sends SIGINT.
watch_while() {
  local name=$1 command=$2; shift 2
  local t1 t2 status=0
  t1=$(start "$name.txt")
  [ $# -eq 0 ] || t2=$(start "$name-kubectl.txt")
  printf '$ %s\n' "$command" >>"$t1"
  # SIGINT after 60s at the latest; normally we send it ourselves below, once all is seen.
  timeout --preserve-status -s INT 60 bash -c "$command" >>"$t1" 2>&1 &
  informer_pid=$!
  # If anything below fails, stop the informer too.
  trap 'kill -INT "$informer_pid" 2>/dev/null || true' EXIT
  await "$t1" "cache synced, watching..."
  local seen
  while [ $# -gt 0 ]; do
    seen=$(wc -l <"$t1")
    record "$t2" "$1"
    if [ -n "$2" ]; then await "$t1" "$2" "$seen"; else sleep 1; fi
    shift 2
  done
  # Anything printed after the last expected line would show up here too.
  sleep 1
  kill -INT "$informer_pid" 2>/dev/null || true
  wait "$informer_pid" || status=$?
  trap - EXIT
  [ "$status" = 0 ] || { cat "$t1" >&2; die "the informer exited $status after SIGINT, expected 0"; }
}

capture_02() {
  cargo build -q -p solution-02-informer -p step-02-informer
  local t informer="cargo run -q -p solution-02-informer --"
  t=$(start 02-informer-starter.txt)
  record "$t" "cargo run -q -p step-02-informer" 101
  fresh_namespace
  watch_while 02-informer-debug "RUST_LOG=kube_client=debug $informer --namespace $NS"
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
  t=$(start 02-informer-check-starter.txt)
  record "$t" "scripts/check.sh 02" 1
  t=$(start 02-informer-check.txt)
  record "$t" "scripts/check.sh 02 --solution"
}

steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then
  for dir in "$ROOT"/solutions/[0-9][0-9]-*/; do steps+=("$(basename "$dir" | cut -c1-2)"); done
fi
for nn in "${steps[@]}"; do
  if [ "$nn" = setup ]; then say "setup: capturing against context $(kubectl config current-context)"; capture_setup; continue; fi
  nn=$(printf '%02d' "$((10#${nn//[!0-9]/}))")
  if ! declare -F "capture_$nn" >/dev/null; then
    if [ $# -gt 0 ]; then die "there is nothing to capture for step $nn (add capture_$nn to $0)"; fi
    warn "no captures for step $nn yet (add capture_$nn to $0)"
    continue
  fi
  say "step $nn: capturing against context $(kubectl config current-context)"
  "capture_$nn"
done
say "transcripts are in ${OUT#"$ROOT"/}; check the book with scripts/book.sh build"
