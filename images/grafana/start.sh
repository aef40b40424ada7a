#!/usr/bin/env bash
# Starts Grafana, waits for /api/health, then does through the HTTP API what provisioning files
# cannot: checks that the admin password is the Secret's (and resets it when the database
# predates a rotation), sets the organisation's home dashboard, and verifies that the
# provisioned datasource answers. Idempotent: every restart runs it again. Any failed step
# stops the container with a message saying what failed. Settings are checked before Grafana
# starts.
#
# Environment (set by the compiled Deployment):
#   GF_SECURITY_ADMIN_USER             the admin's login
#   GF_SECURITY_ADMIN_PASSWORD__FILE   the path of the file holding the admin password (a key of
#                                      a Secret mounted read-only; one trailing newline is
#                                      stripped). The image's /run.sh hands the same file to
#                                      Grafana; start.sh reads it for its API calls and for
#                                      `grafana cli admin reset-admin-password`. A plain
#                                      GF_SECURITY_ADMIN_PASSWORD (an old manifest) is refused.
#   STACKLIGHT_HOME_DASHBOARD_UID      uid of the home dashboard
#   STACKLIGHT_DATASOURCE_UID          uid of the provisioned InfluxDB datasource
# TLS (Grafana's own server settings, which start.sh reads too):
#   GF_SERVER_PROTOCOL                 http (the default) or https; anything else is refused
#   GF_SERVER_HTTP_PORT                Grafana's port (3000)
#   GF_SERVER_CERT_FILE, GF_SERVER_CERT_KEY   with https: the certificate and key files
#   GF_SERVER_DOMAIN                   with https: the DNS name in the certificate
# With https, start.sh talks to https://GF_SERVER_DOMAIN:port, that name resolved to 127.0.0.1
# (curl --resolve), and verifies Grafana's certificate against GF_SERVER_CERT_FILE itself
# (--cacert: curl accepts a leaf certificate as trust anchor); it never skips the verification.
# Optional: GRAFANA_URL (default http://127.0.0.1:PORT, or https://GF_SERVER_DOMAIN:PORT with
# https; with https it must be an https URL, and its host and port are the ones resolved to
# 127.0.0.1), STACKLIGHT_HEALTH_TIMEOUT (seconds, 120), STACKLIGHT_DATASOURCE_TRIES (10),
# STACKLIGHT_RETRY_DELAY (seconds, 6), GRAFANA_COMMAND (how to run Grafana, default the image's
# /run.sh), GRAFANA_CLI (default `grafana cli`).
#
# `start.sh --health` only asks /api/health once, with the same settings (the image's HEALTHCHECK).
set -euo pipefail

log() { printf 'start.sh: %s\n' "$*" >&2; }
# A wrong setting, found before Grafana starts.
die() {
  log "error: $*"
  exit 1
}

# --- how to reach Grafana ---------------------------------------------------------------------

