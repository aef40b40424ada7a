#!/bin/sh
# hindsight-entrypoint: prepares the sandbox run directory and runs Hindsight.
#
# The config directory (the hindsight-config ConfigMap, read-only) holds hindsight.cfg and a run/
# tree of plugin cfgs and Lua files. Hindsight writes into its run directory (a terminated
# plugin leaves <run>/<type>/<name>.err there), so run/ is copied, symlinks followed, into the
# writable run directory (an emptyDir) after removing what an earlier start left behind: a stale
# .err would otherwise fail the healthcheck forever. Then `hindsight <config>/hindsight.cfg` is
# exec'd, with the container's arguments appended (e.g. a log level).
#
# Paths default to compiler/facts.ts (HINDSIGHT.configDir, HINDSIGHT.runDir); the variables exist
# so the script can be tested without the image.
set -eu

PROG=hindsight-entrypoint
CONFIG_DIR="${HINDSIGHT_CONFIG_DIR:-/etc/hindsight}"
RUN_DIR="${HINDSIGHT_RUN_DIR:-/var/run/hindsight}"
HINDSIGHT="${HINDSIGHT_BIN:-/usr/bin/hindsight}"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[ -f "$CONFIG_DIR/hindsight.cfg" ] || die "$CONFIG_DIR/hindsight.cfg does not exist"
[ -d "$CONFIG_DIR/run" ] || die "$CONFIG_DIR/run does not exist: no plugin to run"
if [ ! -d "$RUN_DIR" ] || [ ! -w "$RUN_DIR" ]; then
  die "run directory $RUN_DIR does not exist or is not writable"
fi

find "$RUN_DIR" -mindepth 1 -delete
cp -R -L "$CONFIG_DIR/run/." "$RUN_DIR/"
mkdir -p "$RUN_DIR/input" "$RUN_DIR/analysis" "$RUN_DIR/output"
chmod -R u+w "$RUN_DIR"
log "copied $(find "$RUN_DIR" -type f -name '*.cfg' | wc -l | tr -d ' ') plugin cfg(s) from $CONFIG_DIR/run into $RUN_DIR"

exec "$HINDSIGHT" "$CONFIG_DIR/hindsight.cfg" "$@"
