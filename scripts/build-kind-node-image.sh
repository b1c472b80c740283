#!/usr/bin/env bash
# Builds a kind node image here, for machines where none can be pulled (no registry, only package
# registries): what scripts/ci-kind.sh runs kind with. Learners who can pull never need this:
# cluster-up.sh gives kind the released image pinned in scripts/versions.env.
#
# usage: scripts/build-kind-node-image.sh [--print-image]
#   --print-image  print the image's name on stdout once it is there (progress goes to stderr)
#
# A node image is a Debian system that boots systemd inside a privileged container and holds
# containerd with every image kubeadm and kind will run already in its store, plus kubeadm,
# kubelet and kubectl. This one is made of:
#  1. a base image (cached in Docker as kube-workshop/kind-base): a Debian root filesystem made by
#     mmdebstrap, with systemd, iptables, and Debian's containerd, runc and CNI plugins (the ones
#     the real node of cluster-up.sh --real-node runs); crictl built from its Go module; and the
#     files of kind's own base image recipe (entrypoint, systemd units, containerd settings),
#     taken from the kind Go module at build time, so they always match the kind that runs them;
#  2. the node image (kube-workshop/kind-node): kubeadm, kubelet and kubectl from
#     scripts/build-control-plane.sh --kind-node, and, imported into its containerd under their
#     official names so nothing is pulled, the images kubeadm names (kube-apiserver,
#     kube-controller-manager, kube-scheduler, kube-proxy with iptables, etcd, CoreDNS), the Pod
#     sandbox's pause (from Kubernetes' pause.c), and kind's network daemon.
# Two things differ from kind's released images, each because of this machine:
#  - kindnetd cannot be built here (the Go module proxy does not serve kind's kindnetd module):
#    under its official name runs a stand-in that writes the node's CNI configuration (ptp and
#    host-local, for the cluster's Pod subnet, one node) and then waits, which is what a
#    one-node cluster needs of kindnetd. kind's storage provisioner is left out: without its
#    manifest in the image, kind installs its built-in StorageClass (the workshop uses no volumes).
#  - this kind of virtual machine forbids negative OOM score adjustments, even to root: containerd
#    is told to restrict them (as kind does in user namespaces), and the units that ask for one
#    (containerd, journald) get none.
# Both images are rebuilt only when an input changes (the versions in scripts/versions.env, or
# this script): their label io.kube-workshop.inputs holds the inputs' checksum.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/kind.sh"
source "$ROOT/scripts/lib/node.sh"

print_image=false
while [ $# -gt 0 ]; do
  case "$1" in
    --print-image) print_image=true ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (usage: scripts/build-kind-node-image.sh [--print-image])" ;;
  esac
  shift
done

# What the base's root filesystem holds, beside the minimal Debian system: systemd as init, the
# node's networking tools, the container runtime, and what kind and its entrypoint call.
BASE_PACKAGES=(systemd systemd-sysv conntrack iptables nftables iproute2 ethtool util-linux
  mount kmod libseccomp2 pigz bash ca-certificates curl jq procps e2fsprogs
  containerd runc containernetworking-plugins)
# Which of those packages' files the kube-proxy image holds: iptables (nf_tables), its libraries,
# conntrack, and the C library.
PROXY_PACKAGES=(libc6 libgcc-s1 iptables libip4tc2 libip6tc2 libxtables12 libnftnl11 libmnl0
  libnetfilter-conntrack3 libnfnetlink0 conntrack)

inputs=$( { cat "$0"; printf '%s\n' "$KUBERNETES_VERSION" "$KIND_VERSION" "$KIND_ETCD_VERSION" \
  "$KIND_COREDNS_VERSION" "$KIND_CRICTL_VERSION" "$KIND_NODE_DEBIAN_SUITE" "$PAUSE_VERSION"; } | sha256sum | cut -c1-12)
BASE_IMAGE="kube-workshop/kind-base:$KIND_NODE_DEBIAN_SUITE-$inputs"
NODE_IMAGE="kube-workshop/kind-node:$KUBERNETES_VERSION-$inputs"
LABEL=io.kube-workshop.inputs

