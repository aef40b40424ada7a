#!/usr/bin/env bash
# Starts Grafana, waits for /api/health, then does through the HTTP API what provisioning files
# cannot: checks that the admin password is the Secret's (and resets it when the database
# predates a rotation), sets the organisation's home dashboard, and verifies that the
# provisioned datasource answers. Idempotent: every restart runs it again. Any failed step
# stops the container with a message saying what failed.
#
# Environment (set by the compiled Deployment):
#   GF_SECURITY_ADMIN_USER, GF_SECURITY_ADMIN_PASSWORD  admin credentials (password from a Secret)
#   STACKLIGHT_HOME_DASHBOARD_UID                      uid of the home dashboard
#   STACKLIGHT_DATASOURCE_UID                          uid of the provisioned InfluxDB datasource
# Optional: GRAFANA_URL (default http://127.0.0.1:3000), STACKLIGHT_HEALTH_TIMEOUT (seconds, 120),
# STACKLIGHT_DATASOURCE_TRIES (10), STACKLIGHT_RETRY_DELAY (seconds, 6), GRAFANA_COMMAND (how to
# run Grafana, default the image's /run.sh), GRAFANA_CLI (default `grafana cli`).
set -euo pipefail

: "${GF_SECURITY_ADMIN_USER:?GF_SECURITY_ADMIN_USER is not set}"
: "${GF_SECURITY_ADMIN_PASSWORD:?GF_SECURITY_ADMIN_PASSWORD is not set}"
: "${STACKLIGHT_HOME_DASHBOARD_UID:?STACKLIGHT_HOME_DASHBOARD_UID is not set}"
: "${STACKLIGHT_DATASOURCE_UID:?STACKLIGHT_DATASOURCE_UID is not set}"
url="${GRAFANA_URL:-http://127.0.0.1:3000}"
health_timeout="${STACKLIGHT_HEALTH_TIMEOUT:-120}"
datasource_tries="${STACKLIGHT_DATASOURCE_TRIES:-10}"
retry_delay="${STACKLIGHT_RETRY_DELAY:-6}"
read -r -a grafana_command <<<"${GRAFANA_COMMAND:-/run.sh}"
read -r -a grafana_cli <<<"${GRAFANA_CLI:-grafana cli}"

log() { printf 'start.sh: %s\n' "$*" >&2; }
fail() {
  log "FAILED: $*"
  kill -TERM "$grafana_pid" 2>/dev/null || true
  exit 1
}

# A value quoted for a curl config file: backslashes and double quotes escaped.
curl_quoted() {
  local value="${1//\\/\\\\}"
  printf '"%s"' "${value//\"/\\\"}"
}

# One API call as the admin. The credentials go to curl on stdin, never on its command line.
# Prints the response body; returns curl's status (22 for an HTTP error, with the body printed).
api() {
  local method="$1" path="$2" body="${3:-}"
  local args=(--silent --show-error --fail-with-body --max-time 10 --config - -X "$method" -H 'Accept: application/json')
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
  printf 'user = %s\n' "$(curl_quoted "$GF_SECURITY_ADMIN_USER:$GF_SECURITY_ADMIN_PASSWORD")" | curl "${args[@]}" "$url$path"
}

wait_for_health() {
  local deadline=$((SECONDS + health_timeout))
  until curl --silent --fail --max-time 5 "$url/api/health" >/dev/null 2>&1; do
    kill -0 "$grafana_pid" 2>/dev/null || fail "Grafana exited before /api/health answered"
    [ "$SECONDS" -lt "$deadline" ] || fail "Grafana's /api/health did not answer within ${health_timeout}s"
    sleep 1
  done
  log "Grafana is healthy"
}

# The HTTP status of one API call as the admin (000 when Grafana did not answer).
api_status() {
  local method="$1" path="$2"
  printf 'user = %s\n' "$(curl_quoted "$GF_SECURITY_ADMIN_USER:$GF_SECURITY_ADMIN_PASSWORD")" |
    curl --silent --max-time 10 --config - -X "$method" -o /dev/null --write-out '%{http_code}' "$url$path" || true
}

ensure_admin_password() {
  local status
  status="$(api_status GET /api/user)"
  case "$status" in
    200)
      log "admin password is the Secret's"
      return
      ;;
    401) ;;
    *) fail "GET /api/user answered ${status}: cannot tell whether the admin password is the Secret's" ;;
  esac
  # 401: the database predates the Secret's value (a rotation while the emptyDir survived).
  log "admin password differs from the Secret's: resetting it"
  printf '%s\n' "$GF_SECURITY_ADMIN_PASSWORD" | "${grafana_cli[@]}" admin reset-admin-password --password-from-stdin >/dev/null ||
    fail "could not reset the admin password with grafana cli"
  api GET /api/user >/dev/null || fail "the admin password from the Secret is still refused after the reset"
  log "admin password reset to the Secret's"
}

ensure_home_dashboard() {
  local current
  current="$(api GET /api/org/preferences)" || fail "GET /api/org/preferences: $current"
  if [[ "$current" == *"\"homeDashboardUID\":\"$STACKLIGHT_HOME_DASHBOARD_UID\""* ]]; then
    log "home dashboard already $STACKLIGHT_HOME_DASHBOARD_UID"
    return
  fi
  local answer
  answer="$(api PUT /api/org/preferences "{\"homeDashboardUID\":\"$STACKLIGHT_HOME_DASHBOARD_UID\"}")" ||
    fail "PUT /api/org/preferences (home dashboard $STACKLIGHT_HOME_DASHBOARD_UID): $answer"
  log "home dashboard set to $STACKLIGHT_HOME_DASHBOARD_UID"
}

verify_datasource() {
  local answer
  answer="$(api GET "/api/datasources/uid/$STACKLIGHT_DATASOURCE_UID")" ||
    fail "the provisioned datasource $STACKLIGHT_DATASOURCE_UID does not exist: $answer"
  local try
  for ((try = 1; try <= datasource_tries; try++)); do
    if answer="$(api GET "/api/datasources/uid/$STACKLIGHT_DATASOURCE_UID/health")"; then
      log "datasource $STACKLIGHT_DATASOURCE_UID answers"
      return
    fi
    log "datasource $STACKLIGHT_DATASOURCE_UID does not answer yet (try $try of $datasource_tries): $answer"
    sleep "$retry_delay"
  done
  fail "datasource $STACKLIGHT_DATASOURCE_UID did not answer after $datasource_tries tries: $answer"
}

# start.sh is the container's PID 1: a stop is passed on to Grafana, and start.sh exits only once
# Grafana has shut down (with Grafana's status), so the kubelet's grace period is Grafana's.
# shellcheck disable=SC2317 # invoked by the trap below
stop() {
  log "stopping Grafana"
  kill -TERM "$grafana_pid" 2>/dev/null || true
  local code=0
  wait "$grafana_pid" || code=$?
  exit "$code"
}

"${grafana_command[@]}" &
grafana_pid=$!
trap stop TERM INT

wait_for_health
ensure_admin_password
ensure_home_dashboard
verify_datasource
log "configured; Grafana keeps running"

status=0
wait "$grafana_pid" || status=$?
exit "$status"
