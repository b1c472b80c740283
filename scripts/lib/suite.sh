# What scripts/test.sh and scripts/test-exercises.sh share: a suite's clock and phases, its
# throwaway cluster (with the machine's real node where it can have one), the tally of tests run
# against the cluster, and the comparison of the book's check transcripts with this run.
# Sourced after common.sh, never run.
# shellcheck shell=bash

source "$ROOT/scripts/lib/transcripts.sh"
source "$ROOT/scripts/lib/cluster.sh"
source "$ROOT/scripts/lib/node.sh"

# suite_begin CLUSTER KEEP: the suite starts its clock and gets a state directory with the
# kubeconfig of its throwaway cluster CLUSTER. On exit, also on failure, the background jobs in
# suite_pids are stopped and the cluster and the directory deleted, unless KEEP is true.
suite_begin() {
  cluster=$1 keep=$2
  suite_start=$(now)
  state=$(mktemp -d "${TMPDIR:-/tmp}/$cluster.XXXXXX")
  export KUBECONFIG="$state/kubeconfig"
  e2e_passed=0 e2e_failed=0 compared=0
  drift=() suite_pids=() real_node=()
  trap suite_end EXIT
}
suite_end() {
  local status=$? pid
  for pid in "${suite_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if $keep; then
    say "test cluster kept: KUBECONFIG=$KUBECONFIG kubectl get nodes"
  else
    "$ROOT/scripts/cluster-down.sh" --name "$cluster" >/dev/null 2>&1 || warn "could not delete the test cluster $cluster"
    rm -rf "$state"
  fi
  exit "$status"
}

phase() { say "[$(( $(now) - suite_start ))s] $*"; }

# No warning that the workshop itself causes may reach a learner: kwokctl's own log lines (JSON)
# and its complaint about a file among its clusters, kubectl's warnings (such as an object applied
# server-side and then client-side). LOG is what WHAT printed.
quiet_or_die() { # LOG WHAT
  if grep -nE '^\{"time"|non-directory entry|^Warning: ' "$1" >&2; then
    die "$2 printed the lines above; a learner must never see them"
  fi
}

# suite_choose_node: a real node where the machine allows it (Linux, root, and the real node not
# taken by another cluster: one per machine) sets real_node=(--real-node) and
# WORKSHOP_REAL_NODE=1; elsewhere it says loudly that steps 07 and 08 get the fake node only.
suite_choose_node() {
  local owner
  owner=$(node_owner || true)
  if [ "$(uname -s)" != Linux ] || [ "$(id -u)" != 0 ]; then
    warn "NO REAL NODE: it needs Linux and root; steps 07 and 08 are tested on the fake node only"
  elif [ -n "$owner" ] && [ "$owner" != "$cluster" ] && [ -d "$KWOK_CLUSTERS/$owner" ]; then
    warn "NO REAL NODE: cluster '$owner' has this machine's real node (scripts/cluster-down.sh --name $owner frees it); steps 07 and 08 are tested on the fake node only"
  else
    real_node=(--real-node)
    export WORKSHOP_REAL_NODE=1
  fi
}

# suite_cluster_up: the suite's throwaway cluster, on the node suite_choose_node chose. It must
# come up quietly (quiet_or_die).
suite_cluster_up() {
  phase "throwaway cluster '$cluster' ${real_node[*]}"
  "$ROOT/scripts/cluster-up.sh" --name "$cluster" "${real_node[@]}" 2>&1 | tee "$state/cluster-up.log"
  quiet_or_die "$state/cluster-up.log" "scripts/cluster-up.sh"
}

# transcript_drift NN-name STATE LOG: compares the book's check transcript of STATE
# (scripts/lib/transcripts.sh) with LOG, this run's output of the same command, and notes the
# transcript as stale when they differ (the diff is printed; suite_verdict fails the run).
transcript_drift() {
  local suffix file
  suffix=$(check_transcript_states | awk -v s="$2" '$1 == s { print $2 }')
  file="book/src/transcripts/$1-$suffix.txt"
  compared=$((compared + 1))
  if [ ! -f "$ROOT/$file" ]; then
    warn "$file does not exist"; drift+=("$file"); return 0
  fi
  if compare_check_transcript "$ROOT/$file" "$3" "$2"; then
    say "$file matches this run"
  else
    warn "$file is stale: \`$(check_command "${1%%-*}" "$2")\` printed what the diff above shows (+)"
    drift+=("$file")
  fi
}

# count_e2e LOG: adds the pass/fail counts of a cargo test run or a check.sh run (of a step or
# of an exercise) to the totals.
count_e2e() {
  local counts
  counts=$(sed -nE 's/^(step [0-9]+|exercise [0-9]+\.[0-9]+) \(.*\): ([0-9]+) passed, ([0-9]+) failed(, [0-9]+ not run)?$/\2 \3/p' "$1")
  [ -n "$counts" ] || counts="$(grep -cE '^test .* \.\.\. ok$' "$1" || true) $(grep -cE '^test .* \.\.\. FAILED$' "$1" || true)"
  e2e_passed=$(( e2e_passed + ${counts% *} ))
  e2e_failed=$(( e2e_failed + ${counts#* } ))
}

# suite_verdict: fails when a transcript of the book was stale, when a test against the cluster
# failed, and when none ran.
suite_verdict() {
  [ ${#drift[@]} -eq 0 ] || die "${#drift[@]} of the book's $compared check transcripts differ from this run (diffs above): ${drift[*]}. Recapture them against a cluster of your own, then review the diff: scripts/capture.sh checks $(printf '%s\n' "${drift[@]}" | sed -E 's#.*/([0-9]{2})-.*#\1#' | sort -u | tr '\n' ' ')"
  [ "$e2e_passed" -gt 0 ] || die "no end-to-end test ran"
  [ "$e2e_failed" -eq 0 ] || die "$e2e_failed end-to-end tests failed"
}