image_built() { [ "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null)" = "$inputs" ]; }

docker_ensure
if image_built "$NODE_IMAGE"; then
  say "kind node image $NODE_IMAGE is built already"
  $print_image && echo "$NODE_IMAGE"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building a node image makes a Debian root filesystem (mmdebstrap), which needs root"
start=$(now)
work=$(mktemp -d "${TMPDIR:-/tmp}/kind-node-image.XXXXXX")
build_container=
cleanup() {
  [ -z "$build_container" ] || docker rm -f "$build_container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
log_dir="$WORKSHOP_CACHE/logs"
mkdir -p "$log_dir"

# What this machine needs for the build: busybox-static (the busybox image), gcc (pause);
# mmdebstrap (the root filesystem) is installed by debian_rootfs.
need=()
[ -x /bin/busybox ] || need+=(busybox-static)
have gcc || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  have apt-get || die "building the node image needs ${need[*]} (Debian or Ubuntu packages)"
  say "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  run_with_progress "apt-get update" "$log_dir/apt-update.log" apt-get update -q -o DPkg::Lock::Timeout=600
  run_with_progress "apt-get install ${need[*]}" "$log_dir/apt-install-kind-node.log" \
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}"
fi
"$ROOT/scripts/build-control-plane.sh" --kind --kind-node
kind_dir=$(cd "$work" && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -d "$kind_dir/images/base/files" ] || die "could not download the kind module sigs.k8s.io/kind@$KIND_VERSION (is the Go module proxy reachable?)"
kind_files="$kind_dir/images/base/files"

