# shellcheck shell=bash
# Sourced by images/<image>/build-local.sh: what the local builds of the images' programs share.
# Each builds into ${XDG_CACHE_HOME:-$HOME/.cache}/ms-stacklight/<image>/<key>/, in a temporary
# directory beside it that is renamed into place only when the whole build succeeded.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../build-local.lib.sh"
#   parse_mode "$@"                        # mode=build, or mode=dir for --dir; --help prints the
#                                          # calling script's header comment
#   cache=$(cache_root snap)
#   exit_if_cached "$cache/$key" "$key" is_built   # is_built <dir>: a function of the script
#   start_work "$cache" "$key"             # work=<temporary directory>, removed on exit
#   ... build into "$work/out" ...
#   move_into_place "$work/out" "$cache/$key" is_built

PROG=build-local

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

# The calling script's path, for --help and the messages that name it.
script=${BASH_SOURCE[1]}

parse_mode() {
  mode=build
  case "${1:-}" in
    '') ;;
    --dir) mode=dir ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$script"
      exit 0
      ;;
    *) die "usage: $script [--dir]" ;;
  esac
  [ $# -le 1 ] || die "usage: $script [--dir]"
}

cache_root() { printf '%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}/ms-stacklight/$1"; }

# exit_if_cached <final> <key> <is_built>: prints <final> and exits 0 when it is built; in --dir
# mode, exits 1 when it is not (it never builds then).
exit_if_cached() {
  if "$3" "$1"; then
    say "up to date: $1 (key $2)"
    printf '%s\n' "$1"
    exit 0
  fi
  if [ "$mode" = dir ]; then
    say "not built: $1 (key $2); run $script"
    printf '%s\n' "$1"
    exit 1
  fi
}

start_work() {
  mkdir -p "$1"
  # Leftovers of builds killed too hard to clean up after themselves.
  find "$1" -maxdepth 1 -name '.build-*' -mmin +1440 -exec rm -rf {} +
  work=$(mktemp -d "$1/.build-$2.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$work/out"
}

# move_into_place <out> <final> <is_built>: in one rename; a build that finished first in the
# meantime is kept.
move_into_place() {
  "$3" "$1" || die "the build made nothing usable in $1"
  if mv -T "$1" "$2" 2>/dev/null; then
    say "built in ${SECONDS}s: $2"
  else
    "$3" "$2" || die "could not move the build to $2"
    say "another build finished first; keeping $2"
  fi
}
