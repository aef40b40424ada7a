#!/usr/bin/env bash
# build-local: builds snapteld, snaptel and the plugins of the Snap image outside Docker, with
# the machine's Go in GOPATH mode, by running the image's own build.sh, fetch-deps.sh and
# patches/ (a fix to them fixes the image and this build alike).
#
#   images/snap/build-local.sh          build unless already built; print where the binaries are
#   images/snap/build-local.sh --dir    only print that directory; exit 1 if it is not built yet
#
# The directory is the only line on stdout (dir=$(images/snap/build-local.sh)); progress, one
# line per step, goes to stderr.
#
# What is built, and at which commits, is read from the Dockerfile (its *_COMMIT and
# GOYACC_VERSION arguments and its snap-build lines): the pins live there only.
#
# The binaries go to a cache outside the checkout, shared by every clone on the machine:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ms-stacklight/snap/<key>/
#     bin/snapteld  bin/snaptel  plugins/<repository>...  sources/COMMITS  build.log  key.txt
# <key> hashes the builds and their commits, the goyacc version, the Go version and the contents
# of build.sh, fetch-deps.sh and patches/: a directory is reused while none of them changes. A
# build runs in a temporary directory beside it and is renamed into place only when every step
# succeeded, so a failed or interrupted build leaves nothing half-made.
#
# Sources are fetched from the https://github.com/... URLs the scripts name, with the machine's
# git configuration (url.<base>.insteadOf may send them elsewhere). The Go module proxy serves
# goyacc. Needs bash, git, go (GOTOOLCHAIN=local: no other Go is downloaded).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dockerfile=$here/Dockerfile
# shellcheck source=SCRIPTDIR/../build-local.lib.sh
. "$here/../build-local.lib.sh"
parse_mode "$@"

command -v go >/dev/null || die "go is not installed"
command -v git >/dev/null || die "git is not installed"
export GOTOOLCHAIN=local

# The pins: NAME=value for every ARG *_COMMIT and GOYACC_VERSION of the Dockerfile.
declare -A arg=()
while IFS='=' read -r name value; do
  arg[$name]=$value
done < <(sed -n -E 's/^ARG ([A-Z_]+_COMMIT|GOYACC_VERSION)=([^[:space:]]+)[[:space:]]*$/\1=\2/p' "$dockerfile")
goyacc_version=${arg[GOYACC_VERSION]:-}
[[ $goyacc_version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "no ARG GOYACC_VERSION=v<x.y.z> in $dockerfile"

# The builds: the Dockerfile's `snap-build snap "${X_COMMIT}"` and
# `snap-build plugin <repository> "${X_COMMIT}"`, in order, with the commits resolved.
steps=()
while read -r kind rest; do
  if [ "$kind" = snap ]; then repository=snap; var=$rest; else read -r repository var <<<"$rest"; fi
  var=${var//[\"\$\{\}]/}
  commit=${arg[$var]:-}
  [[ $commit =~ ^[0-9a-f]{40}$ ]] || die "$repository: ARG $var in $dockerfile is not a full commit"
  steps+=("$kind $repository $commit")
done < <(grep -oE 'snap-build (snap|plugin [a-z0-9-]+) "\$\{[A-Z_]+_COMMIT\}"' "$dockerfile" | sed 's/^snap-build //')
if [ "${#steps[@]}" -lt 2 ] || [[ ${steps[0]} != "snap snap "* ]]; then
  die "found no snap-build lines (snap first, then the plugins) in $dockerfile"
fi

# The key: what the build reads and runs.
go_version=$(go version)
key_input() {
  printf 'build %s\n' "${steps[@]}"
  printf 'goyacc %s\n' "$goyacc_version"
  printf '%s\n' "$go_version"
  local f
  for f in build.sh fetch-deps.sh $(cd "$here" && find patches -type f | LC_ALL=C sort); do
    printf 'file %s %s\n' "$f" "$(sha256sum <"$here/$f" | cut -d' ' -f1)"
  done
}
key=$(key_input | sha256sum | cut -c1-16)
cache=$(cache_root snap)
final=$cache/$key
is_built() { [ -x "$1/bin/snapteld" ] && [ -x "$1/bin/snaptel" ]; }
exit_if_cached "$final" "$key" is_built

say "building ${#steps[@]} repositories with $go_version into $final (key $key)"
start_work "$cache" "$key"
mkdir -p "$work/gopath" "$work/tools"
printf '%s\n' "$(key_input)" >"$work/out/key.txt"
# build.sh calls fetch-deps.sh as `fetch-deps` (its name in the image).
ln -s "$here/fetch-deps.sh" "$work/tools/fetch-deps"
log=$work/out/build.log
: >"$log"

# step <label> <command...>: one line per step; the step's own output goes to build.log and is
# shown if it fails.
total=$((${#steps[@]} + 1))
n=0
step() {
  local label=$1 started status=0
  shift
  n=$((n + 1))
  started=$SECONDS
  printf '==> %s\n' "$label" >>"$log"
  "$@" >>"$log.step" 2>&1 || status=$?
  cat "$log.step" >>"$log"
  if [ "$status" -ne 0 ]; then
    printf '%s: [%d/%d] %s: FAILED after %ds; its output:\n' "$PROG" "$n" "$total" "$label" $((SECONDS - started)) >&2
    sed 's/^/    /' "$log.step" >&2
    rm -f "$log.step"
    die "build failed; nothing was written to $final"
  fi
  rm -f "$log.step"
  say "[$n/$total] $label ($((SECONDS - started))s)"
}

# goyacc in module mode from the Go module proxy, into the build's own tools directory.
install_goyacc() {
  (cd "$work" && GO111MODULE=on GOFLAGS=-modcacherw GOBIN="$work/tools" \
    go install "golang.org/x/tools/cmd/goyacc@$goyacc_version")
}
step "goyacc $goyacc_version" install_goyacc

export GOPATH=$work/gopath OUT=$work/out PATCHES=$here/patches GOYACC=$work/tools/goyacc
export PATH=$work/tools:$PATH GO111MODULE=off CGO_ENABLED=0
for s in "${steps[@]}"; do
  read -r kind repository commit <<<"$s"
  if [ "$kind" = snap ]; then
    step "snap @ ${commit:0:12}" bash "$here/build.sh" snap "$commit"
  else
    step "$repository @ ${commit:0:12}" bash "$here/build.sh" plugin "$repository" "$commit"
  fi
done

move_into_place "$work/out" "$final" is_built
say "snapteld: $final/bin/snapteld  snaptel: $final/bin/snaptel  plugins: $final/plugins/"
printf '%s\n' "$final"
