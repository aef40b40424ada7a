#!/usr/bin/env bash
# fetch-deps: vendors the dependencies of a GOPATH-era Go project at the commits its lock file
# pins, into <project>/vendor: what `glide install` (glide.lock) or `godep restore`
# (Godeps/Godeps.json) did, without downloading either tool. Every dependency is fetched from
# its repository at a full 40-hex commit and checked out detached; the build fails on any
# missing lock, unknown import host, non-commit revision or conflicting revisions.
# Test imports are not fetched (nothing here runs the plugins' tests).
#
#   fetch-deps.sh <project dir>          fetch into <project dir>/vendor
#   fetch-deps.sh --plan <project dir>   only print "<import root> <git URL> <commit>" lines
set -euo pipefail

PROG=fetch-deps
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

plan_only=false
if [ "${1:-}" = --plan ]; then
  plan_only=true
  shift
fi
[ $# -eq 1 ] || die "usage: fetch-deps.sh [--plan] <project dir>"
project=$1
[ -d "$project" ] || die "$project is not a directory"

# "<import path> <commit> [<repo URL>]" per dependency, from whichever lock the project has.
lock_entries() {
  if [ -f "$project/glide.lock" ]; then
    # imports: entries ("- name:", "  version:", optional "  repo:") up to testImports:
    awk '
      function flush() { if (name != "") print name, version, repo; name = ""; version = ""; repo = "" }
      /^imports:/ { section = 1; next }
      /^[A-Za-z]/ { flush(); section = 0; next }
      section && /^- name:/ { flush(); name = $3; next }
      section && /^  version:/ { version = $2; next }
      section && /^  repo:/ { repo = $2; next }
      END { flush() }
    ' "$project/glide.lock"
  elif [ -f "$project/Godeps/Godeps.json" ]; then
    # godep writes one key per line; the entries after "Deps" carry ImportPath and Rev.
    awk -F'"' '
      /"Deps"/ { deps = 1; next }
      deps && $2 == "ImportPath" { path = $4; next }
      deps && $2 == "Rev" { print path, $4; path = "" }
    ' "$project/Godeps/Godeps.json"
  else
    die "$project has neither glide.lock nor Godeps/Godeps.json: its dependencies are not pinned"
  fi
}

# The repository root of an import path.
import_root() {
  local path=$1 IFS=/
  # shellcheck disable=SC2206
  local parts=($path)
  case "${parts[0]}" in
    github.com | bitbucket.org | gitlab.com | golang.org | k8s.io)
      [ "${#parts[@]}" -ge 3 ] || [ "${parts[0]}" = k8s.io ] || die "import path $path is too short"
      if [ "${parts[0]}" = k8s.io ]; then printf '%s/%s' "${parts[0]}" "${parts[1]}"; else printf '%s/%s/%s' "${parts[0]}" "${parts[1]}" "${parts[2]}"; fi
      ;;
    google.golang.org | cloud.google.com) printf '%s/%s' "${parts[0]}" "${parts[1]}" ;;
    gopkg.in)
      if [[ ${parts[1]} == *.v[0-9]* ]]; then printf 'gopkg.in/%s' "${parts[1]}"; else printf 'gopkg.in/%s/%s' "${parts[1]}" "${parts[2]}"; fi
      ;;
    go4.org) printf 'go4.org' ;;
    *) die "no rule for the import path $path (add its repository to fetch-deps.sh)" ;;
  esac
}

# The git URL of a repository root (vanity import paths resolved to their repositories).
repo_url() {
  local root=$1
  case "$root" in
    github.com/* | bitbucket.org/* | gitlab.com/*) printf 'https://%s' "$root" ;;
    golang.org/x/*) printf 'https://github.com/golang/%s' "${root#golang.org/x/}" ;;
    google.golang.org/grpc) printf 'https://github.com/grpc/grpc-go' ;;
    google.golang.org/genproto) printf 'https://github.com/googleapis/go-genproto' ;;
    google.golang.org/appengine) printf 'https://github.com/golang/appengine' ;;
    google.golang.org/api) printf 'https://github.com/googleapis/google-api-go-client' ;;
    cloud.google.com/go) printf 'https://github.com/googleapis/google-cloud-go' ;;
    go4.org) printf 'https://github.com/go4org/go4' ;;
    k8s.io/*) printf 'https://github.com/kubernetes/%s' "${root#k8s.io/}" ;;
    gopkg.in/*/*)
      local rest=${root#gopkg.in/}
      printf 'https://github.com/%s/%s' "${rest%%/*}" "$(basename "${rest#*/}" | sed 's/\.v[0-9][0-9]*$//')"
      ;;
    gopkg.in/*)
      local name=${root#gopkg.in/}
      name=${name%%.v[0-9]*}
      printf 'https://github.com/go-%s/%s' "$name" "$name"
      ;;
    *) die "no repository known for $root" ;;
  esac
}

declare -A revision=() url=()
order=()
while read -r path rev repo; do
  [ -n "$path" ] || continue
  [[ $rev =~ ^[0-9a-f]{40}$ ]] || die "$path is pinned to '$rev', not a full commit"
  root=$(import_root "$path")
  if [ -n "${revision[$root]:-}" ]; then
    [ "${revision[$root]}" = "$rev" ] || die "$root is pinned to two commits (${revision[$root]} and $rev)"
    continue
  fi
  revision[$root]=$rev
  if [ -n "${repo:-}" ]; then url[$root]=$repo; else url[$root]=$(repo_url "$root"); fi
  order+=("$root")
done < <(lock_entries)
[ "${#order[@]}" -gt 0 ] || die "the lock file of $project lists no dependency"

if $plan_only; then
  for root in "${order[@]}"; do printf '%s %s %s\n' "$root" "${url[$root]}" "${revision[$root]}"; done
  exit 0
fi

# Old godep projects carry their dependencies in Godeps/_workspace: vendor those, do not fetch.
if [ -d "$project/Godeps/_workspace/src" ]; then
  mkdir -p "$project/vendor"
  cp -a "$project/Godeps/_workspace/src/." "$project/vendor/"
  rm -rf "$project/Godeps/_workspace"
  printf '%s: vendored Godeps/_workspace of %s\n' "$PROG" "$project"
  exit 0
fi

for root in "${order[@]}"; do
  dir="$project/vendor/$root"
  rev=${revision[$root]}
  rm -rf "$dir"
  mkdir -p "$dir"
  git -C "$dir" init -q
  # A shallow fetch of the commit itself; a full fetch where the server refuses that.
  if ! git -C "$dir" fetch -q --depth 1 "${url[$root]}" "$rev" 2>/dev/null; then
    git -C "$dir" fetch -q "${url[$root]}" '+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*'
  fi
  git -C "$dir" -c advice.detachedHead=false checkout -q --detach "$rev"
  [ "$(git -C "$dir" rev-parse HEAD)" = "$rev" ] || die "$root: checked out something else than $rev"
  rm -rf "$dir/.git"
  printf '%s: %s @ %s\n' "$PROG" "$root" "$rev"
done
# Flatten like glide --strip-vendor: one copy of each package, the one the lock pins.
find "$project/vendor" -mindepth 2 -type d \( -name vendor -o -name _workspace \) -prune -exec rm -rf {} +
