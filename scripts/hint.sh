#!/usr/bin/env bash
# Shows a hint for an exercise, one level at a time: open one only when you are stuck.
#
# usage: scripts/hint.sh N.M [LEVEL]
#   N.M    the exercise, e.g. 4.3 or 04.3
#   LEVEL  1: the idea; 2: the APIs to reach for; 3: nearly the code.
#          Without it: the next level you have not seen yet (1 the first time).
#
# The hints are the book's own (book/src/hints/N.M/LEVEL.md), shown there in folded blocks.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage="usage: scripts/hint.sh N.M [1|2|3]"
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 1 ] && [ $# -le 2 ] && [[ $1 =~ ^[0-9]+\.[0-9]+$ ]] || die "$usage"
# The workshop's tool knows the exercises (and says which there are when $1 is none of them).
row=$(xtask exercises "$1") || exit 2
number=${row%%$'\t'*}
dir="$ROOT/book/src/hints/$number"
[ -d "$dir" ] || die "exercise $number has no hints: book/src/hints/$number/ is missing"

# Which levels you have seen, per exercise, kept with your build output (not in git).
seen_file="$ROOT/target/hints-seen/$number"
seen=$(cat "$seen_file" 2>/dev/null || echo 0)
if [ $# -eq 2 ]; then
  case "$2" in 1|2|3) level=$2 ;; *) die "$usage" ;; esac
elif [ "$seen" -ge 3 ]; then
  level=3
  say "you have seen all three hints for $number; here is the last again"
else
  level=$((seen + 1))
fi
[ -f "$dir/$level.md" ] || die "$dir/$level.md is missing"

if [ "$level" -gt "$seen" ]; then
  mkdir -p "$(dirname "$seen_file")" && echo "$level" >"$seen_file"
fi
case $level in 1) label="the idea" ;; 2) label="the APIs to reach for" ;; 3) label="nearly the code" ;; esac
echo "Exercise $number, hint $level of 3 ($label):"
echo
cat "$dir/$level.md"
if [ "$level" -lt 3 ]; then
  echo
  echo "(still stuck? scripts/hint.sh $number shows hint $((level + 1)))"
fi
