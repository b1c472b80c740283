# The real node of the Docker-free local cluster: a kubelet and kube-proxy built from the
# Kubernetes Go module, beside containerd, runc and the CNI plugins from the operating system's
# packages. Shared by cluster-up.sh and cluster-down.sh. Sourced after cluster.sh, never run.
# shellcheck shell=bash

# The packages the real node needs, as Debian and Ubuntu name them, and one file each installs.
NODE_PACKAGES=(containerd runc containernetworking-plugins busybox-static iptables gcc)
declare -A NODE_PACKAGE_FILE=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [busybox-static]=/bin/busybox
  [iptables]=/usr/sbin/iptables
  [gcc]=/usr/bin/gcc
)

# node_packages_missing: prints the packages whose file is missing, one per line.
node_packages_missing() {
  local p
  for p in "${NODE_PACKAGES[@]}"; do
    [ -e "${NODE_PACKAGE_FILE[$p]}" ] || echo "$p"
  done
}

# node_install_packages: installs what is missing when it may (root on Debian or Ubuntu);
# otherwise says in one line what to install, and fails.
node_install_packages() {
  local missing
  mapfile -t missing < <(node_packages_missing)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && have apt-get; then
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # The machine's packages, not the node's state: their logs go with the workshop's cache,
    # which outlives the node (NODE_DIR is made later, when a cluster claims the node).
    run_with_progress "apt-get update" "$WORKSHOP_CACHE/logs/apt-update.log" apt-get update -q -o DPkg::Lock::Timeout=600
    run_with_progress "apt-get install" "$WORKSHOP_CACHE/logs/apt-install.log" \
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
  else
    die "the real node needs these packages: ${missing[*]} (as root on Debian/Ubuntu: apt-get install ${missing[*]})"
  fi
}

# One real node per machine: its kubelet and kube-proxy listen on fixed ports (10250, 10256),
# and it owns a containerd, a network bridge and iptables chains. Everything it makes lives
# under NODE_DIR, and NODE_DIR/cluster names the cluster it belongs to.
NODE_DIR="${WORKSHOP_NODE_DIR:-/var/lib/kube-workshop-node}"
NODE_NAME=real-node
NODE_LOG_DIR="$NODE_DIR/logs"
NODE_SOCK="$NODE_DIR/run/containerd.sock"
NODE_BRIDGE=workshop0
NODE_POD_SUBNET=10.244.0.0/24
# The images the node can run, loaded with no registry (none can be reached to pull from):
# busybox under the names the workshop's Tasks and tests use, and the Pod sandbox's pause.
NODE_BUSYBOX_IMAGES=(docker.io/library/busybox:1.37 docker.io/library/busybox:1.36)
NODE_PAUSE_IMAGE=registry.k8s.io/pause:$PAUSE_VERSION
# The taint that keeps Pods off the fake node while a real node exists (see node_up).
NODE_FAKE_TAINT=workshop.io/fake-node

node_ctr() { ctr --address "$NODE_SOCK" -n k8s.io "$@"; }

