#!/usr/bin/env bash
# hindsight-build (builder stage only): lua_sandbox, Hindsight and the lua_sandbox_extensions the
# plugins need (heka, socket, cjson, lpeg, and lfs which heka's modules load), each from its
# mozilla-services repository at its pinned commit, built with CMake and installed into $STAGE/usr:
#
#   $STAGE/usr/bin/hindsight
#   $STAGE/usr/lib/<multiarch>/libluasandbox*.so*                (lua_sandbox)
#   $STAGE/usr/lib/luasandbox/io_modules/                        (socket, cjson, lpeg, heka helpers)
#   $STAGE/usr/share/luasandbox/sandboxes/heka/input/heka_tcp.lua (and the other sandboxes)
#
# The extensions fetch third-party sources during their build; those are pinned too: luasocket
# and luafilesystem by commit (upstream pins), lua-cjson by the commit set here (upstream
# follows a branch), lpeg 1.0.2 by SHA-256 (upstream checks only an MD5).
#
# Hindsight is built without OpenSSL (-DWITHOUT_OPENSSL=ON): it used OpenSSL only to install the
# locking callbacks that OpenSSL < 1.1 needed, no extension built here uses OpenSSL, and so
# neither the builder needs libssl-dev nor the runtime image libssl.
#
# The environment (the defaults are the image's build):
#   STAGE         where the runtime files are staged (default /stage; files land in $STAGE/usr)
#   SRC           where the sources are fetched and built (default /src)
#   SYSROOT       where lua_sandbox is installed for the builds of Hindsight and the extensions
#                 (headers, libraries, CMake package, under $SYSROOT/usr). Empty (the default):
#                 the machine's own /usr, as in the builder stage. images/hindsight/build-local.sh
#                 sets it so that a build outside Docker writes nothing outside its directories.
#   RELOCATABLE   1: the installed hindsight and lua_sandbox libraries find each other through an
#                 $ORIGIN-relative RPATH, so the staged tree runs from wherever it is (default 0:
#                 none, the libraries are in the system's /usr/lib).
#   LPEG_TARBALL  a local copy of lpeg-1.0.2.tar.gz to use instead of downloading it; it is
#                 checked against LPEG_SHA256 all the same (default: download).
#   JOBS          parallel compile jobs (default: nproc)
set -euo pipefail

PROG=hindsight-build
STAGE="${STAGE:-/stage}"
SRC="${SRC:-/src}"
SYSROOT="${SYSROOT:-}"
RELOCATABLE="${RELOCATABLE:-0}"
LPEG_TARBALL="${LPEG_TARBALL:-}"
JOBS="${JOBS:-$(nproc)}"

: "${LUA_SANDBOX_COMMIT:?}" "${LUA_SANDBOX_VERSION:?}" "${HINDSIGHT_COMMIT:?}" "${HINDSIGHT_VERSION:?}"
: "${EXTENSIONS_COMMIT:?}" "${LUA_CJSON_COMMIT:?}" "${LPEG_SHA256:?}"
readonly LPEG_102_MD5=d342571886f1abcb7afe6a83d024d583
readonly EXTENSIONS=(heka socket cjson lpeg lfs)

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# record <source> <pin>: one line of SOURCES.
record() {
  mkdir -p "$STAGE/usr/share/doc/stacklight-hindsight"
  printf '%s %s\n' "$1" "$2" >>"$STAGE/usr/share/doc/stacklight-hindsight/SOURCES"
}

# fetch <dir> <repository URL> <full commit>: that commit and nothing else, recorded in SOURCES.
fetch() {
  [[ $3 =~ ^[0-9a-f]{40}$ ]] || die "$2: '$3' is not a full commit"
  mkdir -p "$1"
  git -C "$1" init -q
  git -C "$1" fetch -q --depth 1 "$2" "$3"
  git -C "$1" -c advice.detachedHead=false checkout -q --detach FETCH_HEAD
  [ "$(git -C "$1" rev-parse HEAD)" = "$3" ] || die "$2: fetched something else than $3"
  record "$2" "$3"
}

# GCC 12 warns about things the 2019-2021 sources were not written against; warnings must not
# fail the build (the projects' own tests still run).
no_werror() {
  # grep exits 1 when no file has it: nothing to do then.
  { grep -rlZ -e '-Werror' --include='*.cmake' --include='CMakeLists.txt*' "$1" || [ $? = 1 ]; } |
    xargs -0 -r sed -i 's/ *-Werror\b//g'
}

