#!/usr/bin/env bash
# Benchmarks, each against a throwaway cluster of its own.
#
# usage: scripts/bench.sh mirror [--step 04|05] [--keep-cluster]
#        scripts/bench.sh taskrun [--real-node] [--runs N] [--keep-cluster]
#
#   mirror   the ConfigMap mirror of step 04 (default) or 05: how long 1000 sources take to
#            converge, self-heal latency (p50/p99/max), API writes while idle, and the
#            controller's peak memory with 10 000 ConfigMaps in the cluster. A few minutes.
#   taskrun  the Mini Task Runner of step 07: 500 TaskRuns of a three-step Task created at once,
#            how long until all are terminal, create-to-Running latency (p50/p99), and the
#            controller's peak memory. About a minute.
#            With --real-node the runs' Pods really run, on the real node of
#            `cluster-up.sh --real-node` (Linux, root): also create-to-Succeeded latency
#            (p50/p99). --runs N: that many runs instead of 500.
#   --keep-cluster  leave the benchmark cluster running afterwards (for a closer look)
#
# Builds in release mode, brings up its own cluster (name workshop-bench, its own kubeconfig and
# ports; your cluster and kubeconfig are never touched), runs the benchmark, and deletes the
# cluster afterwards, also on failure. Figures and the controller's log are kept in
# target/bench/. A benchmark reports: missing a target is printed as MISS, not a failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { die "usage: scripts/bench.sh mirror [--step 04|05] [--keep-cluster] | taskrun [--real-node] [--runs N] [--keep-cluster]  (--help for more)"; }

cd "$ROOT"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
results="$target_dir/bench"
cluster=workshop-bench
keep=false

# Brings up the benchmark cluster with a kubeconfig of its own (like scripts/test.sh does for
# workshop-test) and arranges for it to be deleted when this script exits.
bench_cluster_up() {
  state=$(mktemp -d "${TMPDIR:-/tmp}/workshop-bench.XXXXXX")
  export KUBECONFIG="$state/kubeconfig"
  trap 'end_throwaway_cluster "$cluster" "$state" "$keep" benchmark' EXIT
  say "throwaway cluster '$cluster'"
  scripts/cluster-up.sh --name "$cluster" "$@" >&2
}

# The ConfigMap mirror of step 04 or 05, run by solutions/testkit/src/bin/bench-mirror.rs.
bench_mirror() {
  local step=04 dir package
  while [ $# -gt 0 ]; do
    case "$1" in
      --step) step=${2:?--step needs a value}; shift 2 ;;
      --keep-cluster) keep=true; shift ;;
      *) usage ;;
    esac
  done
  case "$step" in 04|05) ;; *) die "--step must be 04 or 05 (the steps with a ConfigMap mirror), not '$step'" ;; esac
  dir=$(compgen -G "solutions/$step-*" | head -n 1) || die "solutions/$step-* does not exist in this checkout"
  package="solution-$(basename "$dir")"

  say "building $package and the benchmark (release)"
  cargo build --release -p "$package" -p workshop-testkit --bin "$package" --bin bench-mirror

  bench_cluster_up
  mkdir -p "$results"
  local cmd=("$target_dir/release/bench-mirror"
             --controller "$target_dir/release/$package"
             --controller-log "$results/mirror-$step-controller.log")
  say "running: ${cmd[*]}"
  "${cmd[@]}" | tee "$results/mirror-$step.txt"
  say "figures saved in $results/mirror-$step.txt"
}

# The TaskRun controller of step 07, run by solutions/testkit/src/bin/bench-taskrun.rs.
bench_taskrun() {
  local node=() extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --keep-cluster) keep=true; shift ;;
      # Real containers take longer than the fake node's second: up to 30 minutes.
      --real-node) node=(--real-node); extra+=(--within 1800); shift ;;
      --runs) extra+=(--runs "${2:?--runs needs a number}"); shift 2 ;;
      *) usage ;;
    esac
  done
  local package=solution-07-taskrun
  [ -d solutions/07-taskrun ] || die "solutions/07-taskrun does not exist in this checkout"

  say "building $package and the benchmark (release)"
  cargo build --release -p "$package" -p workshop-testkit --bin "$package" --bin bench-taskrun

  bench_cluster_up "${node[@]}"
  say "installing the CRDs"
  kubectl apply -f manifests/crds/ >&2
  kubectl wait --for condition=Established --timeout 60s crd/tasks.workshop.io crd/taskruns.workshop.io >&2
  mkdir -p "$results"
  local cmd=("$target_dir/release/bench-taskrun"
             --controller "$target_dir/release/$package"
             --controller-log "$results/taskrun-controller.log" "${extra[@]}")
  say "running: ${cmd[*]}"
  "${cmd[@]}" | tee "$results/taskrun.txt"
  say "figures saved in $results/taskrun.txt"
}

# One subcommand per benchmark, each a bench_NAME function above.
case "${1:-}" in
  mirror) shift; bench_mirror "$@" ;;
  taskrun) shift; bench_taskrun "$@" ;;
  -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) usage ;;
esac