# --- 1. the base image -------------------------------------------------------------------------
build_base() {
  local rootfs="$work/rootfs"
  say "base image $BASE_IMAGE: Debian $KIND_NODE_DEBIAN_SUITE with systemd, containerd and kind's files"
  debian_rootfs "$KIND_NODE_DEBIAN_SUITE" "$rootfs" "${BASE_PACKAGES[@]}"

  # systemd in a container: nothing that waits for hardware, consoles or udev. Only the units
  # enabled below start.
  rm -f "$rootfs"/etc/systemd/system/*.wants/* "$rootfs"/lib/systemd/system/multi-user.target.wants/* \
        "$rootfs"/lib/systemd/system/local-fs.target.wants/* "$rootfs"/lib/systemd/system/basic.target.wants/* \
        "$rootfs"/lib/systemd/system/sockets.target.wants/*udev* "$rootfs"/lib/systemd/system/sockets.target.wants/*initctl* \
        "$rootfs"/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service
  echo "ReadKMsg=no" >>"$rootfs/etc/systemd/journald.conf"

  # kind's own recipe: its entrypoint and helper scripts, systemd units, containerd, crictl and
  # kubelet defaults, and sysctls, with the modes kind's Dockerfile gives them.
  install -m 0755 "$kind_files/usr/local/bin/entrypoint" "$rootfs/usr/local/bin/entrypoint"
  mkdir -p "$rootfs/kind/bin" "$rootfs/etc/containerd" "$rootfs/etc/default" "$rootfs/etc/sysctl.d" \
           "$rootfs/etc/systemd/system/kubelet.service.d" "$rootfs/etc/kubernetes/manifests"
  install -m 0755 "$kind_files"/kind/bin/* "$rootfs/kind/bin/"
  install -m 0644 "$kind_files/etc/crictl.yaml" "$rootfs/etc/"
  install -m 0644 "$kind_files/etc/containerd/config.toml" "$rootfs/etc/containerd/"
  install -m 0644 "$kind_files"/etc/default/* "$rootfs/etc/default/"
  install -m 0644 "$kind_files"/etc/sysctl.d/* "$rootfs/etc/sysctl.d/"
  install -m 0644 "$kind_files"/etc/systemd/system/*.service "$kind_files"/etc/systemd/system/*.slice "$rootfs/etc/systemd/system/"
  install -m 0644 "$kind_files"/etc/systemd/system/kubelet.service.d/* "$rootfs/etc/systemd/system/kubelet.service.d/"

  # Debian's runtime where kind's recipe expects the one it builds: containerd in /usr/local/bin,
  # the CNI plugins in /opt/cni/bin.
  ln -s /usr/bin/containerd "$rootfs/usr/local/bin/containerd"
  mkdir -p "$rootfs/opt/cni"
  ln -s /usr/lib/cni "$rootfs/opt/cni/bin"
  install -m 0755 "$WORKSHOP_BIN/crictl-$KIND_CRICTL_VERSION" "$rootfs/usr/local/bin/crictl"

  # This machine forbids negative OOM score adjustments: containerd must not ask for them for
  # containers (every Pod sandbox would fail to start), and systemd must not for its units
  # (a unit whose adjustment fails does not start).
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$rootfs/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$rootfs/etc/containerd/config.toml" \
    || die "kind's containerd config no longer says restrict_oom_score_adj = false: update this script"
  local unit
  for unit in containerd.service systemd-journald.service; do
    mkdir -p "$rootfs/etc/systemd/system/$unit.d"
    printf '[Service]\nOOMScoreAdjust=0\n' >"$rootfs/etc/systemd/system/$unit.d/10-no-negative-oom-score.conf"
  done

  # The OCI spec containerd starts containers from: its default, with kind's hook that gives each
  # container the node's product name and uuid, and without rlimits.
  chroot "$rootfs" sh -c 'ctr oci spec | jq ".hooks.createContainer += [{\"path\": \"/kind/bin/mount-product-files.sh\"}] | del(.process.rlimits)" >/etc/containerd/cri-base.json'
  chroot "$rootfs" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  chroot "$rootfs" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

  say "importing the base root filesystem into Docker"
  # systemd is PID 1: it tells the container it runs in by `container`, and stops on SIGRTMIN+3
  # (SIGTERM would make it re-execute itself). `docker import` cannot set a stop signal: a
  # one-line build on top does.
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV container=docker' \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
    - "$BASE_IMAGE-rootfs" >/dev/null
  printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL %s=%s\n' "$BASE_IMAGE-rootfs" "$LABEL" "$inputs" \
    | docker build -q -t "$BASE_IMAGE" - >/dev/null 2>"$work/stop-signal-build.log" \
    || { cat "$work/stop-signal-build.log" >&2; die "could not set the base image's stop signal"; }
  docker rmi "$BASE_IMAGE-rootfs" >/dev/null
  rm -rf "$rootfs"
}
if image_built "$BASE_IMAGE"; then
  say "base image $BASE_IMAGE is built already"
else
  build_base
fi

# --- 2. the images containerd holds --------------------------------------------------------------
images="$work/images"
mkdir -p "$images"
say "the images kubeadm and kind will run, under their official names"
# What kubeadm will ask for: the program's name, its image and tag.
kubeadm_images=$("$WORKSHOP_BIN/kubeadm-$KUBERNETES_VERSION" config images list --kubernetes-version "$KUBERNETES_VERSION")
kubeadm_image() { grep -m1 "/$1:" <<<"$kubeadm_images" || die "kubeadm $KUBERNETES_VERSION names no $1 image"; }
etcd_image=$(kubeadm_image etcd)
coredns_image=$(kubeadm_image coredns)
[ "${etcd_image##*:}" = "${KIND_ETCD_VERSION#v}-0" ] \
  || die "kubeadm $KUBERNETES_VERSION runs $etcd_image, but scripts/versions.env pins KIND_ETCD_VERSION=$KIND_ETCD_VERSION: make them agree"
[ "${coredns_image##*:}" = "$KIND_COREDNS_VERSION" ] \
  || die "kubeadm $KUBERNETES_VERSION runs $coredns_image, but scripts/versions.env pins KIND_COREDNS_VERSION=$KIND_COREDNS_VERSION: make them agree"
# What kind will ask for: the Pod sandbox image its containerd config names, and its network
# daemon's image as its node image builder names it.
pause_image=$(sed -n 's/^ *sandbox_image = "\(.*\)"/\1/p' "$kind_files/etc/containerd/config.toml")
kindnetd_image=$(sed -n 's/^const kindnetdImage = "\(.*\)"/\1/p' "$kind_dir/pkg/build/nodeimage/const_cni.go")
[ -n "$pause_image" ] && [ -n "$kindnetd_image" ] || die "could not read the pause and kindnetd images from kind $KIND_VERSION's sources"

# static_image NAME BINARY PATH-IN-IMAGE [CONFIG]: a one-program image.
static_image() {
  local ref=$1 binary=$2 path=$3 fields=${4:-} rootfs="$work/rootfs-$(basename "$3")"
  mkdir -p "$rootfs$(dirname "$path")" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  install -m 0755 "$binary" "$rootfs$path"
  node_image_tar "$ref" "$rootfs" "${fields:-\"Entrypoint\":[\"$path\"]}" "$images/$(basename "$path").tar"
  rm -rf "$rootfs"
}
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  static_image "registry.k8s.io/$b:$KUBERNETES_VERSION" "$WORKSHOP_BIN/$b-$KUBERNETES_VERSION" "/usr/local/bin/$b"
done
static_image "$etcd_image" "$WORKSHOP_BIN/etcd-$KIND_ETCD_VERSION" /usr/local/bin/etcd
static_image "$coredns_image" "$WORKSHOP_BIN/coredns-$KIND_COREDNS_VERSION" /coredns

# kube-proxy drives iptables: its image holds the base's iptables (nf_tables, as the node uses),
# conntrack and their libraries, copied out of the base image by package.
proxy_rootfs="$work/rootfs-kube-proxy"
mkdir -p "$proxy_rootfs/usr/local/bin"
usrmerged_dir "$proxy_rootfs"
docker run --rm --entrypoint sh "$BASE_IMAGE" -c "$PACKAGE_FILES_SCRIPT" sh "${PROXY_PACKAGES[@]}" | tar -C "$proxy_rootfs" -x
(cd "$proxy_rootfs" && docker run --rm --entrypoint sh "$BASE_IMAGE" -c 'tar -c /etc/alternatives/ip*tables* /usr/sbin/ip*tables* 2>/dev/null' | tar -x)
install -m 0755 "$WORKSHOP_BIN/kube-proxy-$KUBERNETES_VERSION" "$proxy_rootfs/usr/local/bin/kube-proxy"
node_image_tar "registry.k8s.io/kube-proxy:$KUBERNETES_VERSION" "$proxy_rootfs" '"Entrypoint":["/usr/local/bin/kube-proxy"]' "$images/kube-proxy.tar"
rm -rf "$proxy_rootfs"

# pause, from the Kubernetes module's pause.c, as the real node's (node.sh).
pause_src="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBERNETES_VERSION/build/pause/linux/pause.c"
[ -f "$pause_src" ] || (cd "$work" && go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null 2>&1) || true
[ -f "$pause_src" ] || die "no pause.c at $pause_src"
mkdir -p "$work/pause"
gcc -Os -static -DVERSION="${pause_image##*:}" -o "$work/pause/pause" "$pause_src"
node_image_tar "$pause_image" "$work/pause" '"Entrypoint":["/pause"]' "$images/pause.tar"

# kindnetd's stand-in: busybox (node.sh builds it from busybox-static) and a script that writes
# the node's CNI configuration once, for the Pod subnet kind passes in POD_SUBNET, then waits.
busybox_rootfs="$work/rootfs-kindnetd"
mkdir -p "$busybox_rootfs"
busybox_tar=$(node_busybox_tar)
layer=$(tar -tf "$busybox_tar" | grep -v '^manifest.json$' | grep '\.tar$')
tar -xOf "$busybox_tar" "$layer" | tar -C "$busybox_rootfs" -x
cat >"$busybox_rootfs/bin/kindnetd" <<'SH'
#!/bin/sh
# A stand-in for kind's kindnetd on a one-node cluster: the node's CNI configuration, a point-to-
# point veth per Pod with addresses from the cluster's Pod subnet, masqueraded when leaving it.
set -eu
: "${POD_SUBNET:?kind passes the Pod subnet in POD_SUBNET}"
conf=/etc/cni/net.d/10-kindnet.conflist
cat >"$conf.tmp" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "kindnet",
  "plugins": [
    { "type": "ptp", "ipMasq": true, "mtu": 1500,
      "ipam": { "type": "host-local", "dataDir": "/run/cni-ipam-state",
                "ranges": [[{ "subnet": "$POD_SUBNET" }]], "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
mv "$conf.tmp" "$conf"
echo "kindnetd stand-in: wrote $conf for $POD_SUBNET"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
SH
chmod 0755 "$busybox_rootfs/bin/kindnetd"
node_image_tar "$kindnetd_image" "$busybox_rootfs" '"Entrypoint":["/bin/kindnetd"]' "$images/kindnetd.tar"
rm -rf "$busybox_rootfs"

# --- 3. the node image ---------------------------------------------------------------------------
say "node image $NODE_IMAGE: binaries, manifests and images into a container of the base, then commit"
build_container="kube-workshop-kind-build-$$"
docker run -d --name "$build_container" --entrypoint sleep --security-opt seccomp=unconfined "$BASE_IMAGE" infinity >/dev/null
for b in kubeadm kubelet kubectl; do
  docker cp "$WORKSHOP_BIN/$b-$KUBERNETES_VERSION" "$build_container:/usr/bin/$b"
done
docker exec "$build_container" sh -c "chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl && echo -n $KUBERNETES_VERSION >/kind/version && mkdir -p /kind/manifests"
# The network manifest kind applies when the cluster is created (kind fills in {{ .PodSubnet }}
# when the file says "would you kindly template this file").
docker exec -i "$build_container" sh -c 'cat >/kind/manifests/default-cni.yaml' <<YAML
# would you kindly template this file
# kindnetd's stand-in (scripts/build-kind-node-image.sh): on each node, writes the CNI
# configuration for the cluster's Pod subnet.
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kindnet
  namespace: kube-system
  labels: { app: kindnet, k8s-app: kindnet, tier: node }
spec:
  selector:
    matchLabels: { app: kindnet }
  template:
    metadata:
      labels: { app: kindnet, k8s-app: kindnet, tier: node }
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations: [{ operator: Exists }]
      nodeSelector: { kubernetes.io/os: linux }
      containers:
      - name: kindnet-cni
        image: $kindnetd_image
        imagePullPolicy: IfNotPresent
        env:
        - { name: POD_SUBNET, value: "{{ .PodSubnet }}" }
        volumeMounts:
        - { name: cni-cfg, mountPath: /etc/cni/net.d }
        resources:
          requests: { cpu: 10m, memory: 10Mi }
      volumes:
      - name: cni-cfg
        hostPath: { path: /etc/cni/net.d }
YAML
# containerd of the node, started for the import only; images pinned (the kubelet's garbage
# collector must never delete what cannot be pulled again).
docker exec "$build_container" sh -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
for i in $(seq 1 30); do docker exec "$build_container" ctr version >/dev/null 2>&1 && break; sleep 1; done
docker exec "$build_container" ctr version >/dev/null 2>&1 || { docker exec "$build_container" cat /tmp/containerd.log >&2; die "containerd did not start in the build container"; }
for tarball in "$images"/*.tar; do
  docker exec -i "$build_container" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
    --all-platforms --no-unpack --digests - <"$tarball" >/dev/null \
    || die "could not import $(basename "$tarball") into the node's containerd"
done
docker exec "$build_container" ctr --namespace=k8s.io images list -q | grep -v -e '^sha256:' -e '^import-' | sed 's/^/    /' >&2
# Stopped before the commit, so that its database is whole in the image.
# (The container's PID 1 is sleep, which reaps nobody: a containerd that exited stays a zombie.)
docker exec "$build_container" sh -c 'pkill -x containerd; for i in $(seq 1 300); do ps -C containerd -o stat= | grep -q "^[^Z]" || exit 0; sleep 0.1; done; exit 1' \
  || die "containerd in the build container did not stop within 30s"
docker exec "$build_container" rm -f /tmp/containerd.log
docker commit \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change "LABEL $LABEL=$inputs" \
  "$build_container" "$NODE_IMAGE" >/dev/null
say "kind node image $NODE_IMAGE built in $(( $(now) - start ))s"
$print_image && echo "$NODE_IMAGE"
exit 0
