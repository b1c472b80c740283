#!/usr/bin/env bash
# Derives every learner's starting point (steps/NN-name) from its solution (solutions/NN-name),
# and the book's generated includes (book/src/generated/) from the exercises.
#
# usage: scripts/gen-steps.sh           regenerate steps/ and book/src/generated/ from solutions/
#        scripts/gen-steps.sh --check   fail if the committed files differ from what would be
#                                       generated (says which file, and the first line that does)
#
# The solutions are the single source of truth. In their Rust files an exercise looks like this:
#
#     // EXERCISE 1.3: List the ConfigMaps in `namespace` and return how many
#     //     there are.
#     // ...what must become true, in a few lines...
#     // Proved by: test_a, test_b
#     // Needs: 1.1, 1.2          (optional: exercises whose solution this check also needs;
#                                 `1.1; sometimes 1.4`: 1.4 only when a race goes one way)
#     // Path: core, 7 min        (core or stretch, and about how long a learner takes)
#     // Book: "Step 01 > Typed APIs"
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
#     // ...comment lines, the same keys...
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
# The book includes the starters, so every line this writes fits its page (86 columns), and
# rustfmt formats them with the workspace's rustfmt.toml.
#
# The work is done by the workshop's tool (solutions/xtask: `cargo xtask gen`), whose model reads
# the grammar above, and says where a comment breaks it (file:line: what is wrong).
# Maintainers only: regenerating overwrites whatever a learner wrote in steps/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "${1:-}" in
  --check) xtask gen --check ;;
  "") xtask gen ;;
  -h|--help) sed -n '2,48p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "usage: scripts/gen-steps.sh [--check]" ;;
esac
