#!/bin/sh
# apt-snapshot: installs Debian packages from one snapshot of the Debian archive, so that a
# rebuild of an image installs the same files. The Dockerfiles of snap, hindsight and influxdb
# run it from the build context `shared` (this folder), which leaves nothing of it in the image:
#
#   RUN --mount=type=bind,from=shared,target=/mnt/shared sh /mnt/shared/apt-snapshot.sh PACKAGE...
#
#   apt-snapshot.sh --sources    print the apt sources it would write, and change nothing
#
# The snapshot is pinned here, once for every image.
set -eu

SNAPSHOT=20250520T000000Z
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

sources() {
  printf 'Types: deb\nURIs: http://snapshot.debian.org/archive/%s/%s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    debian "$SNAPSHOT" 'bookworm bookworm-updates' "$KEYRING"
  printf '\nTypes: deb\nURIs: http://snapshot.debian.org/archive/%s/%s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    debian-security "$SNAPSHOT" bookworm-security "$KEYRING"
}

if [ "${1:-}" = --sources ]; then
  sources
  exit 0
fi
[ "$#" -gt 0 ] || { echo "usage: apt-snapshot.sh PACKAGE... | --sources" >&2; exit 2; }

sources > /etc/apt/sources.list.d/debian.sources
rm -f /etc/apt/sources.list
# A snapshot's Release files are past their Valid-Until date by design.
apt-get -o Acquire::Check-Valid-Until=false update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
