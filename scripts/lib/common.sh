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
# Runs a long command with its output in LOGFILE (its directory is made if need be), printing
# "LABEL: still working (Ns)" every 20 seconds so nobody wonders whether it hangs. On failure,
# shows the end of the log.
run_with_progress() {
  local label=$1 log=$2; shift 2
  local start; start=$(now)
  mkdir -p "$(dirname "$log")"
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

# end_throwaway_cluster NAME STATE KEEP WHAT: the EXIT trap of a script that made a throwaway
# cluster NAME, with its kubeconfig in the directory STATE. Deletes both or, when KEEP is true,
# says how to reach the cluster; WHAT names the cluster in messages ("benchmark", "fault").
# Exits with the script's own status:
#   trap 'end_throwaway_cluster "$cluster" "$state" "$keep" benchmark' EXIT
end_throwaway_cluster() {
  local status=$? name=$1 state=$2 keep=$3 what=$4
  if [ "$keep" = true ]; then
    say "$what cluster kept: KUBECONFIG=$KUBECONFIG kubectl get nodes"
  else
    "$ROOT/scripts/cluster-down.sh" --name "$name" >/dev/null 2>&1 \
      || warn "could not delete the $what cluster $name"
    rm -rf "$state"
  fi
  exit "$status"
}

# cargo_install_pinned CRATE VERSION WANT CMD...: installs CRATE at VERSION from crates.io into
# $WORKSHOP_CACHE/tools, unless CMD (the installed tool asked for its version) prints WANT
# already. The first time takes a few minutes; later runs reuse it.
cargo_install_pinned() {
  local crate=$1 version=$2 want=$3; shift 3
  local log="$WORKSHOP_CACHE/tools/$crate-install.log"
  if [ -x "$1" ] && [ "$("$@" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  have cargo || die "cargo is not installed: install Rust from https://rustup.rs, then run this again"
  say "installing $crate $version from crates.io into $WORKSHOP_CACHE/tools (once; a few minutes)"
  mkdir -p "$WORKSHOP_CACHE/tools"
  run_with_progress "cargo install $crate $version" "$log" \
    cargo install "$crate" --version "$version" --locked --root "$WORKSHOP_CACHE/tools" --force
  [ "$("$@")" = "$want" ] || die "$1 is not $crate $version after installing it (see $log)"
}

# xtask ARGS...: the workshop's tool (solutions/xtask, `cargo xtask help`), the one reader of the
# exercises' comments in solutions/: which exercises there are, their tests, their regions, the
# starters. Built the first time a script asks it something (seconds), quiet afterwards. An
# exercise or step that does not exist is an error (exit 2) that lists the ones that do.
xtask() {
  (cd "$ROOT" && cargo run -q -p workshop-xtask -- "$@")
}
