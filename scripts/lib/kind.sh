# kind and the Docker it runs on, shared by cluster-up.sh, cluster-down.sh and the scripts that
# build or test kind's clusters. Sourced after common.sh, never run.
# shellcheck shell=bash

# kind_bin: the kind to run: the learner's own on PATH, else the one the workshop built
# (scripts/build-control-plane.sh --kind). Fails when there is neither.
kind_bin() {
  if have kind; then command -v kind
  elif [ -x "$WORKSHOP_BIN/kind-$KIND_VERSION" ]; then echo "$WORKSHOP_BIN/kind-$KIND_VERSION"
  else return 1; fi
}

# kind_version KIND: the version a kind binary says it is (v0.33.0).
kind_version() { "$1" version 2>/dev/null | awk '{ print $2 }'; }

# kind_ensure: prints the kind to run, building the pinned one when there is none and Go is
# here; warns when the learner's own kind is older than the one the workshop was tested with.
kind_ensure() {
  local kind version
  if kind=$(kind_bin); then
    version=$(kind_version "$kind")
    if [ -z "$version" ]; then
      warn "could not tell the version of $kind (the workshop was tested with kind $KIND_VERSION)"
    elif [ "$(printf '%s\n%s\n' "$version" "$KIND_VERSION" | sort -V | head -n 1)" != "$KIND_VERSION" ]; then
      warn "your kind is $version; the workshop was tested with kind $KIND_VERSION. If creating the cluster fails, upgrade kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
    fi
    echo "$kind"
    return 0
  fi
  have go || die "--runtime kind needs kind ($KIND_VERSION, https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or Go 1.26+ to build it"
  say "no kind on PATH: building kind $KIND_VERSION from its Go module"
  "$ROOT/scripts/build-control-plane.sh" --kind >&2
  echo "$WORKSHOP_BIN/kind-$KIND_VERSION"
}

# Docker for kind: installed from the operating system's packages where the scripts may (root on
# Debian or Ubuntu: the `docker.io` package), and its daemon started when it is not running.

DOCKER_LOG_DIR="$WORKSHOP_CACHE/logs"

# docker_running: the Docker daemon answers.
docker_running() { docker info >/dev/null 2>&1; }

# docker_ensure: a Docker daemon that answers, or a one-line reason why not and what to do.
# Installs Debian's docker.io when there is no dockerd and it may (root, apt-get), and starts
# dockerd in the background when nothing runs it (a machine without systemd, or a daemon that was
# stopped). Its log goes to $DOCKER_LOG_DIR/dockerd.log.
docker_ensure() {
  docker_start
  docker_runtime_for_withheld_capabilities
}
docker_start() {
  docker_running && return 0
  mkdir -p "$DOCKER_LOG_DIR"
  if ! have dockerd; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
      say "installing Docker (Debian's docker.io package, apt-get)"
      export DEBIAN_FRONTEND=noninteractive
      run_with_progress "apt-get update" "$DOCKER_LOG_DIR/apt-update.log" apt-get update -q -o DPkg::Lock::Timeout=600
      run_with_progress "apt-get install docker.io" "$DOCKER_LOG_DIR/apt-install-docker.log" \
        apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 docker.io
    else
      die "kind needs Docker, and there is none here: install it (https://docs.docker.com/engine/install/; as root on Debian/Ubuntu: apt-get install docker.io), or use the Docker-free cluster: scripts/cluster-up.sh --runtime binary"
    fi
  fi
  have docker || die "dockerd is installed but the docker command is not: install Docker's client (Debian/Ubuntu: apt-get install docker.io)"
  docker_running && return 0
  # The package's service may be starting it already (systemd): give it a moment first.
  if [ -d /run/systemd/system ] && have systemctl; then
    systemctl start docker >/dev/null 2>&1 || true
  fi
  local i
  for i in $(seq 1 10); do docker_running && return 0; sleep 1; done
  if [ "$(id -u)" != 0 ]; then
    die "Docker is installed but its daemon does not answer, and only root can start it: start Docker (sudo systemctl start docker), and make sure you may use it (docker info)"
  fi
  if ! pidof dockerd >/dev/null; then
    say "starting dockerd (log: $DOCKER_LOG_DIR/dockerd.log)"
    setsid dockerd >>"$DOCKER_LOG_DIR/dockerd.log" 2>&1 </dev/null &
  fi
  for i in $(seq 1 60); do
    docker_running && return 0
    (( i % 10 == 0 )) && say "waiting for dockerd to answer (${i}s)"
    sleep 1
  done
  tail -n 20 "$DOCKER_LOG_DIR/dockerd.log" >&2 2>/dev/null || true
  die "dockerd did not answer within 60s (its log: $DOCKER_LOG_DIR/dockerd.log)"
}

