#!/usr/bin/env bash
# Patch for snap-plugin-collector-processes at the pinned commit (run in its source directory).
#
# That version reports process states at /intel/procfs/processes/<state>, the namespaces the
# task and the dashboards use (compiler/collector/metrics.ts), but reads its procfs location
# from the setting "procfs_path" while every other collector (and the compiled task) uses
# "proc_path". Renamed here, so the plugin reads the host's /proc mount instead of the
# container's own /proc. The build fails if the pinned source no longer looks as expected.
set -euo pipefail

file=processes/processes.go
count=$(grep -c '"procfs_path"' "$file" || true)
[ "$count" -eq 2 ] || {
  printf 'processes patch: expected 2 uses of "procfs_path" in %s, found %s\n' "$file" "$count" >&2
  exit 1
}
sed -i 's/"procfs_path"/"proc_path"/g' "$file"
grep -q 'NewNamespace(pluginVendor, fs, pluginName, state)' "$file" || {
  printf 'processes patch: %s no longer publishes /intel/procfs/processes/<state>\n' "$file" >&2
  exit 1
}
