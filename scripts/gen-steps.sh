#!/usr/bin/env bash
# Derives every learner's starting point (steps/NN-name) from its solution (solutions/NN-name).
#
# usage: scripts/gen-steps.sh           regenerate steps/ from solutions/
#        scripts/gen-steps.sh --check   fail if the committed steps/ differ from what would be generated
#
# The solutions are the single source of truth. In their Rust files an exercise looks like this:
#
#     // EXERCISE 1.3: List the ConfigMaps in `namespace` and return how many
#     //     there are.
#     // ...what must become true, `// Proved by: test_a, test_b`, `// Book: "..."`...
#     // BEGIN SOLUTION
#     ...the reference code...
#     // END SOLUTION
#
# (a title too long for one line goes on in lines indented by four more spaces), and the starter
# gets the same comments under "TODO(exercise 1.3)" with the code replaced by
#     todo!("Exercise 1.3: List the ConfigMaps in `namespace` and return how many there are.")
# (so the region must be a whole function body). A diagnose exercise holds a realistic bug:
#
#     // DIAGNOSE 3.6: `a_test` fails: find out why, and fix it.
#     // ...comment lines...
#     // BEGIN SOLUTION
#     ...the correct code...
#     // STARTER
#     // ...the buggy code, each line commented out with "// "...
#     // END SOLUTION
#
# and the starter gets the comments under "TODO(diagnose 3.6)" followed by the buggy code,
# uncommented; the region may be any run of lines. Hints live in book/src/hints/N.M/,
# a diagnose exercise's answer in book/src/answers/N.M.md.
# Everything else is copied as it is, and the package is renamed solution-NN-x -> step-NN-x,
# except files with a line `// gen-steps: solution only` (or `# gen-steps: ...` in a file whose
# comments start with #), which the starter does not get: maintainers' tools like crdgen, and
# step 08's Dockerfile, which builds either package.
# The book includes the starters, so every line this writes fits its page (86 columns): the
# TODO title is wrapped, a long todo!() message continues on the next line (a `\` at a line's end
# inside a Rust string skips the line break and the next line's indentation), and rustfmt formats
# with the workspace's rustfmt.toml.
# Maintainers only: regenerating overwrites whatever a learner wrote in steps/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) die "usage: scripts/gen-steps.sh [--check]" ;;
esac

# Rewrites one solution source file into its starter form, on stdout.
starter_rs() {
  awk -v file="$1" -v width=86 '
    function fail(msg) { printf "error: %s:%d: %s\n", file, NR, msg > "/dev/stderr"; failed = 1; exit 1 }
    # Prints the words of `text` as lines at most `room` wide: the first starts with `first`, the
    # others with `rest`, and every line but the last ends with `more`.
    function wrap(text, first, rest, more, room,    n, i, words, line, started) {
      n = split(text, words, " ")
      line = first; started = 0
      for (i = 1; i <= n; i++) {
        if (started && length(line) + 1 + length(words[i]) + length(more) > room) {
          print line more; line = rest words[i]
        } else if (!started && length(line) + length(words[i]) + length(more) > room) {
          # Not even the first word fits after `first`: it starts the next line.
          sub(/ +$/, "", line); print line; line = rest words[i]
        } else {
          line = line (started ? " " : "") words[i]
        }
        started = 1
      }
      return line
    }
    # The TODO header, once the whole title is read (its line and the lines that go on with it).
    function header() {
      print wrap(title, indent "// TODO(" kind " " number "): ", indent "//     ", "", width)
      gsub(/\\/, "\\\\", title); gsub(/"/, "\\\"", title)
      heading = 0
    }
    heading && $0 ~ ("^" indent "//     [^ ]") {
      line = $0; sub(/^[[:space:]]*\/\/[[:space:]]*/, "", line)
      title = title " " line; next
    }
    heading { header() }
    /^[[:space:]]*\/\/ (EXERCISE|DIAGNOSE) [0-9]+(\.[0-9]+)*: / {
      if (inside) fail("EXERCISE or DIAGNOSE inside a solution region")
      kind = ($0 ~ /\/\/ DIAGNOSE /) ? "diagnose" : "exercise"
      indent = $0; sub(/\/\/.*/, "", indent)
      line = $0
      sub(/^[[:space:]]*\/\/ (EXERCISE|DIAGNOSE) /, "", line)
      number = line; sub(/:.*/, "", number)
      title = line; sub(/^[^:]*: /, "", title)
      heading = 1; pending = 1; next
    }
    /^[[:space:]]*\/\/ BEGIN SOLUTION[[:space:]]*$/ {
      if (!pending) fail("BEGIN SOLUTION without an EXERCISE or DIAGNOSE comment above it")
      if (inside) fail("nested BEGIN SOLUTION")
      indent = $0; sub(/\/\/.*/, "", indent)
      inside = 1; starter = 0; next
    }
    /^[[:space:]]*\/\/ STARTER[[:space:]]*$/ {
      if (!inside) fail("STARTER outside a solution region")
      if (kind != "diagnose") fail("STARTER belongs in a DIAGNOSE region (an EXERCISE starts from todo!())")
      if (starter) fail("a second STARTER in one region")
      starter = 1; shown = 0; next
    }
    /^[[:space:]]*\/\/ END SOLUTION[[:space:]]*$/ {
      if (!inside) fail("END SOLUTION without BEGIN SOLUTION")
      if (kind == "diagnose") {
        if (!starter || !shown) fail("a DIAGNOSE region needs its buggy code after // STARTER")
      } else {
        message = "Exercise " number ": " title
        if (length(indent "todo!(\"" message "\")") <= width) {
          printf "%stodo!(\"%s\")\n", indent, message
        } else {
          print indent "todo!("
          print wrap(message, indent "    \"", indent "     ", " \\", width - 1) "\""
          print indent ")"
        }
        closing = 1
      }
      inside = 0; pending = 0; next
    }
    # The buggy code of a diagnose exercise: every line is commented out with "// " in the
    # solution (an empty line as a bare "//"); the starter gets it back uncommented.
    inside && starter {
      code = $0
      if (code ~ /^[[:space:]]*\/\/$/) { print ""; next }
      if (code !~ /^[[:space:]]*\/\/ /) fail("after // STARTER every line is commented out with \"// \"")
      sub(/\/\/ /, "", code); print code; shown = 1; next
    }
    inside { next }
    # An exercise region must be a whole function body, so todo!() can stand in for it.
    closing && !/^[[:space:]]*}/ { fail("END SOLUTION must be followed by the closing brace of the function body") }
    { closing = 0 }
    { print }
    END { if (!failed && inside) fail("BEGIN SOLUTION never ended") }
  ' "$1"
}

