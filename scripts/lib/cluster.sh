# The Docker-free local cluster (KWOK's binary runtime), shared by cluster-up.sh and
# cluster-down.sh. Sourced after common.sh, never run.
# shellcheck shell=bash

KWOK_CLUSTERS="${KWOK_WORKDIR:-$HOME/.kwok}/clusters"
# What kwokctl prints (JSON log lines) goes here, and is shown only when it fails.
KWOKCTL_LOG_DIR="$WORKSHOP_CACHE/logs"

# The Stages that tell KWOK's fake kubelet what becomes of Pods (see the file's header): without
# them a Pod that is not a Job's stays Running forever, and the TaskRuns of step 07 never finish.
KWOK_STAGES="$ROOT/manifests/local-cluster/kwok-stages.yaml"
# kwokctl's settings that let a real node join (see the file's header).
KWOKCTL_CONFIG="$ROOT/manifests/local-cluster/kwokctl.yaml"
# The clusters scripts/test.sh and scripts/test-exercises.sh make and throw away: recreated
# without asking.
TEST_CLUSTERS="workshop-test workshop-exercises"

# kwokctl reads the Stages (and its settings) only when it creates a cluster. We note which ones
# a cluster got (their checksum, next to kwokctl's own state) to notice a cluster made before
# they changed.
stages_sum() {
  if have sha256sum; then cat "$KWOK_STAGES" "$KWOKCTL_CONFIG" | sha256sum; else cat "$KWOK_STAGES" "$KWOKCTL_CONFIG" | shasum -a 256; fi | cut -d ' ' -f 1
}
stages_file() { echo "$KWOK_CLUSTERS/$1/workshop-stages.sha256"; }
stages_current() { [ "$(cat "$(stages_file "$1")" 2>/dev/null)" = "$(stages_sum)" ]; }

# The kwokctl to drive the binary runtime with: the one we built, else one the user installed.
kwokctl_bin() {
  if [ -x "$WORKSHOP_BIN/kwokctl-$KWOK_VERSION" ]; then echo "$WORKSHOP_BIN/kwokctl-$KWOK_VERSION"
  elif have kwokctl; then command -v kwokctl
  else return 1; fi
}

binaries_built() {
  local b
  for b in etcd-$ETCD_VERSION kube-apiserver-$KUBERNETES_VERSION kube-controller-manager-$KUBERNETES_VERSION \
           kube-scheduler-$KUBERNETES_VERSION kwok-$KWOK_VERSION kwokctl-$KWOK_VERSION; do
    [ -x "$WORKSHOP_BIN/$b" ] || return 1
  done
}

# binary_cluster_up NAME BINARIES(auto|build|download)
binary_cluster_up() {
  local name=$1 binaries=$2 kwokctl
  local -a flags=(--runtime binary --kube-authorization=true --wait 3m --config "$KWOK_STAGES" --config "$KWOKCTL_CONFIG")

  if [ "$binaries" = auto ]; then
    if binaries_built; then binaries=build
    elif have kwokctl; then binaries=download
    elif have go; then binaries=build
    else die "no way to run a local cluster here: install Docker and kind (the usual path), or Go 1.26+ (to build a Docker-free cluster), or kwokctl (https://kwok.sigs.k8s.io)"
    fi
  fi
  if [ "$binaries" = build ]; then
    "$ROOT/scripts/build-control-plane.sh"
    flags+=(--etcd-binary "$WORKSHOP_BIN/etcd-$ETCD_VERSION"
            --kube-apiserver-binary "$WORKSHOP_BIN/kube-apiserver-$KUBERNETES_VERSION"
            --kube-controller-manager-binary "$WORKSHOP_BIN/kube-controller-manager-$KUBERNETES_VERSION"
            --kube-scheduler-binary "$WORKSHOP_BIN/kube-scheduler-$KUBERNETES_VERSION"
            --kwok-controller-binary "$WORKSHOP_BIN/kwok-$KWOK_VERSION")
    kwokctl="$WORKSHOP_BIN/kwokctl-$KWOK_VERSION"
  else
    have kwokctl || die "--binaries download needs kwokctl on PATH (https://kwok.sigs.k8s.io)"
    kwokctl=$(command -v kwokctl)
    export KWOK_KUBE_VERSION=$KUBERNETES_VERSION
  fi

  if [ -d "$KWOK_CLUSTERS/$name" ] && ! stages_current "$name"; then
    if [[ " $TEST_CLUSTERS " == *" $name "* ]]; then
      say "local cluster '$name' was made with other KWOK Stages; recreating it (a test cluster)"
      kwokctl_quiet "$name" delete cluster --name "$name" || true
    else
      warn "local cluster '$name' was made without the current KWOK Stages ($KWOK_STAGES):
         its Pods may never finish, and then step 07's TaskRuns stay Running.
         Steps 01-06 work as they are. To get the Stages, recreate the cluster (its objects are lost):
           scripts/cluster-down.sh --name $name && scripts/cluster-up.sh --name $name"
    fi
  fi
  # kwokctl picks free ports when it creates a cluster, and its processes bind them a moment
  # later: two clusters created at once on one machine can pick the same ports, and then one's
  # etcd or API server cannot bind them, or joins the other's. One creation at a time.
  # The lock lives beside the clusters' directory, not in it: kwokctl takes every entry of
  # that directory for a cluster, and warns about a file there.
  local lock=
  mkdir -p "$KWOK_CLUSTERS"
  if have flock; then
    # The components kwokctl starts must not inherit the lock (they would hold it while they
    # run): every kwokctl below runs with it closed.
    exec {lock}>"$(dirname "$KWOK_CLUSTERS")/workshop-cluster-up.lock"
    # Where earlier versions of this script kept it (kwokctl warned about it at every command).
    rm -f "$KWOK_CLUSTERS/.workshop-cluster-up.lock"
    if ! flock -n "$lock"; then
      say "another local cluster is being created on this machine; waiting for it"
      flock "$lock"
    fi
  fi
  if [ -d "$KWOK_CLUSTERS/$name" ]; then
    if kubectl --context "kwok-$name" get --raw /readyz >/dev/null 2>&1; then
      say "local cluster '$name' is running; reusing it"
    else
      say "local cluster '$name' exists but is stopped; starting it"
      if ! kwokctl_quiet "$name" start cluster --name "$name" --wait 3m; then
        warn "could not restart '$name'; recreating it"
        kwokctl_quiet "$name" delete cluster --name "$name" || true
        kwokctl_quiet "$name" create cluster --name "$name" "${flags[@]}"
        stages_sum >"$(stages_file "$name")"
      fi
    fi
  else
    say "creating local cluster '$name' (KWOK binary runtime, Kubernetes $KUBERNETES_VERSION)"
    kwokctl_quiet "$name" create cluster --name "$name" "${flags[@]}"
    stages_sum >"$(stages_file "$name")"
  fi
  # One fake node that Pods are scheduled to. Scaling to a count is idempotent.
  kwokctl_unlocked scale node --replicas 1 --name "$name" >/dev/null 2>&1 || die "could not add the fake node (kwokctl scale node --name $name)"
  components_running "$name"
  [ -n "${lock:-}" ] && exec {lock}>&-
  return 0
}

