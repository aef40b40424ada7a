#!/bin/sh
# snap-healthcheck [PROBE]: healthy when snapteld's REST API on loopback lists at least one task,
# every task is Running, and no more than half of each task's runs since PROBE's previous check
# failed. A task Snap disabled after too many failures, a stopped or ended one, a task whose
# runs keep failing, or an API that does not answer makes the check fail, so the kubelet
# restarts the container and the tasks are loaded afresh.
#
# Why the runs: with max-failures -1 a task stays Running however often it fails (a collector
# that cannot read /proc, a publisher that cannot reach Hindsight), so its state alone says
# healthy while nothing is published. Each check saves the tasks' hit and failure counts in
# $SNAP_HEALTHCHECK_STATE_DIR/snap-healthcheck.PROBE and compares the next check's with them;
# PROBE (liveness, readiness, ...) keeps the kubelet's probes from resetting each other's counts.
# The first check judges all runs so far. Snap counts a run as a hit when it fires and as a
# failure when it ends failed, so a run still going counts as a hit only: "half" leaves room
# for it.
#
# GET /v1/tasks answers {"meta":…,"body":{"ScheduledTasks":[{"id":…,"name":…,"hit_count":…,
# "failed_count":…,"last_failure_message":…,"task_state":"Running",…}]}} (counts of zero are
# left out); jq reads it.
#
# With $SNAP_API_PASSWORD_FILE set (the REST API password's Secret, mounted read-only; the
# entrypoint put the same password into snapteld's config), the request carries basic auth as
# user "snap" (snapteld checks the password only). The credentials go to curl on stdin as a curl
# config (`user = "snap:..."`, backslashes and double quotes escaped), written by awk from the
# file: never on a command line, in a variable or in a message.
set -eu

PROG=snap-healthcheck
HOST="${SNAP_API_HOST:-127.0.0.1}"
PORT="${SNAP_API_PORT:-}"
TIMEOUT="${SNAP_HEALTHCHECK_TIMEOUT:-4}"
STATE_DIR="${SNAP_HEALTHCHECK_STATE_DIR:-/tmp}"
PASSWORD_FILE="${SNAP_API_PASSWORD_FILE:-}"
# The password's one reader, installed beside this script (images/snap/snap-password.awk).
PASSWORD_AWK="$(dirname "$0")/snap-password.awk"
# Any user name passes snapteld's basic auth; this is snaptel's (compiler/facts.ts SNAP.apiUser).
API_USER=snap
PROBE="${1:-default}"

fail() {
  printf '%s: unhealthy: %s\n' "$PROG" "$*" >&2
  exit 1
}

[ -n "$PORT" ] || fail "SNAP_API_PORT is not set"
case "$PORT" in
  *[!0-9]*) fail "SNAP_API_PORT '$PORT' is not a port number" ;;
esac
case "$PROBE" in
  *[!A-Za-z0-9_-]*) fail "probe name '$PROBE' is not a word" ;;
esac

# The curl config carrying the credentials, on stdout (nothing without a password file), from
# snap-password.awk beside this script. Exit status 3: the file cannot be read; 4: it is empty;
# 5: it is not one line of text.
credentials() {
  [ -n "$PASSWORD_FILE" ] || return 0
  [ -f "$PASSWORD_FILE" ] || return 3
  LC_ALL=C PASSWORD_FILE="$PASSWORD_FILE" CURL_USER="$API_USER" awk -f "$PASSWORD_AWK" </dev/null
}

url="http://$HOST:$PORT/v1/tasks"
status=0
credentials >/dev/null || status=$?
case "$status" in
  0) ;;
  3) fail "cannot read the REST API password from $PASSWORD_FILE (SNAP_API_PASSWORD_FILE)" ;;
  4) fail "the REST API password file $PASSWORD_FILE (SNAP_API_PASSWORD_FILE) is empty" ;;
  *) fail "the REST API password file $PASSWORD_FILE (SNAP_API_PASSWORD_FILE) is not one line of text" ;;
esac
# The body, then the HTTP status on a line of its own.
if ! answer=$(credentials | curl --silent --show-error --max-time "$TIMEOUT" --config - --write-out '\n%{http_code}' "$url" 2>&1); then
  fail "snapteld's API at $url did not answer: $answer"
fi
code=${answer##*
}
body=${answer%"$code"}
body=${body%?}
case "$code" in
  2??) ;;
  401)
    [ -n "$PASSWORD_FILE" ] || fail "the REST API at $url requires a password (401) and SNAP_API_PASSWORD_FILE is not set"
    fail "the REST API refused the password from $PASSWORD_FILE (401 at $url)"
    ;;
  *) fail "snapteld's API at $url answered HTTP $code: $body" ;;
esac

# One line per task: id, hits, failures, state, name, last failure (tabs and newlines made spaces).
if ! tasks=$(printf '%s' "$body" | jq -r '.body.ScheduledTasks // [] | .[]
    | [.id, (.hit_count // 0), (.failed_count // 0), .task_state, .name, (.last_failure_message // "")]
    | map(tostring | gsub("[\t\n\r]"; " ")) | join("\t")' 2>&1); then
  fail "snapteld's API answered what is not a task list: $tasks"
fi
[ -n "$tasks" ] || fail "snapteld has no task (none loaded from its auto_discover_path?)"

state_file="$STATE_DIR/snap-healthcheck.$PROBE"
previous=""
[ -r "$state_file" ] && previous=$(cat "$state_file")

tab=$(printf '\t')
problems=""
notes=""
total=0
saved=""
while IFS="$tab" read -r id hits failures state name message; do
  total=$((total + 1))
  saved="$saved$id $hits $failures
"
  if [ "$state" != Running ]; then
    problems="$problems task $name is $state${message:+ (last failure: $message)};"
    continue
  fi
  last=$(printf '%s\n' "$previous" | awk -v id="$id" '$1 == id { print $2, $3; exit }')
  last_hits=${last% *}
  last_failures=${last#* }
  # a task seen for the first time, or counting anew, is judged on all its runs
  if [ -z "$last" ] || [ "$hits" -lt "$last_hits" ] || [ "$failures" -lt "$last_failures" ]; then
    last_hits=0
    last_failures=0
  fi
  runs=$((hits - last_hits))
  failed=$((failures - last_failures))
  if [ "$failed" -gt 0 ] && [ $((failed * 2)) -ge "$runs" ]; then
    problems="$problems task $name: $failed of $runs run(s) since the last check failed (last failure: $message);"
  elif [ "$failed" -gt 0 ]; then
    notes="$notes task $name: $failed of $runs run(s) failed;"
  fi
done <<EOF
$tasks
EOF

# Saved before judging: the next check compares with this one whatever this one says.
if mkdir -p "$STATE_DIR" 2>/dev/null && printf '%s' "$saved" >"$state_file.$$" 2>/dev/null; then
  mv -f "$state_file.$$" "$state_file"
else
  rm -f "$state_file.$$" 2>/dev/null || true
  printf '%s: cannot save the counts in %s: every check judges all runs so far\n' "$PROG" "$STATE_DIR" >&2
fi

[ -z "$problems" ] || fail "${problems# }"
printf '%s: %s task(s) Running%s\n' "$PROG" "$total" "${notes:+;$notes}"
