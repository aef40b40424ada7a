#!/usr/bin/env bash
# Patch for snap-plugin-collector-disk at the pinned commit (run in its source directory).
#
# The plugin reads /proc/diskstats lines of exactly 14 fields (kernel 2.6 to 4.17) and skips any
# other line. Kernels 4.18+ append 4 discard fields (18 in all) and 5.5+ 2 flush fields (20): the
# plugin then sees no disk, exposes no metric, and Snap refuses the whole task ("Metric not
# found: /intel/procfs/disk/*/octets_read"), every family with it. Lines of 18 or 20 fields are
# cut to their first 14, whose meaning has not changed. /proc/partitions (kernel 2.4) is not
# touched. The build fails if the pinned source no longer looks as expected.
set -euo pipefail
PATCH=disk
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

file=disk/disk.go
expect 1 "$file" 'if numfields != 14+fieldshift && numfields != 7 {'
expect 1 "$file" '} else if numfields == (14 + fieldshift) {'
replace_line 1 "$file" 'numfields := len(fields)' 'numfields := len(fields)
// /proc/diskstats of kernels 4.18+ (18 fields) and 5.5+ (20 fields): the first 14 as before.
if fieldshift == 0 && (numfields == 18 || numfields == 20) {
	fields = fields[:14]
	numfields = 14
}'
go_format "$file"