# --- Images made here, where none can be pulled (build-kind-node-image.sh, build-dockerfile-stand-ins.sh)

# debian_rootfs SUITE DIR PACKAGE...: a minimal Debian root filesystem in DIR with PACKAGES and
# their dependencies, made by mmdebstrap from Debian's package archive (installed first with
# apt-get when missing). Its log goes to $DOCKER_LOG_DIR/mmdebstrap-SUITE.log.
debian_rootfs() {
  local suite=$1 dir=$2 packages; shift 2
  packages=$(IFS=,; echo "$*")
  mkdir -p "$DOCKER_LOG_DIR" "$dir"
  if ! have mmdebstrap; then
    have apt-get || die "making a Debian root filesystem needs mmdebstrap (a Debian or Ubuntu package)"
    say "installing mmdebstrap (apt-get)"
    DEBIAN_FRONTEND=noninteractive run_with_progress "apt-get install mmdebstrap" "$DOCKER_LOG_DIR/apt-install-mmdebstrap.log" \
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 mmdebstrap
  fi
  run_with_progress "Debian $suite root filesystem (mmdebstrap, $# packages)" "$DOCKER_LOG_DIR/mmdebstrap-$suite.log" \
    mmdebstrap --variant=minbase --include="$packages" "$suite" "$dir" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
}

# usrmerged_dir DIR: an empty root with Debian's merged /usr layout (/bin, /sbin, /lib and /lib64
# are links into /usr), so that files listed by their packages' old paths land where they belong.
usrmerged_dir() {
  local d
  for d in bin sbin lib lib64; do
    mkdir -p "$1/usr/$d"
    ln -sfn "usr/$d" "$1/$d"
  done
}

# PACKAGE_FILES_SCRIPT: a shell script that, run inside a Debian root with package names as
# arguments, writes to stdout a tar archive of those packages' files (not their directories).
# shellcheck disable=SC2016
PACKAGE_FILES_SCRIPT='dpkg -L "$@" | while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done | sort -u | tar -c --no-recursion -T - 2>/dev/null'

# --- Machines that withhold capabilities from root (some sandboxes and virtual machines)
#
# Docker gives a --privileged container (every kind node is one) every capability the kernel
# knows. Where the machine's capability bounding set lacks some (this kind of VM withholds
# CAP_SYS_RESOURCE: root cannot even lower an OOM score), runc cannot grant them and no privileged
# container starts ("unable to apply caps: operation not permitted"). There, Docker gets a runtime
# of ours as its default: runc, after taking the withheld capabilities out of the container's
# spec (and out of `docker exec --privileged`'s). Nothing changes where the set is complete.

# The kernel's capability names, by number.
CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
  NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
  SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
  AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
  PERFMON BPF CHECKPOINT_RESTORE)
DOCKER_RUNTIME_NAME=workshop-runc