cmake_build() { # <source dir> [cmake args...]
  local dir=$1
  shift
  cmake -S "$dir" -B "$dir/release" -DCMAKE_BUILD_TYPE=release "$@"
  cmake --build "$dir/release" -j "$JOBS"
}

# --- lua_sandbox -------------------------------------------------------------------------------
say "lua_sandbox $LUA_SANDBOX_VERSION @ $LUA_SANDBOX_COMMIT: fetch, build, ctest, install"
fetch "$SRC/lua_sandbox" https://github.com/mozilla-services/lua_sandbox "$LUA_SANDBOX_COMMIT"
grep -Eq "project\(luasandbox VERSION ${LUA_SANDBOX_VERSION//./\\.}" "$SRC/lua_sandbox/CMakeLists.txt" ||
  die "lua_sandbox at $LUA_SANDBOX_COMMIT is not version $LUA_SANDBOX_VERSION"
no_werror "$SRC/lua_sandbox"
rpath=()
# The libraries sit side by side: libluasandboxheka finds libluasandbox next to itself.
[ "$RELOCATABLE" = 1 ] && rpath=("-DCMAKE_INSTALL_RPATH=\$ORIGIN")
cmake_build "$SRC/lua_sandbox" -DCMAKE_INSTALL_PREFIX=/usr "${rpath[@]}"
(cd "$SRC/lua_sandbox/release" && ctest --output-on-failure)
if [ -n "$SYSROOT" ]; then
  # find_package(luasandbox) in Hindsight's and the extensions' builds (their ExternalProjects
  # included) reads CMAKE_PREFIX_PATH from the environment; Hindsight includes
  # <luasandbox/...> without adding lua_sandbox's include directory, and the C compiler reads
  # CPATH from the environment.
  DESTDIR="$SYSROOT" cmake --install "$SRC/lua_sandbox/release"
  export CMAKE_PREFIX_PATH="$SYSROOT/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CPATH="$SYSROOT/usr/include${CPATH:+:$CPATH}"
else
  cmake --install "$SRC/lua_sandbox/release"
