# shellcheck shell=bash
# Helpers sourced by the patch scripts in this directory (no repository is called "lib", so
# build.sh never runs this file as a patch). Every edit checks that the source still reads as
# expected and stops the build otherwise: a patch never applies to code it was not written for.
#
# A patch script sets PATCH (its name in messages), then sources this file:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

die() {
  printf '%s patch: %s\n' "${PATCH:-snap}" "$*" >&2
  exit 1
}

# expect <count> <file> <fixed string>: the string occurs on exactly <count> lines of <file>.
expect() {
  local want=$1 file=$2 text=$3 found
  [ -f "$file" ] || die "$file is missing"
  found=$(grep -cF -- "$text" "$file" || true)
  [ "$found" -eq "$want" ] || die "expected $want line(s) of $file to contain '$text', found $found"
}

# replace_line <count> <file> <line> <new text>: replaces each line of <file> that reads <line>
# (leading and trailing blanks aside), which must occur exactly <count> times, by <new text>
# (one or more lines), indented like the line it replaces. gofmt (go_format) tidies up after.
replace_line() {
  local want=$1 file=$2 tmp
  [ -f "$file" ] || die "$file is missing"
  tmp=$(mktemp)
  if ! OLD=$3 NEW=$4 WANT=$want awk '
    {
      text = $0; sub(/^[ \t]+/, "", text); sub(/[ \t]+$/, "", text)
      if (text != ENVIRON["OLD"]) { print; next }
      found++
      indent = $0; sub(/[^ \t].*$/, "", indent)
      lines = split(ENVIRON["NEW"], part, "\n")
      for (i = 1; i <= lines; i++) print (part[i] == "" ? "" : indent part[i])
    }
    END { if (found != ENVIRON["WANT"]) { print found + 0 > "/dev/stderr"; exit 1 } }
  ' "$file" >"$tmp" 2>"$tmp.count"; then
    local found
    found=$(cat "$tmp.count")
    rm -f "$tmp" "$tmp.count"
    die "expected $want line(s) of $file reading '$3', found ${found:-?}"
  fi
  cat "$tmp" >"$file"
  rm -f "$tmp" "$tmp.count"
}

# go_format <file>...: gofmt the patched files, which also proves they still parse.
go_format() {
  local gofmt
  gofmt=$(command -v gofmt || true)
  [ -n "$gofmt" ] || gofmt="$(go env GOROOT)/bin/gofmt"
  "$gofmt" -w "$@" || die "the patched $* no longer parse"
}
