# Step 08 deployed into a cluster (manifests/deploy/), shared by the real node's path
# (deploy-real-node.sh, test.sh) and kind's (test-kind.sh). Sourced after common.sh, never run;
# kubectl talks to the current context.
# shellcheck shell=bash

# deploy_program PROGRAM [GUARDED]: applies the CRDs and PROGRAM's manifests (the image
# PROGRAM:dev must be in the cluster's nodes already), restarts the Pods when it was deployed
# before (a new image under the same name), and waits until every replica is Ready and no old Pod
# is left. PROGRAM is taskrun-controller (step 08, manifests/deploy/) or taskrun-webhook (step
# 09, manifests/webhook/, guarding the TaskRuns of the namespace GUARDED).
deploy_program() {
  local program=$1 guarded=${2:-} existed replicas i
  kubectl apply -f "$ROOT/manifests/crds/" >/dev/null
  kubectl wait --for condition=Established --timeout 60s crd/tasks.workshop.io crd/taskruns.workshop.io >/dev/null
  existed=$(kubectl -n workshop-system get deployment "$program" -o name 2>/dev/null || true)
  case "$program" in
    taskrun-controller) kubectl apply -f "$ROOT/manifests/deploy/" ;;
    taskrun-webhook)
      [ -n "$guarded" ] || die "deploy_program taskrun-webhook needs the namespace it guards"
      kubectl apply -f "$ROOT/manifests/rbac/webhook.yaml" -f "$ROOT/manifests/webhook/10-service.yaml"
      # The namespace the webhook guards goes into its Deployment before it is applied, so that
      # no Pod ever starts guarding (and registering itself for) the manifest's placeholder.
      kubectl set env --local -o yaml -f "$ROOT/manifests/webhook/20-deployment.yaml" WEBHOOK_NAMESPACE="$guarded" \
        | kubectl apply -f -
      ;;
    *) die "deploy_program: no manifests for '$program'" ;;
  esac
  [ -z "$existed" ] || kubectl -n workshop-system rollout restart "deployment/$program" >/dev/null
  kubectl -n workshop-system rollout status "deployment/$program" --timeout 180s
  # The rollout is done when the new Pods are Ready; wait for the old ones to be gone too.
  replicas=$(kubectl -n workshop-system get deployment "$program" -o jsonpath='{.spec.replicas}')
  for i in $(seq 1 120); do
    [ "$(kubectl -n workshop-system get pods -l "app.kubernetes.io/name=$program" --no-headers | wc -l)" = "$replicas" ] && break
    [ $((i % 10)) != 0 ] || say "waiting for the previous Pods to stop"
    sleep 1
  done
  kubectl -n workshop-system get pods -l "app.kubernetes.io/name=$program" -o wide
}

# deployed_run_succeeds: the deployed controller runs manifests/samples' hello TaskRun to
# Succeeded within two minutes.
deployed_run_succeeds() {
  local run
  kubectl apply -f "$ROOT/manifests/samples/hello-task.yaml" >/dev/null
  run=$(kubectl create -f "$ROOT/manifests/samples/hello-taskrun.yaml" -o name)
  kubectl wait --for=jsonpath='{.status.phase}'=Succeeded "$run" --timeout=120s >/dev/null \
    || die "the controller deployed in the cluster did not run $run to Succeeded"
  say "the deployed controller ran $run to Succeeded"
}

# deployed_failover: deletes the Pod of the deployed controller's leader and measures how long
# until a standby holds the Lease; says it ("leads N ms after the leader's Pod was deleted"),
# and sets FAILOVER_MS. Fails when no standby leads within the lease duration.
deployed_failover() {
  local leader lease new deleted
  leader=$(deployed_holder)
  lease=$(kubectl -n workshop-system get lease taskrun-controller -o jsonpath='{.spec.leaseDurationSeconds}')
  [ -n "$leader" ] && [ -n "$lease" ] || die "the deployed controller holds no Lease"
  kubectl -n workshop-system delete pod "$leader" --wait=false >/dev/null
  deleted=$(date +%s%N)
  until new=$(deployed_holder) && [ -n "$new" ] && [ "$new" != "$leader" ]; do
    (( ($(date +%s%N) - deleted) / 1000000000 < lease )) || die "no standby took the lead within the lease duration (${lease}s) after $leader's Pod was deleted"
    sleep 0.1
  done
  FAILOVER_MS=$(( ($(date +%s%N) - deleted) / 1000000 ))
  say "in-cluster failover: $new leads $FAILOVER_MS ms after the leader's Pod was deleted (lease ${lease}s)"
}
deployed_holder() { kubectl -n workshop-system get lease taskrun-controller -o jsonpath='{.spec.holderIdentity}'; }
