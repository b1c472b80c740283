#!/usr/bin/env bash
# Shows the workshop's payoff: brings up the local cluster if there is none, then, in about a
# minute, the arc of the workshop: step 04's mirror heals a deleted companion (and says how long
# it took), the garbage collector removes a deleted source's companion, then step 08's Task
# runner runs a Task on two replicas, the leader is killed, and the standby takes over. Where the
# run's Pod ran on a real node (kind, or --real-node), it prints the Task's own output too.
#
# usage: scripts/demo.sh [--real-node] [--step NN]
#   --step NN    only that step's payoff moment
#   --real-node  (Docker-free cluster, Linux, root) a real node beside the fake one, so the Task's
#                containers really run and print: see scripts/cluster-up.sh --help
#
# Works from a fresh machine: the first run builds what it needs (the control plane, cached by
# version; the Rust workspace) and shows progress; later runs take seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

step= up_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --step) step=$(printf '%02d' "$((10#${2:?--step needs a number}))"); shift 2 ;;
    --real-node) up_flags+=(--real-node); shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "usage: scripts/demo.sh [--real-node] [--step NN]" ;;
  esac
done

cd "$ROOT"
have cargo || die "cargo is not installed: install Rust from https://rustup.rs, then run this again"
"$ROOT/scripts/cluster-up.sh" ${up_flags[@]+"${up_flags[@]}"}
say "building the workspace (the first build takes a few minutes)"
cargo build --quiet --workspace --bins

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
ns=workshop-demo
pids=()
# stop_programs: stops the controllers a demo started in the background.
stop_programs() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop_programs EXIT

fresh_namespace() {
  kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
  kubectl create namespace "$ns" >/dev/null
}

# wait_for DESCRIPTION COMMAND...: polls every 50 ms for up to 30 s; prints how long it took.
wait_for() {
  local what=$1 start i; shift
  start=$(date +%s%N)
  for i in $(seq 1 600); do
    if "$@" >/dev/null 2>&1; then
      printf '    %s after %s ms\n' "$what" $(( ($(date +%s%N) - start) / 1000000 ))
      return 0
    fi
    sleep 0.05
  done
  die "gave up waiting: $what"
}
# kubectl apply, quiet unless something is wrong.
apply_quietly() {
  kubectl apply "$@" >/dev/null
}
companion_exists() { kubectl -n "$ns" get configmap colors-synced; }
companion_gone() { ! kubectl -n "$ns" get configmap colors-synced; }

demo_01() {
  say "step 01, connect: a kube::Client from your kubeconfig, one list call"
  cargo run --quiet -p solution-01-connect
}

demo_02() {
  say "step 02, informer: every change to a ConfigMap, as it happens"
  fresh_namespace
  "$target_dir/debug/solution-02-informer" --namespace "$ns" & pids+=($!)
  sleep 2
  kubectl -n "$ns" create configmap demo --from-literal=color=red >/dev/null
  kubectl -n "$ns" patch configmap demo -p '{"data":{"color":"blue"}}' >/dev/null
  kubectl -n "$ns" delete configmap demo >/dev/null
  sleep 1
}

demo_03() {
  say "step 03, workqueue: an injected failure backs off 5ms, 10ms, 20ms, 40ms, then succeeds"
  fresh_namespace
  "$target_dir/debug/solution-03-workqueue" --namespace "$ns" --selector app=demo --fail-first 4 & pids+=($!)
  sleep 2
  kubectl -n "$ns" create configmap demo --from-literal=color=red >/dev/null
  kubectl -n "$ns" label configmap demo app=demo >/dev/null
  sleep 1
}

# The mirror's payoff, with the controller of step 04 or 05.
mirror_demo() {
  fresh_namespace
  "$target_dir/debug/$1" --namespace "$ns" 2>"$target_dir/demo-controller.log" & pids+=($!)
  say "kubectl apply -f manifests/samples/colors.yaml"
  kubectl -n "$ns" apply -f "$ROOT/manifests/samples/colors.yaml" >/dev/null
  wait_for "colors-synced created" companion_exists
  kubectl -n "$ns" get configmaps colors colors-synced
  say "delete the companion: the controller heals it"
  kubectl -n "$ns" delete configmap colors-synced >/dev/null
  wait_for "colors-synced is back" companion_exists
  say "delete the source: the garbage collector removes the companion (owner reference)"
  kubectl -n "$ns" delete configmap colors >/dev/null
  wait_for "colors-synced garbage-collected" companion_gone
}

demo_04() {
  say "step 04, mirror: a self-healing copy, owned by its source"
  mirror_demo solution-04-mirror
}

demo_05() {
  say "step 05, controller: the same mirror on kube-runtime's Controller"
  mirror_demo solution-05-controller
}

