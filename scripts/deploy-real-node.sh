#!/usr/bin/env bash
# Deploys a workshop program into the local cluster's real node, with no registry and no Docker:
# the image is packed here and loaded straight into the node's containerd. Two programs can go:
# step 08's controller (manifests/deploy/), and step 09's admission webhook (manifests/webhook/).
#
# usage: scripts/deploy-real-node.sh [--package PACKAGE] [--namespace NS]
#
#   --package    what to deploy: solution-08-production (the default) or step-08-production,
#                the controller; solution-09-webhook or step-09-webhook, the webhook. solution-*
#                is the reference, step-* your own code.
#   --namespace  (the webhook only, required) the namespace whose TaskRuns it checks.
#
# Needs a cluster made by `scripts/cluster-up.sh --real-node` in your kubeconfig. It:
#  1. builds the program in release mode;
#  2. packs its image (`taskrun-controller:dev` or `taskrun-webhook:dev`, the names the manifests
#     use) as the Dockerfile's runtime stage would hold it: the program, the shared libraries it
#     loads (what `ldd` lists, as distroless/cc provides them), and the nonroot user 65532;
#  3. loads it into the real node, pinned (it could never be pulled again);
#  4. applies manifests/crds/ and the program's manifests, and waits until its Pods are Ready
#     and the previous ones are gone.
# With kind and Docker, build the image with solutions/08-production/Dockerfile instead
# (--build-arg PACKAGE=...) and `kind load docker-image NAME:dev`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/cluster.sh"
source "$ROOT/scripts/lib/node.sh"
source "$ROOT/scripts/lib/deploy.sh"

usage="usage: scripts/deploy-real-node.sh [--package PACKAGE] [--namespace NS]"
package=solution-08-production guarded=
while [ $# -gt 0 ]; do
  case "$1" in
    --package) package=${2:?--package needs a value}; shift 2 ;;
    --namespace) guarded=${2:?--namespace needs a value}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' ($usage)" ;;
  esac
done
# What each program is called in the cluster, and the manifests that deploy it.
case "$package" in
  solution-08-production|step-08-production)
    program=taskrun-controller manifests=(manifests/deploy/)
    [ -z "$guarded" ] || die "--namespace is for the webhook (step 09): the controller runs every namespace's TaskRuns"
    ;;
  solution-09-webhook|step-09-webhook)
    program=taskrun-webhook manifests=(manifests/rbac/webhook.yaml manifests/webhook/)
    [ -n "$guarded" ] || die "the webhook checks the TaskRuns of one namespace: say which with --namespace NS"
    ;;
  *) die "--package must be solution-08-production, step-08-production, solution-09-webhook or step-09-webhook" ;;
esac

context=$(kubectl config current-context 2>/dev/null) || die "no current context in your kubeconfig: scripts/cluster-up.sh --real-node"
kubectl get node "$NODE_NAME" >/dev/null 2>&1 \
  || die "context $context has no node $NODE_NAME: bring the cluster up with scripts/cluster-up.sh --real-node"
[ -S "$NODE_SOCK" ] || die "the real node's containerd is not running ($NODE_SOCK): run scripts/cluster-up.sh --real-node again"

cd "$ROOT"
say "building $package (release)"
cargo build --release --locked -p "$package" --bin "$package"
binary="${CARGO_TARGET_DIR:-$ROOT/target}/release/$package"

say "packing the image $program:dev"
image="$WORKSHOP_CACHE/images/$program.tar"
node_program_image "$binary" "/$program" "docker.io/library/$program:dev" "$image"
node_load_image "$image" "docker.io/library/$program:dev"

say "applying manifests/crds/ and ${manifests[*]}"
deploy_program "$program" "$guarded"