protocol="${GF_SERVER_PROTOCOL:-http}"
port="${GF_SERVER_HTTP_PORT:-3000}"
[[ $port =~ ^[0-9]{1,5}$ ]] || die "GF_SERVER_HTTP_PORT must be a port number, got '$port'"
# Extra curl arguments for every call: with https, where the name resolves and what to trust.
tls=()
case "$protocol" in
  http)
    url="${GRAFANA_URL:-http://127.0.0.1:$port}"
    ;;
  https)
    # Only needed with https, so read without a default (these are not required with http).
    domain="${GF_SERVER_DOMAIN-}"
    cert_file="${GF_SERVER_CERT_FILE-}"
    cert_key="${GF_SERVER_CERT_KEY-}"
    [ -n "$domain" ] || die "GF_SERVER_PROTOCOL is https, but GF_SERVER_DOMAIN (the DNS name in Grafana's certificate) is not set"
    [[ $domain =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "GF_SERVER_DOMAIN must be a DNS name, got '$domain'"
    [ -n "$cert_file" ] || die "GF_SERVER_PROTOCOL is https, but GF_SERVER_CERT_FILE (the certificate file) is not set"
    { [ -f "$cert_file" ] && [ -r "$cert_file" ]; } || die "GF_SERVER_CERT_FILE names $cert_file, which is not a readable file (is the TLS Secret mounted?)"
    [ -n "$cert_key" ] || die "GF_SERVER_PROTOCOL is https, but GF_SERVER_CERT_KEY (the key file) is not set"
    { [ -f "$cert_key" ] && [ -r "$cert_key" ]; } || die "GF_SERVER_CERT_KEY names $cert_key, which is not a readable file (is the TLS Secret mounted?)"
    url="${GRAFANA_URL:-https://$domain:$port}"
    [[ $url =~ ^https://([A-Za-z0-9.-]+)(:([0-9]{1,5}))?(/.*)?$ ]] ||
      die "GRAFANA_URL must be an https:// URL with a host name when GF_SERVER_PROTOCOL is https, got '$url'"
    tls=(--resolve "${BASH_REMATCH[1]}:${BASH_REMATCH[3]:-443}:127.0.0.1" --cacert "$cert_file")
    ;;
  *)
    die "GF_SERVER_PROTOCOL must be http or https (or unset), got '$protocol'"
    ;;
esac

# One GET /api/health; true when Grafana answers 2xx. curl's error (a refused connection, an
# HTTP error, a certificate that does not verify) is kept in health_error.
health_error=""
health() {
  health_error="$(curl --silent --show-error --fail --max-time 5 "${tls[@]}" "$url/api/health" 2>&1 >/dev/null)"
}

if [ "${1-}" = --health ]; then
  health || die "$url/api/health: $health_error"
  exit 0
fi

# --- the rest of the settings -----------------------------------------------------------------

: "${GF_SECURITY_ADMIN_USER:?GF_SECURITY_ADMIN_USER is not set}"
: "${STACKLIGHT_HOME_DASHBOARD_UID:?STACKLIGHT_HOME_DASHBOARD_UID is not set}"
: "${STACKLIGHT_DATASOURCE_UID:?STACKLIGHT_DATASOURCE_UID is not set}"
health_timeout="${STACKLIGHT_HEALTH_TIMEOUT:-120}"
datasource_tries="${STACKLIGHT_DATASOURCE_TRIES:-10}"
retry_delay="${STACKLIGHT_RETRY_DELAY:-6}"
read -r -a grafana_command <<<"${GRAFANA_COMMAND:-/run.sh}"
read -r -a grafana_cli <<<"${GRAFANA_CLI:-grafana cli}"

# The admin password: from the file GF_SECURITY_ADMIN_PASSWORD__FILE names, never from the
# environment. Messages name the variable and the path, never the content.
[ -z "${GF_SECURITY_ADMIN_PASSWORD+set}" ] ||
  die "GF_SECURITY_ADMIN_PASSWORD is set, but the admin password is no longer read from the environment: mount the Secret and set GF_SECURITY_ADMIN_PASSWORD__FILE to the path of its key instead (and remove GF_SECURITY_ADMIN_PASSWORD)"
password_file="${GF_SECURITY_ADMIN_PASSWORD__FILE:-}"
[ -n "$password_file" ] || die "GF_SECURITY_ADMIN_PASSWORD__FILE is not set (the path of the file holding the admin password, a key of the mounted Secret)"
[ -e "$password_file" ] || die "GF_SECURITY_ADMIN_PASSWORD__FILE names $password_file, which does not exist (is the Secret mounted?)"
[ -f "$password_file" ] || die "GF_SECURITY_ADMIN_PASSWORD__FILE names $password_file, which is not a file"
{ : <"$password_file"; } 2>/dev/null || die "GF_SECURITY_ADMIN_PASSWORD__FILE names $password_file, which cannot be read"
admin_password=""
# read stops at a NUL byte (and succeeds) or at the end of the file (and fails).
if IFS= read -r -d '' admin_password <"$password_file"; then die "the password file $password_file (GF_SECURITY_ADMIN_PASSWORD__FILE) holds a NUL byte"; fi
admin_password=${admin_password%$'\n'}
[ -n "$admin_password" ] || die "the password file $password_file (GF_SECURITY_ADMIN_PASSWORD__FILE) is empty"
case "$admin_password" in
  *$'\n'* | *$'\r'*) die "the password in $password_file (GF_SECURITY_ADMIN_PASSWORD__FILE) must not contain a line break (one trailing newline is allowed)" ;;
esac

# --- configuring Grafana ----------------------------------------------------------------------

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
  local args=(--silent --show-error --fail-with-body --max-time 10 "${tls[@]}" --config - -X "$method" -H 'Accept: application/json')
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
  printf 'user = %s\n' "$(curl_quoted "$GF_SECURITY_ADMIN_USER:$admin_password")" | curl "${args[@]}" "$url$path"
}

wait_for_health() {
  local deadline=$((SECONDS + health_timeout))
  until health; do
    kill -0 "$grafana_pid" 2>/dev/null || fail "Grafana exited before /api/health answered"
    [ "$SECONDS" -lt "$deadline" ] || fail "Grafana's /api/health did not answer within ${health_timeout}s (last error: $health_error)"
    sleep 1
  done
  log "Grafana is healthy"
}

# The HTTP status of one API call as the admin (000 when Grafana did not answer).
api_status() {
  local method="$1" path="$2"
  printf 'user = %s\n' "$(curl_quoted "$GF_SECURITY_ADMIN_USER:$admin_password")" |
    curl --silent --max-time 10 "${tls[@]}" --config - -X "$method" -o /dev/null --write-out '%{http_code}' "$url$path" || true
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
  printf '%s\n' "$admin_password" | "${grafana_cli[@]}" admin reset-admin-password --password-from-stdin >/dev/null ||
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
