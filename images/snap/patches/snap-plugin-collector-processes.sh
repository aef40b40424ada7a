#!/usr/bin/env bash
# Patch for snap-plugin-collector-processes at the pinned commit (run in its source directory).
#
# 1. That version reports process states at /intel/procfs/processes/<state>, the namespaces the
#    task and the dashboards use (compiler/collector/metrics.ts), but reads its procfs location
#    from the setting "procfs_path" while every other collector (and the compiled task) uses
#    "proc_path". Renamed here, so the plugin reads the host's /proc mount instead of the
#    container's own /proc.
# 2. It reads /proc/<pid>/{stat,cmdline,io,status} for every pid and returns an error on the
#    first file it cannot read, and Snap then drops the whole task run, every family with it:
#    "read /proc/1/io: permission denied" on every run as root without ptrace rights over the
#    pid, or ENOENT/ESRCH for a pid that exits during the scan. Such a pid is now skipped and
#    counted, and one line per run on stderr (snapteld logs a plugin's stderr at debug level)
#    gives the count and the first error. Any other error still fails the run.
# The build fails if the pinned source no longer looks as expected.
set -euo pipefail
PATCH=processes
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

file=processes/processes.go
expect 2 "$file" '"procfs_path"'
sed -i 's/"procfs_path"/"proc_path"/g' "$file"
expect 1 "$file" 'NewNamespace(pluginVendor, fs, pluginName, state)'

file=processes/procstat.go
expect 1 "$file" 'func (psc *procStatsCollector) GetStats(procPath string) (map[string][]Proc, error) {'
replace_line 1 "$file" '"io/ioutil"' '"errors"
"io/ioutil"
"log"
"os"
"syscall"'
replace_line 1 "$file" 'procs := map[string][]Proc{}' 'procs := map[string][]Proc{}
// pids that could not be read (no right to, or gone since ReadDir): skipped, counted, logged.
skipped := 0
var firstSkip error
skip := func(err error) bool {
	if !skipPid(err) {
		return false
	}
	if skipped++; firstSkip == nil {
		firstSkip = err
	}
	return true
}
defer func() {
	if skipped > 0 {
		log.Printf("processes: skipped %d pid(s) of %s that could not be read, first: %v", skipped, procPath, firstSkip)
	}
}()'
# In GetStats, the ReadDir of procPath and then the four reads in the pid loop (stat, cmdline,
# io, status) return "nil, err": the last four change (read2Map has a sixth, left alone).
expect 6 "$file" 'return nil, err'
replace_line 1 "$file" 'procStat, err := ioutil.ReadFile(fstat)' 'procStat, err := ioutil.ReadFile(fstat)
if err == nil && len(strings.Fields(string(procStat))) < 3 {
	err = os.ErrNotExist // an empty stat: the pid is gone
}'
awk '
  /^func \(psc \*procStatsCollector\) GetStats\(/ { inside = 1 }
  /^}/ { inside = 0 }
  inside && /return nil, err/ && ++seen > 1 {
    indent = $0; sub(/[^ \t].*$/, "", indent)
    print indent "if skip(err) {"
    print indent "\tcontinue"
    print indent "}"
  }
  { print }
' "$file" >"$file.new"
mv "$file.new" "$file"
expect 4 "$file" 'if skip(err) {'
cat >>"$file" <<'EOF'

// skipPid tells whether a read error under /proc/<pid> only concerns that pid: no right to read
// it (EACCES, EPERM) or the process is gone (ENOENT, ESRCH).
func skipPid(err error) bool {
	return os.IsPermission(err) || os.IsNotExist(err) || errors.Is(err, syscall.ESRCH)
}
EOF
go_format "$file"
