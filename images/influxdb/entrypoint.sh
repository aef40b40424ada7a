#!/usr/bin/env bash
# influxdb-entrypoint: starts influxd with the mounted config, waits (bounded) until it answers
# /ping, runs the bootstrap (database, retention policy, users, grants), then stays in the
# foreground as long as influxd runs, forwarding SIGTERM/SIGINT to it. A failed bootstrap stops
# influxd and fails the container, so a wrong security state never serves traffic silently.
set -euo pipefail

readonly PROG=influxdb-entrypoint
CONFIG="${INFLUXDB_CONFIG_PATH:-/etc/influxdb/influxdb.conf}"
INFLUXD="${INFLUXD_BIN:-influxd}"
BOOTSTRAP="${INFLUXDB_BOOTSTRAP:-/usr/local/bin/influxdb-bootstrap}"
URL="${INFLUXDB_BOOTSTRAP_URL:-http://127.0.0.1:8086}"
WAIT_SECONDS="${INFLUXDB_START_TIMEOUT:-120}"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

[ -r "$CONFIG" ] || {
  log "error: cannot read the config file $CONFIG"
  exit 1
}

"$INFLUXD" -config "$CONFIG" "$@" &
pid=$!

stop() {
  log "stopping influxd ($1)"
  kill -TERM "$pid" 2>/dev/null || true
}
trap 'stop SIGTERM' TERM
trap 'stop SIGINT' INT

# Wait for /ping (204) while influxd is alive, at most WAIT_SECONDS.
deadline=$((SECONDS + WAIT_SECONDS))
until [ "$(curl --silent --output /dev/null --max-time 2 --write-out '%{http_code}' "$URL/ping" || true)" = 204 ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    status=0
    wait "$pid" || status=$?
    log "error: influxd exited (status $status) before answering $URL/ping"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "error: influxd did not answer $URL/ping within ${WAIT_SECONDS}s"
    stop timeout
    wait "$pid" || true
    exit 1
  fi
  sleep 1
done

if ! INFLUXDB_BOOTSTRAP_URL="$URL" "$BOOTSTRAP"; then
  log "error: the bootstrap failed; stopping influxd"
  stop "failed bootstrap"
  wait "$pid" || true
  exit 1
fi

# Stay with influxd. `wait` returns early when a trapped signal arrives: wait again until the
# process is really gone, then exit with its status.
status=0
wait "$pid" || status=$?
while kill -0 "$pid" 2>/dev/null; do
  status=0
  wait "$pid" || status=$?
done
exit "$status"
