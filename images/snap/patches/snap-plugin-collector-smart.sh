#!/usr/bin/env bash
# Patch for snap-plugin-collector-smart at the pinned commit (run in its source directory).
#
# The disk is the dynamic element of /intel/disk/smart/<device>/<attribute>, and the pipeline
# and the dashboards expect it in a field named "device" (device='sda'), not named after the
# disk as the interface collector did. The catalog declares it "device" (the constant devname),
# but the collected metric takes the element's name from the namespace Snap asked for, which is
# empty when a task names a disk instead of "*": it is set to "device" here in every case.
# The build fails if the pinned source no longer looks as expected.
set -euo pipefail
PATCH=smart
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

file=smart/plugin.go
expect 1 "$file" 'devname  = "device"'
expect 1 "$file" 'ns := core.NewNamespace(namespace_prefix...).AddDynamicElement(devname, "SMART device")'
expect 1 "$file" 'copy(ns1, ns)'
replace_line 1 "$file" 'ns1[3].Value = disk' 'ns1[3].Value = disk
ns1[3].Name = devname'
go_format "$file"
