#!/usr/bin/env bash
# Deploys step 08's controller (manifests/deploy/) into the local cluster's real node, with no
# registry and no Docker: the image is packed here and loaded straight into the node's containerd.
#
# usage: scripts/deploy-real-node.sh [--package solution-08-production|step-08-production]
#
#   --package  which controller to deploy: the reference (default) or your own step.
#
# Needs a cluster made by `scripts/cluster-up.sh --real-node` in your kubeconfig. It:
#  1. builds the controller in release mode;
#  2. packs the image `taskrun-controller:dev` (the name manifests/deploy/ uses) as the
#     Dockerfile's runtime stage would hold it: the program, the shared libraries it loads (what
#     `ldd` lists, as distroless/cc provides them), and the nonroot user 65532;
#  3. loads it into the real node, pinned (it could never be pulled again);
#  4. applies manifests/crds/ and manifests/deploy/, and waits until both replicas are Ready.
# With kind and Docker, build the image with solutions/08-production/Dockerfile instead and
# `kind load docker-image taskrun-controller:dev`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/cluster.sh"
source "$ROOT/scripts/lib/node.sh"
source "$ROOT/scripts/lib/deploy.sh"

package=solution-08-production
while [ $# -gt 0 ]; do
  case "$1" in
    --package) package=${2:?--package needs a value}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (usage: scripts/deploy-real-node.sh [--package NAME])" ;;
  esac
done
case "$package" in solution-08-production|step-08-production) ;; *) die "--package must be solution-08-production or step-08-production" ;; esac

context=$(kubectl config current-context 2>/dev/null) || die "no current context in your kubeconfig: scripts/cluster-up.sh --real-node"
kubectl get node "$NODE_NAME" >/dev/null 2>&1 \
  || die "context $context has no node $NODE_NAME: bring the cluster up with scripts/cluster-up.sh --real-node"
[ -S "$NODE_SOCK" ] || die "the real node's containerd is not running ($NODE_SOCK): run scripts/cluster-up.sh --real-node again"

cd "$ROOT"
say "building $package (release)"
cargo build --release --locked -p "$package" --bin "$package"
binary="${CARGO_TARGET_DIR:-$ROOT/target}/release/$package"

say "packing the image taskrun-controller:dev"
rootfs=$(mktemp -d); trap 'rm -rf "$rootfs"' EXIT
cp "$binary" "$rootfs/taskrun-controller"
# The shared libraries the program loads, at the paths it looks for them.
for lib in $(ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
  cp -L --parents "$lib" "$rootfs/"
done
mkdir -p "$rootfs/etc" "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
image="$WORKSHOP_CACHE/images/taskrun-controller.tar"
node_image_tar docker.io/library/taskrun-controller:dev "$rootfs" \
  '"Entrypoint":["/taskrun-controller"],"User":"65532:65532"' "$image"
node_load_image "$image" docker.io/library/taskrun-controller:dev

say "applying manifests/crds/ and manifests/deploy/"
deploy_controller