# node_pid NAME: the pid of the node's process NAME (containerd, kubelet, kube-proxy) if it runs.
node_pid() {
  local pid
  pid=$(cat "$NODE_DIR/run/$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# node_owner: the cluster the real node belongs to, if any.
node_owner() { cat "$NODE_DIR/cluster" 2>/dev/null; }

# node_check_host: what the machine must offer, each missing piece said in one line.
node_check_host() {
  [ "$(uname -s)" = Linux ] || die "a real node needs Linux (this is $(uname -s)); use kind with Docker, or the fake node only"
  [ "$(id -u)" = 0 ] || die "a real node runs a kubelet and containerd, which need root: run as root, or without --real-node"
  node_install_packages
  have go || die "a real node's kubelet is built from Go modules: install Go 1.26+"
}

# node_check_free NAME: fails clearly, before anything is made, if another cluster that still
# exists has the real node.
node_check_free() {
  local name=$1 owner
  owner=$(node_owner || true)
  if [ -n "$owner" ] && [ "$owner" != "$name" ] && [ -d "$KWOK_CLUSTERS/$owner" ]; then
    die "the real node belongs to cluster '$owner' (one per machine: kubelet ports, containerd, iptables).
       Delete it first (scripts/cluster-down.sh --name $owner), or bring '$name' up without --real-node."
  fi
}

# node_claim NAME: makes the real node this cluster's, cleaning up what a cluster that is gone
# left of it.
node_claim() {
  local name=$1 owner
  node_check_free "$name"
  owner=$(node_owner || true)
  if [ -n "$owner" ] && [ "$owner" != "$name" ]; then
    say "the real node of cluster '$owner' is left over (that cluster is gone); cleaning it up"
    node_down
  fi
  mkdir -p "$NODE_DIR/run" "$NODE_LOG_DIR"
  echo "$name" >"$NODE_DIR/cluster"
}

# node_start_process NAME CMD...: starts a long-running process of the node, detached, logging
# to NODE_LOG_DIR/NAME.log, unless it runs already.
node_start_process() {
  local name=$1; shift
  node_pid "$name" >/dev/null && return 0
  setsid "$@" >>"$NODE_LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$NODE_DIR/run/$name.pid"
}

# node_write FILE: writes stdin into FILE, unless FILE already holds exactly that. Running a
# cluster's setup again rewrites nothing a running process reads: kube-proxy exits ("content of
# the proxy server's configuration file was updated") when its configuration file is written,
# even with the same content.
node_write() {
  local file=$1 new
  new=$(cat)
  [ -f "$file" ] && [ "$(cat "$file")" = "$new" ] && return 0
  printf '%s\n' "$new" >"$file"
}

# node_wait LABEL SECONDS CMD...: waits until CMD succeeds, with progress every 10 seconds.
node_wait() {
  local label=$1 limit=$2 start; shift 2
  start=$(now)
  until "$@" >/dev/null 2>&1; do
    if (( $(now) - start >= limit )); then
      die "$label: not ready after ${limit}s (logs: $NODE_LOG_DIR)"
    fi
    (( ($(now) - start) % 10 == 9 )) && printf '    %s: waiting (%ss)\n' "$label" "$(( $(now) - start ))" >&2
    sleep 1
  done
}

node_containerd_up() {
  mkdir -p "$NODE_DIR/containerd" "$NODE_DIR/cni/net.d" "$NODE_DIR/run"
  # restrict_oom_score_adj: this kind of machine forbids lowering a process's oom_score_adj,
  # and without it every Pod sandbox fails (runc: "can't get final child's PID from pipe").
  node_write "$NODE_DIR/containerd/config.toml" <<TOML
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
[grpc]
  address = "$NODE_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$NODE_PAUSE_IMAGE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$NODE_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
TOML
  # One bridge for the node's Pods, masquerading their traffic out.
  node_write "$NODE_DIR/cni/net.d/10-workshop.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "workshop",
  "plugins": [
    { "type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": true,
      "ipam": { "type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
                "ranges": [[{ "subnet": "$NODE_POD_SUBNET" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
JSON
  node_start_process containerd containerd --config "$NODE_DIR/containerd/config.toml"
  node_wait containerd 30 node_ctr version
}

# node_image_tar NAME ROOTFS CONFIG TARBALL: packs ROOTFS as a one-layer image archive in the
# format `docker save` writes, which `ctr images import` reads: no registry, no Docker. CONFIG is
# the image config's fields beside Env, as JSON: '"Cmd":["sh"]'.
node_image_tar() {
  local ref=$1 rootfs=$2 fields=$3 out=$4 work layer_sum config config_sum
  mkdir -p "$(dirname "$out")"
  work=$(mktemp -d)
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/layer.tar" .
  layer_sum=$(sha256sum "$work/layer.tar" | cut -d ' ' -f 1)
  config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],$fields},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sum\"]}}"
  config_sum=$(printf '%s' "$config" | sha256sum | cut -d ' ' -f 1)
  printf '%s' "$config" >"$work/$config_sum.json"
  mv "$work/layer.tar" "$work/$layer_sum.tar"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s.tar"]}]' "$config_sum" "$ref" "$layer_sum" >"$work/manifest.json"
  tar -C "$work" -cf "$out" manifest.json "$config_sum.json" "$layer_sum.tar"
  rm -rf "$work"
}

# node_busybox_tar: builds (once, cached) the busybox image archive, tagged
# ${NODE_BUSYBOX_IMAGES[0]}, from this machine's busybox-static; prints its path. kind's nodes
# load it too (scripts/ci-kind.sh, scripts/build-kind-node-image.sh).
node_busybox_tar() {
  local dir="$WORKSHOP_CACHE/images" rootfs
  mkdir -p "$dir"
  if [ ! -f "$dir/busybox.tar" ]; then
    [ -x /bin/busybox ] || die "the busybox image is made from Debian's busybox-static, which is not installed (apt-get install busybox-static)"
    say "building the busybox image from this machine's busybox-static"
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
      [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    node_image_tar "${NODE_BUSYBOX_IMAGES[0]}" "$rootfs" '"Cmd":["sh"]' "$dir/busybox.tar.part"
    mv "$dir/busybox.tar.part" "$dir/busybox.tar"
    rm -rf "$rootfs"
  fi
  echo "$dir/busybox.tar"
}

# node_images: builds (once, cached) and loads the busybox and pause images, pinned so that
# the kubelet's image garbage collector never deletes them: they could not be pulled again.
node_images() {
  local dir="$WORKSHOP_CACHE/images" rootfs ref pause_src
  node_busybox_tar >/dev/null
  if [ ! -f "$dir/pause-$PAUSE_VERSION.tar" ]; then
    pause_src="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBERNETES_VERSION/build/pause/linux/pause.c"
    [ -f "$pause_src" ] || (cd "$(mktemp -d)" && go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null 2>&1) || true
    [ -f "$pause_src" ] || die "no pause.c at $pause_src (build the node binaries first: scripts/build-control-plane.sh --with-node)"
    say "building the pause image from Kubernetes' pause.c (gcc -static)"
    rootfs=$(mktemp -d)
    gcc -Os -static -DVERSION="$PAUSE_VERSION" -o "$rootfs/pause" "$pause_src"
    node_image_tar "$NODE_PAUSE_IMAGE" "$rootfs" '"Entrypoint":["/pause"]' "$dir/pause-$PAUSE_VERSION.tar.part"
    mv "$dir/pause-$PAUSE_VERSION.tar.part" "$dir/pause-$PAUSE_VERSION.tar"
    rm -rf "$rootfs"
  fi
  local have_images
  have_images=$(node_ctr images ls -q)
  grep -qx "$NODE_PAUSE_IMAGE" <<<"$have_images" || node_ctr images import "$dir/pause-$PAUSE_VERSION.tar" >/dev/null
  grep -qx "${NODE_BUSYBOX_IMAGES[0]}" <<<"$have_images" || node_ctr images import "$dir/busybox.tar" >/dev/null
  for ref in "${NODE_BUSYBOX_IMAGES[@]:1}"; do
    grep -qx "$ref" <<<"$have_images" || node_ctr images tag "${NODE_BUSYBOX_IMAGES[0]}" "$ref" >/dev/null
  done
  for ref in "$NODE_PAUSE_IMAGE" "${NODE_BUSYBOX_IMAGES[@]}"; do
    node_ctr images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
  done
}

# node_program_image BINARY PATH REF TARBALL: packs a workshop program as its Dockerfile's
# runtime stage would hold it (distroless/cc, user nonroot): the program at PATH in the image,
# the shared libraries it loads (what `ldd` lists, at the paths it looks for them), and the
# users root and nonroot (65532), which runs it. Shared by step 08's controller and step 09's
# webhook (scripts/deploy-real-node.sh).
node_program_image() {
  local binary=$1 path=$2 ref=$3 out=$4 rootfs lib
  rootfs=$(mktemp -d)
  cp "$binary" "$rootfs$path"
  for lib in $(ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
    cp -L --parents "$lib" "$rootfs/"
  done
  mkdir -p "$rootfs/etc" "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  node_image_tar "$ref" "$rootfs" "\"Entrypoint\":[\"$path\"],\"User\":\"65532:65532\"" "$out"
  rm -rf "$rootfs"
}

# node_load_image TARBALL REF: loads another image (step 08's controller) into the node, pinned.
node_load_image() {
  node_ctr images import "$1" >/dev/null
  node_ctr images label "$2" io.cri-containerd.pinned=pinned >/dev/null
}

# The address other machines (and the API server) reach this one at.
node_ip() { ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }'; }

node_kubelet_up() {
  local kubeconfig=$1 ip=$2
  mkdir -p "$NODE_DIR/kubelet"
  node_write "$NODE_DIR/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$NODE_SOCK
# Kubernetes 1.35+ refuses cgroup v1 unless told otherwise; cgroupfs works on v1 and v2.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
# The API server fetches logs from here; this node trusts the machine it runs on.
authentication:
  anonymous: { enabled: true }
  webhook: { enabled: false }
authorization: { mode: AlwaysAllow }
# The images cannot be pulled again (no registry): never garbage-collect them, and never evict
# Pods because a developer's disk is busy.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "100Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%" }
clusterDomain: cluster.local
podCIDR: $NODE_POD_SUBNET
maxPods: 250
YAML
  node_start_process kubelet "$WORKSHOP_BIN/kubelet-$KUBERNETES_VERSION" \
    --config "$NODE_DIR/kubelet/config.yaml" --kubeconfig "$kubeconfig" \
    --root-dir "$NODE_DIR/kubelet/root" --cert-dir "$NODE_DIR/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$ip" \
    --node-labels workshop.io/real-node=true
}

node_proxy_up() {
  local kubeconfig=$1
  node_write "$NODE_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: "$kubeconfig" }
hostnameOverride: $NODE_NAME
clusterCIDR: $NODE_POD_SUBNET
# Leave the machine's conntrack table size alone.
conntrack: { maxPerCore: 0 }
YAML
  node_start_process kube-proxy "$WORKSHOP_BIN/kube-proxy-$KUBERNETES_VERSION" --config "$NODE_DIR/kube-proxy.yaml"
}

# node_forward_accept: lets the Pods' traffic through the machine's FORWARD chain. Docker sets
# that chain's policy to DROP when it starts (and loads br_netfilter, so that even traffic between
# two Pods on the node's bridge passes the chain): without these rules, a Pod reaches neither
# another Pod nor a Service while dockerd runs. Tagged with a comment, for node_down.
NODE_FORWARD_COMMENT="kube-workshop real node"
node_forward_accept() {
  local dir
  for dir in -i -o; do
    iptables -C FORWARD "$dir" "$NODE_BRIDGE" -m comment --comment "$NODE_FORWARD_COMMENT" -j ACCEPT 2>/dev/null \
      || iptables -A FORWARD "$dir" "$NODE_BRIDGE" -m comment --comment "$NODE_FORWARD_COMMENT" -j ACCEPT
  done
}

# node_bridge_netfilter: has the kernel pass traffic between two Pods on the node's bridge
# through iptables. A Pod that asks a Service for another Pod on the same bridge gets its answer
# straight over the bridge; unless iptables sees that answer too, kube-proxy's translation of the
# Service's address is never undone and the asking Pod drops it (pod to pod works, pod to
# Service does not). kubeadm requires the same setting; Docker sets it when it starts, a freshly
# booted machine may not have it.
NODE_BRIDGE_NF=/proc/sys/net/bridge/bridge-nf-call-iptables
node_bridge_netfilter() {
  [ -e "$NODE_BRIDGE_NF" ] || { have modprobe && modprobe br_netfilter; } || true
  [ -e "$NODE_BRIDGE_NF" ] \
    || die "this kernel has no br_netfilter ($NODE_BRIDGE_NF is missing, and modprobe br_netfilter did not load it): Pods on the real node could not reach Services"
  [ "$(cat "$NODE_BRIDGE_NF")" = 1 ] || echo 1 >"$NODE_BRIDGE_NF"
}

# node_up NAME CONTEXT KUBECONFIG: the real node of cluster NAME, Ready. Idempotent.
node_up() {
  local name=$1 ctx=$2 kubeconfig=$3 ip
  node_check_host
  "$ROOT/scripts/build-control-plane.sh" --with-node
  node_claim "$name"
  ip=$(node_ip)
  [ -n "$ip" ] || die "cannot tell this machine's address (ip route get 1.1.1.1 gave no source address)"
  say "real node '$NODE_NAME' ($ip): containerd, images, kubelet, kube-proxy (logs: $NODE_LOG_DIR)"
  node_containerd_up
  node_forward_accept
  node_bridge_netfilter
  node_images
  node_kubelet_up "$kubeconfig" "$ip"
  node_proxy_up "$kubeconfig"
  node_wait "node $NODE_NAME registers" 90 kubectl --context "$ctx" get node "$NODE_NAME"
  kubectl --context "$ctx" wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null \
    || die "node $NODE_NAME did not become Ready in 120s (kubelet log: $NODE_LOG_DIR/kubelet.log)"
  # Task Pods (and every Pod that does not ask otherwise) land on the real node: the fake
  # nodes are tainted. A taint, not a node selector, because the Pods are the learner's
  # controller's, the same code that runs on kind: nothing in them may know about this
  # cluster. Pods that want the fake nodes' scale (thousands of Pods) tolerate the taint.
  kubectl --context "$ctx" taint nodes -l type=kwok "$NODE_FAKE_TAINT=true:NoSchedule" --overwrite >/dev/null
}

# node_down: stops the real node and removes everything it left on the machine: processes,
# shims, mounts, the Pod bridge, iptables and ip6tables chains, cgroups. Safe to run twice.
node_down() {
  [ -d "$NODE_DIR" ] || return 0
  local proc pid pids mount chain table ipt dir
  for proc in kube-proxy kubelet; do
    pid=$(node_pid "$proc") && kill "$pid" 2>/dev/null || true
  done
  # The shims that containerd started for this node's Pods, and their containers with them.
  pids=$(ps -eo pid=,args= | awk -v a="$NODE_SOCK" 'index($0, "containerd-shim") && index($0, a) { print $1 }')
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  pid=$(node_pid containerd) && kill "$pid" 2>/dev/null || true
  for proc in kube-proxy kubelet containerd; do
    pid=$(cat "$NODE_DIR/run/$proc.pid" 2>/dev/null) || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$NODE_DIR/run/$proc.pid"
  done
  # Mounts: the deepest first.
  awk -v d="$NODE_DIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mount; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
  # Network namespaces of the Pods (made by containerd under /var/run/netns as cni-...).
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ { print $1 }'); do
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "$NODE_BRIDGE" 2>/dev/null || true
  for dir in -i -o; do
    while iptables -D FORWARD "$dir" "$NODE_BRIDGE" -m comment --comment "$NODE_FORWARD_COMMENT" -j ACCEPT 2>/dev/null; do :; done
  done
  [ -x "$WORKSHOP_BIN/kube-proxy-$KUBERNETES_VERSION" ] && "$WORKSHOP_BIN/kube-proxy-$KUBERNETES_VERSION" --cleanup >/dev/null 2>&1 || true
  # The kubelet's own chains, in iptables and ip6tables: KUBE-FIREWALL (jumped to from INPUT and
  # OUTPUT) drops non-loopback traffic to 127.0.0.0/8 until it is gone.
  for ipt in iptables ip6tables; do
    have "$ipt" || continue
    for table in filter nat mangle; do
      "$ipt" -t "$table" -S 2>/dev/null | awk '/^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-/' \
        | sed 's/^-A/-D/' | while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null || true; done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ { print $2 }'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ { print $2 }'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  # The Pods' cgroups (cgroupfs driver: kubepods under each controller), the deepest first.
  find /sys/fs/cgroup -depth -type d -path '*/kubepods*' -exec rmdir {} \; 2>/dev/null || true
  # What libcni and the shims keep outside NODE_DIR: the results of our network, and the
  # directories, once empty.
  rm -f /var/lib/cni/results/workshop-* 2>/dev/null || true
  rmdir /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd 2>/dev/null || true
  rm -rf "$NODE_DIR"
}

# node_traffic_check: on the real node, a Pod reaches another Pod directly and through a
# Service, and the API server through the `kubernetes` Service; fails saying which did not.
# A new Service answers only once the EndpointSlice controller has listed the Ready Pod and
# kube-proxy has written its rules: the client tries it 10 times, a second apart (CI's first try
# once found no answer right after the cluster came up; with bridge-nf-call-iptables at 0 all ten
# fail).
# (What breaks when the machine's FORWARD chain drops the Pods' traffic: see node_forward_accept.)
node_traffic_check() {
  local ns=workshop-node-traffic ip svc log status
  kubectl delete namespace "$ns" --wait=true --timeout=60s >/dev/null 2>&1 || true
  kubectl create namespace "$ns" >/dev/null
  kubectl -n "$ns" create -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: { name: server, labels: { app: server } }
spec:
  nodeName: $NODE_NAME
  containers:
  - name: httpd
    image: ${NODE_BUSYBOX_IMAGES[0]}
    command: ["sh", "-c", "mkdir -p /tmp/www && echo served > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
    readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: server }
spec:
  selector: { app: server }
  ports: [{ port: 80, targetPort: 8080 }]
YAML
  kubectl -n "$ns" wait --for=condition=Ready pod/server --timeout=60s >/dev/null \
    || die "the traffic check's server Pod did not become Ready on $NODE_NAME in 60s"
  ip=$(kubectl -n "$ns" get pod server -o jsonpath='{.status.podIP}')
  svc=$(kubectl -n "$ns" get service server -o jsonpath='{.spec.clusterIP}')
  # shellcheck disable=SC2016
  kubectl -n "$ns" run client --image="${NODE_BUSYBOX_IMAGES[0]}" --restart=Never \
    --overrides="{\"spec\":{\"nodeName\":\"$NODE_NAME\"}}" --command -- sh -c '
      get() { printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 "$1" "$2" | grep -q served; }
      tries() { n=1; until get "$1" "$2"; do [ $n -ge 10 ] && return 1; n=$((n + 1)); sleep 1; done; }
      ok=0
      if get '"$ip"' 8080; then echo "pod to pod ('"$ip"'): ok"; else echo "pod to pod ('"$ip"'): no answer"; ok=1; fi
      if tries '"$svc"' 80; then echo "pod to Service ('"$svc"'): ok (try $n)"; else echo "pod to Service ('"$svc"'): no answer in $n tries"; ok=1; fi
      if echo | nc -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT" >/dev/null; then echo "pod to the API server: ok"; else echo "pod to the API server: no answer"; ok=1; fi
      exit $ok' >/dev/null
  status=failed
  kubectl -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/client --timeout=120s >/dev/null 2>&1 && status=ok
  log=$(kubectl -n "$ns" logs client 2>&1 || true)
  kubectl delete namespace "$ns" --wait=false >/dev/null
  printf '    %s\n' "${log//$'\n'/$'\n'    }" >&2
  [ "$status" = ok ] || die "in-cluster traffic on the real node fails (above); iptables -S FORWARD shows what the machine's FORWARD chain does with it, and $NODE_BRIDGE_NF must be 1"
}
