#!/bin/sh
# hindsight-healthcheck: unhealthy when Hindsight terminated a plugin (it leaves the plugin's
# error in <run dir>/<input|analysis|output>/<name>.err) or when no hindsight process runs.
# A terminated plugin is not restarted by Hindsight itself: failing the liveness probe makes the
# kubelet restart the container, whose entrypoint clears the run directory.
#
# Reads /proc only (no ps in the image). Paths default to compiler/facts.ts (HINDSIGHT.runDir).
set -eu

PROG=hindsight-healthcheck
RUN_DIR="${HINDSIGHT_RUN_DIR:-/var/run/hindsight}"
PROC_DIR="${HINDSIGHT_PROC_DIR:-/proc}"
PROCESS="${HINDSIGHT_PROCESS_NAME:-hindsight}"

fail() {
  printf '%s: unhealthy: %s\n' "$PROG" "$*" >&2
  exit 1
}

errors=$(find "$RUN_DIR" -mindepth 2 -maxdepth 2 -type f -name '*.err' 2>/dev/null | sort)
if [ -n "$errors" ]; then
  report=""
  for file in $errors; do
    plugin=${file#"$RUN_DIR"/}
    plugin=${plugin%.err}
    message=$(head -c 300 "$file" | tr '\n' ' ')
    report="$report ${plugin%%/*}.${plugin#*/} terminated: $message;"
  done
  fail "$report"
fi

running=false
for dir in "$PROC_DIR"/[0-9]*; do
  [ -r "$dir/comm" ] || continue
  read -r comm <"$dir/comm" 2>/dev/null || continue
  if [ "$comm" = "$PROCESS" ]; then
    running=true
    break
  fi
done
$running || fail "no $PROCESS process is running"
printf '%s: %s running, no terminated plugin\n' "$PROG" "$PROCESS"