fi
DESTDIR="$STAGE" cmake --install "$SRC/lua_sandbox/release"
# The library directory under usr/ (lib/<multiarch> on Debian).
libdir=$(find "$STAGE/usr" -name 'libluasandbox.so.*' -printf '%h\n' -quit)
[ -n "$libdir" ] || die "lua_sandbox installed no libluasandbox.so.*"
libdir=${libdir#"$STAGE/usr/"}

# --- hindsight ---------------------------------------------------------------------------------
say "hindsight $HINDSIGHT_VERSION @ $HINDSIGHT_COMMIT: fetch, build, ctest, install"
fetch "$SRC/hindsight" https://github.com/mozilla-services/hindsight "$HINDSIGHT_COMMIT"
grep -Eq "project\(hindsight VERSION ${HINDSIGHT_VERSION//./\\.}" "$SRC/hindsight/CMakeLists.txt" ||
  die "hindsight at $HINDSIGHT_COMMIT is not version $HINDSIGHT_VERSION"
no_werror "$SRC/hindsight"
rpath=()
[ "$RELOCATABLE" = 1 ] && rpath=("-DCMAKE_INSTALL_RPATH=\$ORIGIN/../$libdir")
cmake_build "$SRC/hindsight" -DCMAKE_INSTALL_PREFIX=/usr -DWITHOUT_OPENSSL=ON "${rpath[@]}"
(cd "$SRC/hindsight/release" && ctest --output-on-failure)
DESTDIR="$STAGE" cmake --install "$SRC/hindsight/release"

# --- lua_sandbox_extensions -------------------------------------------------------------------
say "lua_sandbox_extensions @ $EXTENSIONS_COMMIT (${EXTENSIONS[*]}): fetch, build, ctest, install"
ext="$SRC/lua_sandbox_extensions"
fetch "$ext" https://github.com/mozilla-services/lua_sandbox_extensions "$EXTENSIONS_COMMIT"
grep -q 'GIT_TAG lua_sandbox$' "$ext/cjson/CMakeLists.txt" || die "cjson/CMakeLists.txt no longer follows the lua_sandbox branch: review the cjson pin"
sed -i "s/GIT_TAG lua_sandbox\$/GIT_TAG $LUA_CJSON_COMMIT/" "$ext/cjson/CMakeLists.txt"
grep -q "URL_MD5 $LPEG_102_MD5" "$ext/lpeg/CMakeLists.txt" || die "lpeg/CMakeLists.txt no longer fetches lpeg 1.0.2: review the lpeg pin"
sed -i "s/URL_MD5 $LPEG_102_MD5/URL_HASH SHA256=$LPEG_SHA256/" "$ext/lpeg/CMakeLists.txt"
lpeg_url=$(sed -n 's/^ *URL \{1,\}\([^ ]*\).*/\1/p' "$ext/lpeg/CMakeLists.txt")
if [ -n "$LPEG_TARBALL" ]; then
  # The same file by another way: CMake checks URL_HASH on it too.
  [ -f "$LPEG_TARBALL" ] || die "LPEG_TARBALL: no file $LPEG_TARBALL"
  [ "$(sha256sum <"$LPEG_TARBALL" | cut -d' ' -f1)" = "$LPEG_SHA256" ] ||
    die "LPEG_TARBALL $LPEG_TARBALL does not have the SHA-256 $LPEG_SHA256"
  LPEG_TARBALL=$(realpath "$LPEG_TARBALL")
  sed -i "s|^\( *URL \).*|\1file://$LPEG_TARBALL|" "$ext/lpeg/CMakeLists.txt"
fi
record "$lpeg_url" "sha256:$LPEG_SHA256"
for name in "${EXTENSIONS[@]}"; do
  # Every GIT_TAG a commit, recorded with its GIT_REPOSITORY.
  while read -r repository tag; do
    [[ $tag =~ ^[0-9a-f]{40}$ ]] || die "extension $name fetches '$tag', not a commit"
    record "$repository" "$tag"
  done < <(sed -n -e '/^ *GIT_REPOSITORY /{s/^ *GIT_REPOSITORY *\([^ ]*\).*/\1/;h;}' \
    -e '/^ *GIT_TAG /{s/^ *GIT_TAG *\([^ ]*\).*/\1/;H;x;s/\n/ /;p;}' "$ext/$name/CMakeLists.txt")
done
no_werror "$ext"
flags=()
for name in "${EXTENSIONS[@]}"; do flags+=("-DEXT_$name=on"); done
cmake_build "$ext" "${flags[@]}"
(cd "$ext/release" && ctest --output-on-failure)

# The extensions install under release/install (lib/luasandbox/{modules,io_modules},
# share/luasandbox/sandboxes). Input and output sandboxes search only io_modules in this stack's
# hindsight.cfg (compiler/facts.ts HINDSIGHT.moduleDir), so the plain modules (cjson, lpeg, lfs,
# heka helpers) are placed there too; modules/ stays for analysis sandboxes.
mkdir -p "$STAGE/usr/lib/luasandbox" "$STAGE/usr/share/luasandbox"
cp -a "$ext/release/install/lib/luasandbox/." "$STAGE/usr/lib/luasandbox/"
cp -a "$ext/release/install/share/luasandbox/." "$STAGE/usr/share/luasandbox/"
cp -an "$STAGE/usr/lib/luasandbox/modules/." "$STAGE/usr/lib/luasandbox/io_modules/"

# --- trim and check ---------------------------------------------------------------------------
rm -rf "$STAGE/usr/include" "$STAGE/usr/share/luasandbox/cmake" "$STAGE/usr/share/man"
find "$STAGE" \( -name '*.a' -o -name 'libluasandboxtest*' \) -delete
for file in \
  usr/bin/hindsight \
  usr/share/luasandbox/sandboxes/heka/input/heka_tcp.lua \
  usr/lib/luasandbox/io_modules/cjson.so \
  usr/lib/luasandbox/io_modules/socket.lua \
  usr/lib/luasandbox/io_modules/socket/core.so \
  usr/lib/luasandbox/io_modules/heka/util.lua; do
  [ -e "$STAGE/$file" ] || die "the build did not produce /$file"
done
for module in lpeg lfs; do
  find "$STAGE/usr/lib/luasandbox/io_modules" -maxdepth 1 -name "$module*.so" | grep -q . || die "the $module module is missing"
done
printf '%s: staged into %s\n' "$PROG" "$STAGE"
