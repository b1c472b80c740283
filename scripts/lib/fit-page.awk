# Wraps the lines of a transcript that are wider than the book's page, as a terminal of that width
# would, so nothing is cut off at the page's edge. Used by scripts/capture.sh:
#   awk -v width=86 -f scripts/lib/fit-page.awk FILE > FILE.new
# A command line (`$ ...`) is broken at a space outside quotes and continued with ` \` on an
# indented line, so it still pastes into a shell as it is. Any other line (the output) is broken
# at the last space that fits, or at the edge when there is none, and continued two columns in.
# Lines that fit are left alone, so running it again changes nothing.

# The positions (1-based) of the spaces in `line` that are outside single and double quotes.
function breakable(line, spaces,   n, i, c, single, double) {
  n = 0; single = 0; double = 0
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (c == "\\" && !single) { i++; continue }
    if (c == "'" && !double) single = !single
    else if (c == "\"" && !single) double = !double
    else if (c == " " && !single && !double) spaces[++n] = i
  }
  return n
}

function wrap_command(line,   spaces, n, k, start, prefix, best, room) {
  n = breakable(line, spaces)
  start = 1; prefix = ""
  k = 1
  while (length(prefix) + length(line) - start + 1 > width) {
    # The last break point that leaves room for " \" on this line.
    room = width - length(prefix) - 2
    best = 0
    while (k <= n && spaces[k] - start <= room) { if (spaces[k] > start) best = spaces[k]; k++ }
    if (!best) {
      # Nothing fits: break at the next possible place, or give up.
      while (k <= n && spaces[k] <= start) k++
      if (k > n) break
      best = spaces[k]; k++
    }
    print prefix substr(line, start, best - start) " \\"
    start = best + 1; prefix = "    "
  }
  print prefix substr(line, start)
}

function wrap_output(line,   prefix, room, cut, i) {
  prefix = ""
  while (length(prefix) + length(line) > width) {
    room = width - length(prefix)
    cut = 0
    for (i = room + 1; i > 1; i--) if (substr(line, i, 1) == " ") { cut = i; break }
    if (cut && substr(line, 1, cut - 1) ~ /[^ ]/) {
      print prefix substr(line, 1, cut - 1)
      line = substr(line, cut + 1)
    } else {
      print prefix substr(line, 1, room)
      line = substr(line, room + 1)
    }
    prefix = "  "
  }
  print prefix line
}

{
  if (length($0) <= width) print
  else if ($0 ~ /^\$ /) wrap_command($0)
  else wrap_output($0)
}
