# Helpers shared by the workshop's scripts. Sourced, never run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../versions.env
source "$ROOT/scripts/versions.env"

# Everything the scripts build or download is cached here, by version, outside the repository.
WORKSHOP_CACHE="${WORKSHOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-workshop}"
WORKSHOP_BIN="$WORKSHOP_CACHE/bin"

say()  { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

# Seconds since the epoch, for timing long work.
now() { date +%s; }

# run_with_progress LABEL LOGFILE CMD...
# Runs a long command with its output in LOGFILE, printing "LABEL: still working (Ns)" every
# 20 seconds so nobody wonders whether it hangs. On failure, shows the end of the log.
run_with_progress() {
  local label=$1 log=$2; shift 2
  local start; start=$(now)
  "$@" >"$log" 2>&1 &
  local pid=$!
  local next=$(( start + 20 ))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( $(now) >= next )); then
      printf '    %s: still working (%ss)\n' "$label" "$(( $(now) - start ))" >&2
      next=$(( next + 20 ))
    fi
  done
  if ! wait "$pid"; then
    printf 'error: %s failed after %ss; last lines of %s:\n' "$label" "$(( $(now) - start ))" "$log" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
  printf '    %s: done in %ss\n' "$label" "$(( $(now) - start ))" >&2
}
