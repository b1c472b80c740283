#!/usr/bin/env bash
# The workshop on kind, as CI runs it (last, after scripts/test.sh and the other suites).
#
# usage: scripts/test-kind.sh [--keep-cluster]
#   --keep-cluster  leave the kind cluster running afterwards (for a closer look)
#
# On a machine where no image can be pulled (only package registries), it proves kind's path:
#  1. Docker (installed and started when it is not: scripts/lib/kind.sh) and kind (yours, or
#     built from its Go module);
#  2. a kind node image built here (scripts/build-kind-node-image.sh; cached);
#  3. a throwaway kind cluster of its own (name workshop-kind, its own kubeconfig), made by
#     `scripts/cluster-up.sh --runtime kind` with that image as KIND_NODE_IMAGE;
#  4. busybox (the image the Tasks run, made from busybox-static) loaded with `kind load`;
#  5. every step's check on its solution (scripts/check.sh NN --solution), step 07's Tasks
#     running in real containers (WORKSHOP_REAL_NODE=1: a check that finds no real node fails);
#  6. step 08 built with its Dockerfile, whose two base images are replaced by stand-ins made here
#     under the same names (the Rust toolchain of this machine; a distroless-like runtime), then
#     `kind load docker-image`, manifests/deploy/, a TaskRun to Succeeded, and a failover;
#  7. deletion of the cluster, also on failure.
# Prints each phase's time and the failover, then `kind: N passed, M failed`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/kind.sh"
source "$ROOT/scripts/lib/node.sh"
source "$ROOT/scripts/lib/deploy.sh"

keep=false
case "${1:-}" in
  --keep-cluster) keep=true ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: scripts/test-kind.sh [--keep-cluster]" ;;
esac

cd "$ROOT"
suite_start=$(now)
cluster=workshop-kind
state=$(mktemp -d "${TMPDIR:-/tmp}/workshop-kind.XXXXXX")
export KUBECONFIG="$state/kubeconfig"
passed=0 failed=0
figures=()
phase_start=$suite_start
phase() { say "[$(( $(now) - suite_start ))s] $*"; phase_start=$(now); }
# figure NAME: the time since the phase began, for the summary.
figure() { figures+=("$1 $(( $(now) - phase_start ))s"); }
# The cluster goes, and with it the Docker network kind made for it when no other kind cluster
# uses it (kind keeps it for the next cluster).
end_kind() {
  local status=$?
  if ! $keep; then
    "$ROOT/scripts/cluster-down.sh" --name "$cluster" >/dev/null 2>&1 || warn "could not delete the kind cluster $cluster"
    docker network rm kind >/dev/null 2>&1 || true
  fi
  (exit "$status")
  end_throwaway_cluster "$cluster" "$state" "$keep" kind
}
trap end_kind EXIT

phase "Docker and kind"
docker_ensure
kind=$(kind_ensure)
say "$(docker version --format 'Docker client {{.Client.Version}}, daemon {{.Server.Version}}'); kind $(kind_version "$kind") ($kind)"
figure "docker+kind"

phase "the kind node image (scripts/build-kind-node-image.sh)"
image=$(scripts/build-kind-node-image.sh --print-image)
figure "node-image"

phase "kind cluster '$cluster' with $image"
"$kind" delete cluster --name "$cluster" >/dev/null 2>&1 || true
KIND_NODE_IMAGE=$image scripts/cluster-up.sh --name "$cluster" --runtime kind
kubectl get nodes -o wide
figure "cluster"

phase "busybox into the node (kind load docker-image)"
busybox_tar=$(node_busybox_tar)
docker load -i "$busybox_tar" >/dev/null
for ref in "${NODE_BUSYBOX_IMAGES[@]:1}"; do docker tag "${NODE_BUSYBOX_IMAGES[0]}" "$ref"; done
"$kind" load docker-image --name "$cluster" "${NODE_BUSYBOX_IMAGES[@]}"
figure "busybox"

# count LOG: add a check.sh run's counts (its line `step NN (...): P passed, F failed, N not
# run`) to the totals; a test that could not run counts as failed.
count() {
  local counts
  counts=$(sed -nE 's/^step [0-9]+ \(.*\): ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) not run)?$/\1 \2 \4/p' "$1" | tail -n 1)
  [ -n "$counts" ] || die "no summary line in $1 (check.sh did not finish)"
  read -r p f n <<<"$counts"
  passed=$(( passed + p ))
  failed=$(( failed + f + ${n:-0} ))
}
phase "every step's check on its solution, on kind"
export WORKSHOP_REAL_NODE=1
# Step 09's webhook runs on this machine, and kind's API server, in a container, calls it at this
# machine's address on kind's Docker network (its gateway), not at 127.0.0.1.
WEBHOOK_HOST=$(docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null) \
  && [ -n "$WEBHOOK_HOST" ] || die "cannot tell this machine's address on kind's Docker network (docker network inspect kind)"
export WEBHOOK_HOST
checks_failed=()
for dir in solutions/[0-9][0-9]-*/; do
  step=$(basename "$dir"); nn=${step%%-*}
  step_start=$(now)
  set +e; scripts/check.sh "$nn" --solution >"$state/check-$nn.log" 2>&1; status=$?; set -e
  count "$state/check-$nn.log"
  say "step $nn: $(tail -n 1 "$state/check-$nn.log") ($(( $(now) - step_start ))s)"
  if [ "$status" -ne 0 ]; then cat "$state/check-$nn.log" >&2; checks_failed+=("$nn"); fi
done
figure "checks"
[ ${#checks_failed[@]} -eq 0 ] || die "scripts/check.sh fails on kind for the solution of step(s) ${checks_failed[*]}"

# The step 08 Dockerfile's base images, made here under the names it uses (none can be pulled).
phase "step 08's Dockerfile: its base images' stand-ins"
dockerfile=solutions/08-production/Dockerfile
mapfile -t bases < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' "$dockerfile")
[ ${#bases[@]} -eq 2 ] || die "$dockerfile has ${#bases[@]} FROM lines; this script makes stand-ins for two (a Rust toolchain, then the runtime)"
scripts/build-dockerfile-stand-ins.sh "${bases[0]}" "${bases[1]}"
figure "stand-ins"

phase "step 08's image: docker build -f $dockerfile -t taskrun-controller:dev ."
run_with_progress "docker build" "$state/docker-build.log" \
  docker build --force-rm -f "$dockerfile" -t taskrun-controller:dev .
figure "image-build"

phase "step 08 in the cluster: kind load docker-image, manifests/deploy/"
"$kind" load docker-image --name "$cluster" taskrun-controller:dev
deploy_program taskrun-controller
deployed_run_succeeds
passed=$((passed + 1))
deployed_failover
passed=$((passed + 1))
figure "deploy+failover"
figures+=("failover ${FAILOVER_MS}ms")
# Images the build left without a name (the previous taskrun-controller:dev, build stages).
docker image prune -f >/dev/null

[ "$passed" -gt 0 ] || die "no test ran on kind"
say "kind: all green in $(( $(now) - suite_start ))s; ${figures[*]}"
echo "kind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
