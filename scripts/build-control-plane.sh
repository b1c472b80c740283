#!/usr/bin/env bash
# Builds the binaries of the Docker-free local cluster from their Go modules, once per version:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and kwokctl; with
# --with-node also the kubelet and kube-proxy of the real node (scripts/lib/node.sh).
#
# Used where they cannot be downloaded (no internet, only a Go module proxy). The binaries land
# in the workshop cache (scripts/lib/common.sh: $WORKSHOP_BIN) named <binary>-<version>, so a
# second run, or a new pin in scripts/versions.env, only builds what is missing.
#
# usage: scripts/build-control-plane.sh [--with-node] [--print-dir]
#   --with-node  also build kubelet and kube-proxy (about 5 more minutes on 2 cores)
#   --print-dir  print the directory holding the binaries once they are all there
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

print_dir=false with_node=false
while [ $# -gt 0 ]; do
  case "$1" in
    --print-dir) print_dir=true ;;
    --with-node) with_node=true ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (usage: scripts/build-control-plane.sh [--with-node] [--print-dir])" ;;
  esac
  shift
done

have go || die "building the local cluster needs the Go toolchain (https://go.dev/dl/, 1.26 or newer), or use kind with Docker: scripts/cluster-up.sh --runtime kind"

mkdir -p "$WORKSHOP_BIN"
# One build at a time: a learner's cluster-up and a test run may both ask for the binaries.
exec 9>"$WORKSHOP_BIN/.build.lock"
if ! flock -n 9; then
  say "another build of the control plane is running; waiting for it"
  flock 9
fi

k8s_minor=${KUBERNETES_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
staging_version="v0.${KUBERNETES_VERSION#v1.}"    # k8s.io/api etc. are tagged v0.<minor>.<patch>

declare -A version=(
  [etcd]=$ETCD_VERSION
  [kube-apiserver]=$KUBERNETES_VERSION
  [kube-controller-manager]=$KUBERNETES_VERSION
  [kube-scheduler]=$KUBERNETES_VERSION
  [kwok]=$KWOK_VERSION
  [kwokctl]=$KWOK_VERSION
  [kubelet]=$KUBERNETES_VERSION
  [kube-proxy]=$KUBERNETES_VERSION
)
order=(etcd kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler)
# The real node's binaries come from the same module and share most of its build cache.
if $with_node; then order+=(kubelet kube-proxy); fi

missing=()
for b in "${order[@]}"; do
  [ -x "$WORKSHOP_BIN/$b-${version[$b]}" ] || missing+=("$b")
done

if [ ${#missing[@]} -gt 0 ]; then
  say "building ${missing[*]} from Go modules into $WORKSHOP_BIN (about 2 minutes a binary on 2 cores; cached afterwards)"
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

  build_one() { # binary
    local b=$1 v=${version[$1]} out="$WORKSHOP_BIN/$1-${version[$1]}" pkg dir ldflags="-s -w"
    case $b in
      etcd)
        dir=$work/etcd; new_module "$dir" "go.etcd.io/etcd/server/v3 $v"; pkg=go.etcd.io/etcd/server/v3 ;;
      kwok|kwokctl)
        dir=$work/kwok; [ -f "$dir/go.mod" ] || new_module "$dir" "sigs.k8s.io/kwok $v"
        pkg=sigs.k8s.io/kwok/cmd/$b
        ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.Version=$v" ;;
      kube-*|kubelet)
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
  for b in "${missing[@]}"; do
    i=$((i + 1))
    say "[$i/${#missing[@]}] $b ${version[$b]} (elapsed $(( $(now) - total_start ))s)"
    build_one "$b"
  done
  say "control plane built in $(( $(now) - total_start ))s"
fi

# Unversioned names next to the versioned ones, for tools that look binaries up by name.
for b in "${order[@]}"; do ln -sf "$b-${version[$b]}" "$WORKSHOP_BIN/$b"; done
if $print_dir; then echo "$WORKSHOP_BIN"; fi