# withheld_capabilities: the capabilities the kernel knows that this process's bounding set
# lacks, as CAP_ names, one per line.
withheld_capabilities() {
  local bnd last i
  bnd=$((16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
  last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo $(( ${#CAP_NAMES[@]} - 1 )))
  for ((i = 0; i <= last && i < ${#CAP_NAMES[@]}; i++)); do
    (( (bnd >> i) & 1 )) || echo "CAP_${CAP_NAMES[$i]}"
  done
}

# docker_runtime_for_withheld_capabilities: when capabilities are withheld, writes the runtime
# (runc minus those capabilities) and makes it dockerd's default (/etc/docker/daemon.json, then a
# SIGHUP: dockerd reloads its runtimes without a restart).
docker_runtime_for_withheld_capabilities() {
  local withheld runc wrapper drop pid
  withheld=$(withheld_capabilities)
  [ -n "$withheld" ] || return 0
  [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" = "$DOCKER_RUNTIME_NAME" ] && [ -x "$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME" ] && return 0
  [ "$(id -u)" = 0 ] || die "this machine withholds capabilities ($(echo $withheld)) that Docker gives kind's privileged nodes, and only root can give Docker a runtime that drops them"
  runc=$(command -v runc) || die "Docker's runc is not on PATH"
  if ! have jq; then
    have apt-get || die "Docker's runtime for this machine edits container specs with jq: install it"
    say "installing jq (apt-get)"
    DEBIAN_FRONTEND=noninteractive run_with_progress "apt-get install jq" "$DOCKER_LOG_DIR/apt-install-jq.log" \
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 jq
  fi
  if [ -s /etc/docker/daemon.json ] && ! grep -q "\"$DOCKER_RUNTIME_NAME\"" /etc/docker/daemon.json; then
    die "this machine withholds capabilities ($(echo $withheld)) that Docker gives kind's privileged nodes; /etc/docker/daemon.json exists already, so add to it by hand: \"runtimes\": {\"$DOCKER_RUNTIME_NAME\": {\"path\": \"$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME\"}}, \"default-runtime\": \"$DOCKER_RUNTIME_NAME\" (after running this once, which writes that runtime), then reload dockerd"
  fi
  say "this machine withholds $(echo $withheld) from root: Docker's default runtime becomes runc without them ($WORKSHOP_BIN/$DOCKER_RUNTIME_NAME)"
  drop=$(printf '%s\n' $withheld | jq -R . | jq -sc .)
  mkdir -p "$WORKSHOP_BIN" /etc/docker
  cat >"$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME.tmp" <<SH
#!/bin/sh
# runc without the capabilities this machine withholds from root (scripts/lib/kind.sh). Written
# by the workshop's scripts; Docker calls it as its default runtime.
strip() { # FILE JQ-PATH: removes the withheld capabilities from the capability sets at JQ-PATH
  jq --argjson drop '$drop' "\$2 |= (if . == null then . else with_entries(.value |= ((. // []) - \\\$drop)) end)" "\$1" >"\$1.workshop" && mv "\$1.workshop" "\$1"
}
prev= cmd=
for a in "\$@"; do
  case "\$prev" in
    --bundle|-b) [ -f "\$a/config.json" ] && strip "\$a/config.json" .process.capabilities ;;
    --process|-p) [ "\$cmd" = exec ] && [ -f "\$a" ] && strip "\$a" .capabilities ;;
  esac
  case "\$a" in
    --bundle=*) [ -f "\${a#--bundle=}/config.json" ] && strip "\${a#--bundle=}/config.json" .process.capabilities ;;
    --process=*) [ -f "\${a#--process=}" ] && strip "\${a#--process=}" .capabilities ;;
    create|run|exec) [ -z "\$cmd" ] && cmd=\$a ;;
  esac
  prev=\$a
done
exec $runc "\$@"
SH
  chmod 0755 "$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME.tmp"
  mv "$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME.tmp" "$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME"
  printf '{\n  "runtimes": { "%s": { "path": "%s" } },\n  "default-runtime": "%s"\n}\n' \
    "$DOCKER_RUNTIME_NAME" "$WORKSHOP_BIN/$DOCKER_RUNTIME_NAME" "$DOCKER_RUNTIME_NAME" >/etc/docker/daemon.json
  pid=$(pidof dockerd | awk '{ print $1 }')
  [ -n "$pid" ] || die "dockerd is not running"
  kill -HUP "$pid"
  local i
  for i in $(seq 1 20); do
    [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" = "$DOCKER_RUNTIME_NAME" ] && return 0
    sleep 0.5
  done
  die "dockerd did not take its new default runtime (/etc/docker/daemon.json; its log: $DOCKER_LOG_DIR/dockerd.log)"
}
