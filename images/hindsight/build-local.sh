#!/usr/bin/env bash
# build-local: builds the real Hindsight (lua_sandbox, Hindsight and the extensions heka, socket,
# cjson, lpeg, lfs) outside Docker, with the machine's cmake and C compiler, by running the
# image's own build.sh (a fix to it fixes the image and this build alike).
#
#   images/hindsight/build-local.sh          build unless already built; print where it is
#   images/hindsight/build-local.sh --dir    only print that directory; exit 1 if it is not built yet
#
# The directory is the only line on stdout (dir=$(images/hindsight/build-local.sh)); progress,
# one line per step, goes to stderr.
#
# What is built, and at which commits, is read from the Dockerfile: the ARGs that its RUN line
# hands to build.sh (LUA_SANDBOX_COMMIT, HINDSIGHT_COMMIT, EXTENSIONS_COMMIT, LUA_CJSON_COMMIT,
# LPEG_SHA256, the versions): the pins live there only.
#
# The build goes to a cache outside the checkout, shared by every clone on the machine:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ms-stacklight/hindsight/<key>/
#     usr/bin/hindsight                                  (and hindsight_cli)
#     usr/lib/<multiarch>/libluasandbox*.so*             (lua_sandbox)
#     usr/lib/luasandbox/io_modules/                     (socket, cjson, lpeg, lfs, heka helpers)
#     usr/lib/luasandbox/modules/                        (the same plain modules, for analysis)
#     usr/share/luasandbox/sandboxes/heka/{input,analysis,output}/
#     usr/share/doc/stacklight-hindsight/SOURCES         (every source and its pin)
#     key.txt  build.log
# the same tree as the image's /usr. hindsight and the libraries carry an $ORIGIN-relative RPATH
# (build.sh RELOCATABLE=1): <dir>/usr/bin/hindsight runs as it is, without LD_LIBRARY_PATH.
# <key> hashes the pins, build.sh, and the versions of the C compiler and cmake: a directory is
# reused while none of them changes. A build runs in a temporary directory beside it and is renamed
# into place only when every step (the projects' ctest runs included) succeeded, so a failed or
# interrupted build leaves nothing half-made. Nothing is written outside these directories:
# lua_sandbox is installed for the later builds into the temporary directory (build.sh SYSROOT).
#
# Sources are fetched from the https://github.com/... URLs that build.sh and the extensions' CMake
# files name, with the machine's git configuration (url.<base>.insteadOf may send them elsewhere,
# e.g. GIT_CONFIG_GLOBAL=<a file with insteadOf lines>). lpeg 1.0.2 is a tarball download checked
# by SHA-256; LPEG_TARBALL=<file> uses a local copy instead, checked against the same SHA-256.
# Needs bash, git, cmake, make and a C compiler (Debian: build-essential cmake git).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dockerfile=$here/Dockerfile
# shellcheck source=SCRIPTDIR/../build-local.lib.sh
. "$here/../build-local.lib.sh"
parse_mode "$@"

# The pins: every NAME="${NAME}" that the Dockerfile's RUN line hands to build.sh, with the value
# of its ARG NAME=value.
declare -A arg=()
while IFS='=' read -r name value; do
  arg[$name]=$value
done < <(sed -n -E 's/^ARG ([A-Z0-9_]+)=([^[:space:]]+)[[:space:]]*$/\1=\2/p' "$dockerfile")
pins=()
while read -r name; do
  [ -n "${arg[$name]:-}" ] || die "build.sh is given $name, but $dockerfile has no ARG $name=<value>"
  pins+=("$name=${arg[$name]}")
done < <(grep -oE '\b[A-Z0-9_]+="\$\{[A-Z0-9_]+\}"' "$dockerfile" | sed -E 's/=.*//' | LC_ALL=C sort -u)
for name in LUA_SANDBOX_COMMIT HINDSIGHT_COMMIT EXTENSIONS_COMMIT LUA_CJSON_COMMIT LPEG_SHA256; do
  printf '%s\n' "${pins[@]}" | grep -q "^$name=" || die "the Dockerfile hands build.sh no $name"
done

# The key: what the build reads and runs with.
cc=${CC:-cc}
key_input() {
  printf 'pin %s\n' "${pins[@]}"
  printf 'file build.sh %s\n' "$(sha256sum <"$here/build.sh" | cut -d' ' -f1)"
  printf 'cc %s\n' "$("$cc" --version | head -n1)"
  printf 'cmake %s\n' "$(cmake --version | head -n1)"
  printf 'arch %s\n' "$(uname -m)"
}
cache=$(cache_root hindsight)
built() { [ -x "$1/usr/bin/hindsight" ] && [ -f "$1/key.txt" ]; }

if [ "$mode" = dir ]; then
  # Without the tools the key cannot be computed, and nothing can have been built with them.
  if ! command -v cmake >/dev/null || ! command -v "$cc" >/dev/null; then
    say "not built: cmake or $cc is not installed; run images/hindsight/build-local.sh"
    printf '%s\n' "$cache"
    exit 1
  fi
fi
command -v cmake >/dev/null || die "cmake is not installed (Debian: apt-get install cmake)"
command -v make >/dev/null || die "make is not installed (Debian: apt-get install build-essential)"
command -v "$cc" >/dev/null || die "no C compiler $cc (Debian: apt-get install build-essential)"
command -v git >/dev/null || die "git is not installed"

key=$(key_input | sha256sum | cut -c1-16)
final=$cache/$key

exit_if_cached "$final" "$key" built

say "building lua_sandbox, hindsight and the extensions with $("$cc" --version | head -n1) into $final (key $key)"
start_work "$cache" "$key"
mkdir -p "$work/src" "$work/sysroot"
key_input >"$work/out/key.txt"
log=$work/out/build.log

# build.sh's own progress lines (hindsight-build: ...) are shown as they come; everything goes to
# build.log, kept beside the cache as build-failed-<key>.log when the build fails.
status=0
(
  export STAGE=$work/out SRC=$work/src SYSROOT=$work/sysroot RELOCATABLE=1
  # build.sh checks a local lpeg copy against LPEG_SHA256 as it checks the download
  if [ -n "${LPEG_TARBALL:-}" ]; then
    LPEG_TARBALL=$(realpath "$LPEG_TARBALL")
    export LPEG_TARBALL
  fi
  for pin in "${pins[@]}"; do export "${pin?}"; done
  bash "$here/build.sh"
) 2>&1 | tee "$log" | while IFS= read -r line; do
  case $line in "hindsight-build: "*) say "[$((SECONDS / 60))m$((SECONDS % 60))s] ${line#hindsight-build: }" ;; esac
done || status=$? # pipefail: build.sh's failure too
if [ "$status" -ne 0 ]; then
  cp "$log" "$cache/build-failed-$key.log"
  tail -n 40 "$log" | sed 's/^/    /' >&2
  if grep -q 'ep_lpeg-download' "$log"; then
    say "lpeg could not be downloaded: LPEG_TARBALL=<a copy of lpeg-1.0.2.tar.gz> uses a local one (its SHA-256 must be the Dockerfile's LPEG_SHA256)"
  fi
  die "build failed after ${SECONDS}s; nothing was written to $final; the whole log: $cache/build-failed-$key.log"
fi
rm -f "$cache/build-failed-$key.log"

move_into_place "$work/out" "$final" built
say "hindsight: $final/usr/bin/hindsight  modules: $final/usr/lib/luasandbox/io_modules/  sandboxes: $final/usr/share/luasandbox/sandboxes/heka/"
printf '%s\n' "$final"