demo_07() {
  say "step 07, the Mini Task Runner: kubectl task start hello --follow"
  fresh_namespace
  apply_quietly -f "$ROOT/manifests/crds/"
  kubectl wait --for=condition=Established crd/tasks.workshop.io crd/taskruns.workshop.io --timeout=60s >/dev/null
  "$target_dir/debug/solution-07-taskrun" --namespace "$ns" 2>"$target_dir/demo-controller.log" & pids+=($!)
  kubectl -n "$ns" apply -f "$ROOT/manifests/samples/hello-task.yaml"
  # kubectl finds plugins on PATH by their name: kubectl-task.
  PATH="$target_dir/debug:$PATH" timeout 120 kubectl task start hello -n "$ns" --follow \
    || die "the run did not succeed (a local cluster made before its KWOK Stages never finishes Pods: see scripts/cluster-up.sh --help)"
  kubectl -n "$ns" get taskruns
  show_task_output
}

# show_task_output: what the newest run's containers printed, read back by `kubectl task logs`,
# when its Pod ran on a real node (any node of kind, or the real node of --real-node). KWOK's fake
# node runs no container, so there is no output to show: say so, and how to get a real node.
show_task_output() {
  local run node
  run=$(kubectl -n "$ns" get taskruns --sort-by=.metadata.creationTimestamp \
    -o jsonpath='{.items[-1:].metadata.name}')
  node=$(kubectl -n "$ns" get taskrun "$run" -o jsonpath='{.status.podName}' \
    | xargs -r kubectl -n "$ns" get pod -o jsonpath='{.spec.nodeName}')
  [ -n "$node" ] || die "cannot tell which node ran $run's Pod"
  if [ "$(kubectl get node "$node" -o jsonpath='{.metadata.annotations.kwok\.x-k8s\.io/node}')" = fake ]; then
    say "$run ran on KWOK's fake node $node: no container ran, so there is no output to show" \
      "(scripts/demo.sh --real-node, on Linux as root, adds a node where it really runs)"
  else
    say "kubectl task logs $run: the Task's own output, printed by its containers on node $node"
    PATH="$target_dir/debug:$PATH" kubectl task logs "$run" -n "$ns"
  fi
}

# holder: who holds the demo's Lease (in the demo's namespace, so it meets no one else's).
holder() {
  kubectl -n "$ns" get lease taskrun-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}
leads() { [ "$(holder)" = "$1" ]; }
# show_metrics PORT: the leader gauge and the success count of the replica serving on PORT.
show_metrics() {
  printf '    :%s  %s\n' "$1" "$(curl -s "http://127.0.0.1:$1/metrics" | grep -E '^taskrun_controller_(leader|reconciles_total\{result="success"\})' | tr '\n' ' ')"
}

demo_08() {
  say "step 08, production: two replicas, one leader; kill the leader, the standby takes over"
  fresh_namespace
  have curl || die "curl is not installed: install it (it reads the replicas' /metrics), then run this again"
  apply_quietly -f "$ROOT/manifests/crds/"
  kubectl wait --for=condition=Established crd/tasks.workshop.io crd/taskruns.workshop.io --timeout=60s >/dev/null
  kubectl -n "$ns" apply -f "$ROOT/manifests/samples/hello-task.yaml" >/dev/null
  # A short lease (6 s instead of 15) so the failover is quick to watch.
  local replica port lease=(--lease-namespace "$ns" --lease-name taskrun-controller
    --lease-duration 6 --renew-deadline 4 --retry-period 1)
  for replica in a b; do
    port=$([ "$replica" = a ] && echo 8081 || echo 8082)
    "$target_dir/debug/solution-08-production" --namespace "$ns" --identity "replica-$replica" \
      --listen "127.0.0.1:$port" "${lease[@]}" 2>"$target_dir/demo-replica-$replica.log" & pids+=($!)
    [ "$replica" = b ] || wait_for "replica-a leads" leads replica-a
  done
  local replica_a=${pids[-2]}
  wait_for "replica-b ready (its caches synced)" curl -sf http://127.0.0.1:8082/readyz
  say "the Lease: $(holder) holds it; /metrics of each replica:"
  show_metrics 8081
  show_metrics 8082
  PATH="$target_dir/debug:$PATH" timeout 120 kubectl task start hello -n "$ns" --follow \
    || die "the run did not succeed (a local cluster made before its KWOK Stages never finishes Pods: see scripts/cluster-up.sh --help)"
  show_task_output
  say "kill -KILL replica-a (no chance to release the Lease): replica-b takes over when the lease expires"
  kill -KILL "$replica_a"
  wait "$replica_a" 2>/dev/null || true  # reaped quietly: bash would report the kill
  wait_for "replica-b leads" leads replica-b
  PATH="$target_dir/debug:$PATH" timeout 120 kubectl task start hello -n "$ns" --follow \
    || die "the run did not succeed after the failover"
  show_metrics 8082
  say "logs: $target_dir/demo-replica-a.log and $target_dir/demo-replica-b.log"
}

# The arc: the mirror's self-heal and garbage collection, then a Task run and the failover.
demo_arc() {
  local began=$SECONDS
  demo_04
  stop_programs
  demo_08
  stop_programs
  kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null
  say "the whole arc took $((SECONDS - began)) s; scripts/demo.sh --step NN shows one step"
}

if [ -z "$step" ]; then
  demo_arc
else
  type "demo_$step" >/dev/null 2>&1 || die "step $step has no demo"
  "demo_$step"
fi
