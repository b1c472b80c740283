#!/usr/bin/env bash
# Builds, serves or checks the workshop book (book/, an mdBook).
#
# usage: scripts/book.sh [build|serve|check|install]
#   build (default)  check the book's structure, then render it to book/out
#                    (open book/out/index.html); fails on any problem listed below
#   serve            render and serve it on http://localhost:3000, rebuilding on every change
#   check            the same checks as build, rendering to a temporary directory
#   install          only install mdbook (scripts/test.sh starts this early, in the background)
#
# The first run installs mdbook (the version pinned as MDBOOK_VERSION in scripts/versions.env)
# from crates.io into the workshop cache, which takes a few minutes; later runs reuse it.
#
# A build fails when a chapter includes a file or an anchor that does not exist (a transcript
# included but never captured is one), links to a chapter or a heading that does not exist, when a
# chapter and the steps in solutions/ disagree (a chapter for a step that does not exist, a step
# with no chapter), when mdbook reports an error, when a {{#...}} directive survives into the HTML, or
# when a page would load a script, a stylesheet or a font from the network; and when the
# transcripts and the prose disagree: a transcript that is not exactly what scripts/capture.sh
# wrote, a count or a quote in the prose that the transcripts and the code do not bear out, a
# command outside the learner's namespace.
# The checks are the Rust test solutions/testkit/tests/book.rs and its book/claims.rs (no cluster
# needed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage="usage: scripts/book.sh [build|serve|check|install]"
action=${1:-build}
case "$action" in
  build|serve|check|install) ;;
  -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "$usage" ;;
esac
[ $# -le 1 ] || die "$usage"

MDBOOK="$WORKSHOP_CACHE/tools/bin/mdbook"

# Installs mdbook at the pinned version unless that exact version is already in the cache.
install_mdbook() {
  cargo_install_pinned mdbook "$MDBOOK_VERSION" "mdbook v$MDBOOK_VERSION" "$MDBOOK" --version
}

# The structure checks: includes, anchors, links, one chapter per step. Needs no cluster.
check_structure() {
  say "checking the book's includes, links and chapters (cargo test -p workshop-testkit --test book)"
  (cd "$ROOT" && cargo test --quiet -p workshop-testkit --test book) \
    || die "the book has problems (listed above); fix them and run scripts/book.sh $action again"
}

# render DEST: mdbook build into DEST, then look for what mdbook does not treat as fatal.
render() {
  local dest=$1 log
  log=$(mktemp)
  say "rendering the book with mdbook $MDBOOK_VERSION into ${dest#"$ROOT"/}"
  if ! "$MDBOOK" build "$ROOT/book" --dest-dir "$dest" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    die "mdbook build failed (above)"
  fi
  if grep -q 'ERROR' "$log"; then
    cat "$log" >&2; rm -f "$log"
    die "mdbook reported an error (above)"
  fi
  rm -f "$log"
  # An include mdbook could not expand stays in the page as text.
  if grep -rlF --include='*.html' '{{#' "$dest" >/dev/null; then
    grep -rnF --include='*.html' '{{#' "$dest" | head -n 5 >&2
    die "an {{#...}} directive survived into the rendered book (above)"
  fi
  # Readers may be offline (a workshop room's wifi): every script, stylesheet and font is local.
  if grep -rnoiE --include='*.html' '<(script|link|img)[^>]+(src|href)="(https?:)?//[^"]+' "$dest" \
      | grep -viE 'rel="(canonical)"' | head -n 5 | grep . >&2; then
    die "a page loads something from the network (above); the book must work offline"
  fi
  if grep -rnoiE --include='*.css' 'url\((["'\'']?)(https?:)?//[^)]+' "$dest" | head -n 5 | grep . >&2; then
    die "a stylesheet loads something from the network (above); the book must work offline"
  fi
}

install_mdbook
case "$action" in
  build)
    check_structure
    render "$ROOT/book/out"
    say "book built: $ROOT/book/out/index.html"
    ;;
  check)
    check_structure
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/workshop-book.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    render "$tmp"
    say "the book is fine"
    ;;
  serve)
    check_structure
    say "serving the book on http://localhost:3000 (Ctrl-C stops)"
    exec "$MDBOOK" serve "$ROOT/book" --dest-dir "$ROOT/book/out"
    ;;
esac
