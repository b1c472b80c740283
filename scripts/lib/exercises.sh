# The exercises of the workshop, read from the solutions' `// EXERCISE N.M:` and `// DIAGNOSE N.M:`
# comments. Sourced by check.sh, hint.sh, progress.sh and test.sh, never run.
# shellcheck shell=bash

# exercises: one line per exercise, in the order of the workshop, tab-separated:
#   number (4.3)  kind (exercise|diagnose)  step (04-mirror)  file (solutions/...)  tests  title
# where tests is the comma-separated list of its `// Proved by:` line, or "-" when it has none (an
# empty field would vanish: `read` merges adjacent tabs, so the title would be taken for the
# tests). A `Proved by:` list that ends with a comma continues on the next comment line, and a
# title too long for its line continues on the lines below it, indented by four more spaces.
exercises() {
  local f
  find "$ROOT"/solutions/[0-9][0-9]-*/ -path '*/target' -prune -o -name '*.rs' -print | sort | while read -r f; do
    awk -v file="${f#"$ROOT"/}" '
      function flush() {
        if (number != "") {
          gsub(/[[:space:]]+/, "", tests); sub(/[.,]$/, "", tests)
          if (tests == "") tests = "-"
          printf "%s\t%s\t%s\t%s\t%s\t%s\n", number, kind, step, file, tests, title
        }
        number = ""; tests = ""; more = 0
      }
      BEGIN { step = file; sub(/^solutions\//, "", step); sub(/\/.*/, "", step) }
      /^[[:space:]]*\/\/ (EXERCISE|DIAGNOSE) [0-9]+\.[0-9]+: / {
        flush()
        kind = ($0 ~ /\/\/ DIAGNOSE /) ? "diagnose" : "exercise"
        line = $0; sub(/^[[:space:]]*\/\/ (EXERCISE|DIAGNOSE) /, "", line)
        number = line; sub(/:.*/, "", number)
        title = line; sub(/^[^:]*: /, "", title)
        titled = 1; next
      }
      # A long title goes on in the lines right below it, indented by four more spaces.
      titled && /^[[:space:]]*\/\/     [^ ]/ {
        line = $0; sub(/^[[:space:]]*\/\/[[:space:]]*/, "", line)
        title = title " " line; next
      }
      { titled = 0 }
      number != "" && /^[[:space:]]*\/\/ BEGIN SOLUTION/ { flush(); next }
      number != "" && more && /^[[:space:]]*\/\// {
        line = $0; sub(/^[[:space:]]*\/\/[[:space:]]*/, "", line); sub(/[[:space:]]*Book:.*/, "", line)
        tests = tests " " line; more = (line ~ /,[[:space:]]*$/); next
      }
      number != "" && /\/\/.*Proved by:/ {
        line = $0; sub(/.*Proved by:[[:space:]]*/, "", line); sub(/[[:space:]]*Book:.*/, "", line)
        tests = line; more = (line ~ /,[[:space:]]*$/); next
      }
      END { flush() }
    ' "$f"
  done | sort -t. -k1,1n -k2,2n
}

# exercise_number ARG: "04.3", "4.3" -> "4.3"; anything else fails.
exercise_number() {
  [[ $1 =~ ^0*([0-9]+)\.([0-9]+)$ ]] || return 1
  echo "${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
}
