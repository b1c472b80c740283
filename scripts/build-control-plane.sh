#!/usr/bin/env bash
# Builds the binaries of the Docker-free local cluster from their Go modules, once per version:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and kwokctl; with
# --with-node also the kubelet and kube-proxy of the real node (scripts/lib/node.sh).
#
# Used where they cannot be downloaded (no internet, only a Go module proxy). The binaries land
# in the workshop cache (scripts/lib/common.sh: $WORKSHOP_BIN) named <binary>-<version>, so a
# second run, or a new pin in scripts/versions.env, only builds what is missing.
#
# usage: scripts/build-control-plane.sh [--with-node] [--kind] [--kind-node] [--print-dir]
#   --with-node  also build kubelet and kube-proxy (about 5 more minutes on 2 cores)
#   --kind       build kind itself (KIND_VERSION), and not the local cluster's binaries
#   --kind-node  build what a kind node image holds (scripts/build-kind-node-image.sh): kubeadm,
#                kubelet, kubectl, the control plane's and kube-proxy's programs, the etcd and
#                CoreDNS that kubeadm names, and crictl
#   --print-dir  print the directory holding the binaries once they are all there
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

print_dir=false with_node=false with_kind=false with_kind_node=false
while [ $# -gt 0 ]; do
  case "$1" in
    --print-dir) print_dir=true ;;
    --with-node) with_node=true ;;
    --kind) with_kind=true ;;
    --kind-node) with_kind_node=true ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (usage: scripts/build-control-plane.sh [--with-node] [--kind] [--kind-node] [--print-dir])" ;;
  esac
  shift
done

if $with_kind || $with_kind_node; then
  have go || die "building kind and its node image needs the Go toolchain (https://go.dev/dl/, 1.26 or newer)"
else
  have go || die "building the local cluster needs the Go toolchain (https://go.dev/dl/, 1.26 or newer), or use kind with Docker: scripts/cluster-up.sh --runtime kind"
fi

mkdir -p "$WORKSHOP_BIN"
# One build at a time: a learner's cluster-up and a test run may both ask for the binaries.
exec 9>"$WORKSHOP_BIN/.build.lock"
if ! flock -n 9; then
  say "another build of the control plane is running; waiting for it"
  flock 9
fi