# Until the TODOs are written, their imports and parameters are unused: say so once, at the top
# of the file (after its //! docs), instead of letting warnings bury the real messages. Only
# those three lints: everything else still warns, a forgotten `.await` (unused_must_use) first.
allow_unused() {
  awk '
    !done && !/^\/\/!/ {
      print "// Starter code: the imports, parameters and helpers that the TODOs below need are"
      print "// unused until you write them. Once they are done, delete the `allow` below: the"
      print "// compiler then checks that you left none."
      print "#![allow(unused_imports, unused_variables, dead_code)]"
      done = 1
    }
    { print }
  ' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

# generate SOLUTION_DIR DEST_DIR
generate() {
  local src=$1 dest=$2 base f rel
  base=$(basename "$src")
  mkdir -p "$dest"
  while IFS= read -r -d '' f; do
    rel=${f#"$src"/}
    if grep -qE '^(//|#) gen-steps: solution only' "$f"; then continue; fi
    mkdir -p "$dest/$(dirname "$rel")"
    case "$rel" in
      Cargo.toml)
        { echo "# Generated from solutions/$base by scripts/gen-steps.sh: edit the solution and regenerate."
          sed "s/\"solution-$base\"/\"step-$base\"/" "$f"; } >"$dest/$rel" ;;
      *.rs) starter_rs "$f" >"$dest/$rel"
            if grep -q '^[[:space:]]*todo!(' "$dest/$rel"; then allow_unused "$dest/$rel"; fi ;;
      *) cp "$f" "$dest/$rel" ;;
    esac
  done < <(find "$src" -path "$src/target" -prune -o -type f -print0)
  # Format once every file exists (rustfmt follows `mod` declarations into other files).
  find "$dest" -name '*.rs' -print0 | xargs -0 rustfmt --config-path "$ROOT/rustfmt.toml"
  grep -q "^name = \"step-$base\"" "$dest/Cargo.toml" \
    || die "solutions/$base/Cargo.toml must name its package solution-$base"
}

out=$ROOT/steps
if $check; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi

for src in "$ROOT"/solutions/[0-9][0-9]-*/; do
  src=${src%/}
  dest="$out/$(basename "$src")"
  $check || rm -rf "$dest"
  generate "$src" "$dest"
done

if $check; then
  # Compare file by file; a learner's build output (target/) is not part of a step.
  if ! diff -r -x target "$out" "$ROOT/steps" >/tmp/gen-steps.diff.$$ 2>&1; then
    cat /tmp/gen-steps.diff.$$ >&2; rm -f /tmp/gen-steps.diff.$$
    die "steps/ differ from what solutions/ generate: run scripts/gen-steps.sh and commit the result"
  fi
  rm -f /tmp/gen-steps.diff.$$
  say "steps/ match solutions/"
else
  # A step whose solution is gone is stale.
  for dest in "$ROOT"/steps/*/; do
    dest=${dest%/}
    [ -d "$ROOT/solutions/$(basename "$dest")" ] || { say "removing stale $dest"; rm -rf "$dest"; }
  done
  say "generated steps/ from solutions/"
fi
