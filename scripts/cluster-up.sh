#!/usr/bin/env bash
# Brings up a local Kubernetes cluster for the workshop, or reuses the one that is already there.
#
# usage: scripts/cluster-up.sh [--name NAME] [--runtime auto|kind|binary] [--binaries auto|build|download]
#                              [--real-node]
#
#   --name NAME      cluster name (default: workshop). Tests use their own (workshop-test).
#   --runtime        kind:   a kind cluster in Docker (the usual path when Docker works), with
#                            the node image pinned in scripts/versions.env (KIND_NODE_IMAGE; set
#                            that variable to use another image). Your own kind when it is on
#                            PATH, else kind built from its Go module; as root on Debian or
#                            Ubuntu, Docker is installed (docker.io) and started when it is not.
#                    binary: a Docker-free control plane (etcd, kube-apiserver,
#                            kube-controller-manager, kube-scheduler) running as local processes,
#                            with one fake node from KWOK, where Pods are scheduled and go Running
#                            though no container really runs; a Pod with restartPolicy Never then
#                            ends as its scripts say (`sleep N`, `exit N`: the KWOK Stages in
#                            manifests/local-cluster/kwok-stages.yaml).
#                    auto (default): kind when `docker info` works and kind is installed,
#                            otherwise binary.
#   --binaries       where the binary runtime gets its binaries. auto (default): the ones built
#                    before, else kwokctl's own download when kwokctl is installed, else build
#                    them from Go modules (scripts/build-control-plane.sh, once per version).
#   --real-node      (binary runtime, Linux, root) also a real node where containers really run:
#                    a kubelet and kube-proxy built from Go modules, with containerd, runc and the
#                    CNI plugins from the system's packages (installed with apt-get on Debian or
#                    Ubuntu). Pods land on it; the fake node stays for scale. One per machine.
#
# The new context is added to $KUBECONFIG (or ~/.kube/config) and made current. Idempotent: a
# second run finds the cluster, restarts it if its processes are gone, and returns in seconds.
# A local cluster made before the Stages changed is reused with a warning that says how to
# recreate it (the test suites' clusters, workshop-test and workshop-exercises, are recreated
# without asking).
set -euo pipefail
# A node image given in the environment wins over the pinned one (versions.env sets it below).
kind_node_image=${KIND_NODE_IMAGE:-}
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/cluster.sh"
source "$ROOT/scripts/lib/node.sh"
source "$ROOT/scripts/lib/kind.sh"
KIND_NODE_IMAGE=${kind_node_image:-$KIND_NODE_IMAGE}

name=workshop runtime=auto binaries=auto real_node=false
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --runtime) runtime=${2:?--runtime needs a value}; shift 2 ;;
    --binaries) binaries=${2:?--binaries needs a value}; shift 2 ;;
    --real-node) real_node=true; shift ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/cluster-up.sh --help)" ;;
  esac
done
case "$runtime" in auto|kind|binary) ;; *) die "--runtime must be auto, kind or binary, not '$runtime'" ;; esac
case "$binaries" in auto|build|download) ;; *) die "--binaries must be auto, build or download, not '$binaries'" ;; esac

have kubectl || die "kubectl is not installed: install it (https://kubernetes.io/docs/tasks/tools/), then run this again"

if [ "$runtime" = auto ]; then
  if $real_node; then runtime=binary
  # kind installed by you (on PATH), not one the scripts built for --runtime kind.
  elif have kind && docker_running; then runtime=kind; else runtime=binary; fi
fi
[ "$runtime" = kind ] && $real_node && die "--real-node is for the binary runtime (on kind every node is real already)"
start=$(now)

if [ "$runtime" = kind ]; then
  docker_ensure
  kind=$(kind_ensure)
  if "$kind" get clusters 2>/dev/null | grep -qx "$name"; then
    say "kind cluster '$name' exists; reusing it"
    "$kind" export kubeconfig --name "$name" >/dev/null
  else
    say "creating kind cluster '$name' with kind $(kind_version "$kind") (the workshop is tested with $KIND_VERSION), image $KIND_NODE_IMAGE"
    "$kind" create cluster --name "$name" --image "$KIND_NODE_IMAGE" --config "$ROOT/manifests/local-cluster/kind.yaml" --wait 120s
  fi
  context="kind-$name"
else
  if $real_node; then node_check_host; node_check_free "$name"; fi
  binary_cluster_up "$name" "$binaries"
  context="kwok-$name"
  if $real_node; then
    node_up "$name" "$context" "$KWOK_CLUSTERS/$name/kubeconfig.yaml"
  elif [ "$(node_owner || true)" = "$name" ]; then
    warn "cluster '$name' had a real node; it is left as it is (scripts/cluster-down.sh removes it)"
  fi
fi

kubectl config use-context "$context" >/dev/null
wait_cluster_ready "$context"
say "cluster '$name' ready in $(( $(now) - start ))s"
cat <<MSG
context:    $context
kubeconfig: ${KUBECONFIG:-$HOME/.kube/config}
try:        kubectl --context $context get nodes
next:       cargo run -p step-01-connect
MSG