k8s_minor=${KUBERNETES_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
staging_version="v0.${KUBERNETES_VERSION#v1.}"    # k8s.io/api etc. are tagged v0.<minor>.<patch>

# What to build: <binary>@<version> (etcd comes twice: the local cluster's, and the one kubeadm
# names for kind's node, which may differ).
order=()
if ! $with_kind && ! $with_kind_node; then
  order+=("etcd@$ETCD_VERSION" "kwokctl@$KWOK_VERSION" "kwok@$KWOK_VERSION")
  for b in kube-apiserver kube-controller-manager kube-scheduler; do order+=("$b@$KUBERNETES_VERSION"); done
fi
# The real node's binaries come from the same module and share most of its build cache.
if $with_node; then order+=("kubelet@$KUBERNETES_VERSION" "kube-proxy@$KUBERNETES_VERSION"); fi
if $with_kind; then order+=("kind@$KIND_VERSION"); fi
if $with_kind_node; then
  for b in kubeadm kubelet kubectl kube-proxy kube-apiserver kube-controller-manager kube-scheduler; do
    order+=("$b@$KUBERNETES_VERSION")
  done
  order+=("etcd@$KIND_ETCD_VERSION" "coredns@$KIND_COREDNS_VERSION" "crictl@$KIND_CRICTL_VERSION")
fi
# Each binary once, in order.
declare -A seen=()
items=()
for item in "${order[@]}"; do
  [ -n "${seen[$item]:-}" ] || items+=("$item")
  seen[$item]=1
done

missing=()
for item in "${items[@]}"; do
  [ -x "$WORKSHOP_BIN/${item%@*}-${item#*@}" ] || missing+=("$item")
done

if [ ${#missing[@]} -gt 0 ]; then
  say "building ${missing[*]//@/ } from Go modules into $WORKSHOP_BIN (about 2 minutes a binary on 2 cores; cached afterwards)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/workshop-build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
  total_start=$(now)

  # A throwaway module per project that requires the pinned version; `go build` then builds the
  # command from the module cache exactly as tagged.
  new_module() { # dir, module requirement
    mkdir -p "$1"
    printf 'module workshop.local/build\n\ngo 1.26\n\nrequire %s\n' "$2" >"$1/go.mod"
  }

  setup_kubernetes() {
    local dir=$work/kubernetes
    new_module "$dir" "k8s.io/kubernetes $KUBERNETES_VERSION"
    # k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/client-go, ...) with
    # local paths, so it cannot be required as it is. Replace each one with its published tag.
    local modfile
    modfile=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    [ -f "$modfile" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION (is the Go module proxy reachable?)"
    local m
    for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$modfile"); do
      (cd "$dir" && go mod edit -replace "$m=$m@$staging_version")
    done
  }

  build_one() { # binary version
    local b=$1 v=$2 out="$WORKSHOP_BIN/$1-$2" pkg dir ldflags="-s -w"
    case $b in
      etcd)
        dir=$work/etcd-$v; new_module "$dir" "go.etcd.io/etcd/server/v3 $v"; pkg=go.etcd.io/etcd/server/v3 ;;
      kwok|kwokctl)
        dir=$work/kwok; [ -f "$dir/go.mod" ] || new_module "$dir" "sigs.k8s.io/kwok $v"
        pkg=sigs.k8s.io/kwok/cmd/$b
        ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.Version=$v" ;;
      kind)
        dir=$work/kind; new_module "$dir" "sigs.k8s.io/kind $v"; pkg=sigs.k8s.io/kind ;;
      coredns)
        dir=$work/coredns; new_module "$dir" "github.com/coredns/coredns $v"; pkg=github.com/coredns/coredns
        ldflags+=" -X github.com/coredns/coredns/coremain.GitCommit=$v" ;;
      crictl)
        dir=$work/cri-tools; new_module "$dir" "sigs.k8s.io/cri-tools $v"; pkg=sigs.k8s.io/cri-tools/cmd/crictl
        ldflags+=" -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" ;;
      kube-*|kubelet|kubeadm|kubectl)
        dir=$work/kubernetes; [ -f "$dir/go.mod" ] || setup_kubernetes
        pkg=k8s.io/kubernetes/cmd/$b
        # kwokctl reads `<binary> --version` to choose flags: stamp the real version.
        local vb=k8s.io/component-base/version
        ldflags+=" -X $vb.gitVersion=$v -X $vb.gitMajor=1 -X $vb.gitMinor=$k8s_minor -X $vb.gitTreeState=clean" ;;
    esac
    (cd "$dir" && run_with_progress "build $b $v" "$work/$b.log" \
      go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
    mv "$out.tmp" "$out"
  }

  i=0
  for item in "${missing[@]}"; do
    i=$((i + 1))
    say "[$i/${#missing[@]}] ${item%@*} ${item#*@} (elapsed $(( $(now) - total_start ))s)"
    build_one "${item%@*}" "${item#*@}"
  done
  say "built in $(( $(now) - total_start ))s: ${missing[*]//@/ }"
fi

# Unversioned names next to the versioned ones, for tools that look binaries up by name (the
# local cluster's etcd keeps the name: the kind node's is looked up by version only).
for item in "${items[@]}"; do
  [ "$item" = "etcd@$KIND_ETCD_VERSION" ] && [ "$KIND_ETCD_VERSION" != "$ETCD_VERSION" ] && continue
  ln -sf "${item%@*}-${item#*@}" "$WORKSHOP_BIN/${item%@*}"
done
if $print_dir; then echo "$WORKSHOP_BIN"; fi