# kwokctl_unlocked ARGS...: binary_cluster_up's kwokctl, without the creation lock's descriptor
# (bash functions see their caller's locals: `kwokctl` and `lock`).
kwokctl_unlocked() {
  if [ -n "${lock:-}" ]; then "$kwokctl" "$@" {lock}>&-; else "$kwokctl" "$@"; fi
}

# kwokctl_quiet NAME ARGS...: kwokctl_unlocked ARGS, its log lines (JSON) kept in
# KWOKCTL_LOG_DIR/kwokctl-NAME.log and shown only if it fails; progress meanwhile.
kwokctl_quiet() {
  local name=$1; shift
  run_with_progress "kwokctl $1 $2 $name" "$KWOKCTL_LOG_DIR/kwokctl-$name.log" kwokctl_unlocked "$@"
}

# components_running NAME: every process of the local cluster NAME still runs. A component that
# exited at start (its port taken, say) is named, with the end of its log, rather than found out
# later as a cluster that is "ready" but answers from somewhere else.
components_running() {
  local name=$1 pidfile component pid
  for pidfile in "$KWOK_CLUSTERS/$name"/pids/*.pid; do
    [ -f "$pidfile" ] || continue
    component=$(basename "$pidfile" .pid) pid=$(cat "$pidfile")
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 5 "$KWOK_CLUSTERS/$name/logs/$component.log" >&2 2>/dev/null || true
      die "the $component of local cluster '$name' is not running (its log: $KWOK_CLUSTERS/$name/logs/$component.log); recreate the cluster: scripts/cluster-down.sh --name $name && scripts/cluster-up.sh --name $name"
    fi
  done
}

# wait_cluster_ready CONTEXT: the API server answers, every node is Ready, and the default
# ServiceAccount exists (Pods cannot be created before the controller-manager makes it).
wait_cluster_ready() {
  local ctx=$1 i
  for i in $(seq 1 120); do
    kubectl --context "$ctx" get --raw /readyz >/dev/null 2>&1 && break
    [ "$i" = 120 ] && die "the API server of context $ctx did not become ready in 60s"
    sleep 0.5
  done
  for i in $(seq 1 120); do
    [ -n "$(kubectl --context "$ctx" get nodes -o name 2>/dev/null)" ] && break
    [ "$i" = 120 ] && die "no node registered in context $ctx within 60s"
    sleep 0.5
  done
  kubectl --context "$ctx" wait --for=condition=Ready nodes --all --timeout=120s >/dev/null \
    || die "the nodes of context $ctx did not become Ready in 120s"
  for i in $(seq 1 120); do
    kubectl --context "$ctx" -n default get serviceaccount default >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "the controller-manager did not create the default ServiceAccount within 60s (is it running?)"
}
