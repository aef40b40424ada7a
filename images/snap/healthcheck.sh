#!/bin/sh
# snap-healthcheck: healthy when snapteld's REST API on loopback lists at least one task and
# every task is Running. A task Snap disabled after too many failures ("Disabled"), a stopped
# or ended one, or an API that does not answer makes the check fail, so the kubelet restarts
# the container and the tasks are loaded afresh.
#
# GET /v1/tasks answers {"meta":…,"body":{"ScheduledTasks":[{…,"task_state":"Running",…}]}}.
# Each "task_state" key is matched as a JSON key: inside a JSON string every quote is escaped,
# so a task name or failure message cannot fake one.
set -eu

PROG=snap-healthcheck
HOST="${SNAP_API_HOST:-127.0.0.1}"
PORT="${SNAP_API_PORT:-}"
TIMEOUT="${SNAP_HEALTHCHECK_TIMEOUT:-4}"

fail() {
  printf '%s: unhealthy: %s\n' "$PROG" "$*" >&2
  exit 1
}

[ -n "$PORT" ] || fail "SNAP_API_PORT is not set"
case "$PORT" in
  *[!0-9]*) fail "SNAP_API_PORT '$PORT' is not a port number" ;;
esac

if ! body=$(curl --silent --show-error --fail --max-time "$TIMEOUT" "http://$HOST:$PORT/v1/tasks" 2>&1); then
  fail "snapteld's API at http://$HOST:$PORT/v1/tasks did not answer: $body"
fi

states=$(printf '%s\n' "$body" | grep -o '"task_state"[[:space:]]*:[[:space:]]*"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' || true)
total=$(printf '%s' "$states" | grep -c . || true)
running=$(printf '%s\n' "$states" | grep -cx Running || true)

[ "$total" -gt 0 ] || fail "snapteld has no task (none loaded from its auto_discover_path?)"
if [ "$running" -ne "$total" ]; then
  fail "$((total - running)) of $total task(s) not Running (states: $(printf '%s' "$states" | tr '\n' ' '))"
fi
printf '%s: %s task(s) Running\n' "$PROG" "$total"
