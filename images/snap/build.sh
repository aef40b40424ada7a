#!/usr/bin/env bash
# snap-build: fetches one Go repository at a full commit into the GOPATH, vendors its
# dependencies from its lock file (fetch-deps.sh, run as `fetch-deps` from PATH), applies the
# project's patch for it if there is one (patches/<repository>.sh), and builds its binaries with
# CGO off. Run by the image's builder stage (Dockerfile) and, outside Docker, by build-local.sh,
# which sets OUT, GOPATH, PATCHES and PATH; the defaults are the builder stage's.
#
#   build.sh snap <commit>                 -> $OUT/bin/snapteld, $OUT/bin/snaptel
#   build.sh plugin <repository> <commit>  -> $OUT/plugins/<repository>
#
# Old Snap predates Go modules: GO111MODULE=off and the GOPATH layout
# ($GOPATH/src/github.com/intelsdi-x/<repository>) let the vendor/ directory resolve imports.
# GOTOOLCHAIN=local: the Go that runs the script builds, never one downloaded on the way.
set -euo pipefail

PROG=snap-build
OUT="${OUT:-/out}"
PATCHES="${PATCHES:-/usr/local/share/snap-build/patches}"
export GO111MODULE=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
GOPATH="${GOPATH:-/go}"
export GOPATH

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

# fetch <repository> <commit>: github.com/intelsdi-x/<repository> at <commit> into the GOPATH.
fetch() {
  local repository=$1 commit=$2 dir
  [[ $commit =~ ^[0-9a-f]{40}$ ]] || die "$repository: '$commit' is not a full commit"
  command -v fetch-deps >/dev/null || die "fetch-deps (fetch-deps.sh) is not on PATH"
  dir="$GOPATH/src/github.com/intelsdi-x/$repository"
  rm -rf "$dir"
  mkdir -p "$dir"
  git -C "$dir" init -q
  git -C "$dir" fetch -q --depth 1 "https://github.com/intelsdi-x/$repository" "$commit"
  git -C "$dir" -c advice.detachedHead=false checkout -q --detach FETCH_HEAD
  [ "$(git -C "$dir" rev-parse HEAD)" = "$commit" ] || die "$repository: fetched something else than $commit"
  fetch-deps "$dir"
  if [ -f "$PATCHES/$repository.sh" ]; then
    printf '%s: patching %s with %s\n' "$PROG" "$repository" "$PATCHES/$repository.sh"
    (cd "$dir" && bash "$PATCHES/$repository.sh")
  fi
  mkdir -p "$OUT/sources"
  printf 'github.com/intelsdi-x/%s %s\n' "$repository" "$commit" >>"$OUT/sources/COMMITS"
}

gobuild() { # <output> <package> <commit>
  go build -trimpath -ldflags "-s -w -X main.gitversion=$3" -o "$1" "$2"
}

case "${1:-}" in
  snap)
    [ $# -eq 2 ] || die "usage: build.sh snap <commit>"
    fetch snap "$2"
    mkdir -p "$OUT/bin"
    gobuild "$OUT/bin/snapteld" github.com/intelsdi-x/snap "$2"
    gobuild "$OUT/bin/snaptel" github.com/intelsdi-x/snap/cmd/snaptel "$2"
    ;;
  plugin)
    [ $# -eq 3 ] || die "usage: build.sh plugin <repository> <commit>"
    fetch "$2" "$3"
    mkdir -p "$OUT/plugins"
    gobuild "$OUT/plugins/$2" "github.com/intelsdi-x/$2" "$3"
    ;;
  *) die "usage: build.sh snap <commit> | build.sh plugin <repository> <commit>" ;;
esac
