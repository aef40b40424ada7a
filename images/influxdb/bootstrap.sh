#!/usr/bin/env bash
# influxdb-bootstrap: brings InfluxDB 1.x to the state the manifests describe, on EVERY start,
# and changes only what differs (a second run reports "no changes"):
#   - the admin user: created when InfluxDB has no admin yet (the only statement InfluxDB
#     accepts without credentials), otherwise used to authenticate every other statement;
#   - the database and its retention policy: created, or altered to the configured duration
#     and made the DEFAULT;
#   - the write-only and read-only users: created, or their password set from the Secret when
#     it no longer matches, admin rights removed, exactly WRITE (resp. READ) on the database
#     and nothing on any other database.
# Passwords are never in the environment: INFLUXDB_ADMIN_PASSWORD_FILE,
# INFLUXDB_WRITE_USER_PASSWORD_FILE and INFLUXDB_READ_USER_PASSWORD_FILE name files holding them
# (keys of a Secret mounted read-only; one trailing newline is stripped). A plain
# INFLUXDB_ADMIN_PASSWORD, INFLUXDB_WRITE_USER_PASSWORD or INFLUXDB_READ_USER_PASSWORD left set by
# an old manifest is refused, not ignored.
# Passwords travel to curl on stdin (a curl config), never on a command line, and are never
# printed. Names are checked against the pattern the config compiler enforces.
set -euo pipefail

readonly PROG=influxdb-bootstrap
readonly URL="${INFLUXDB_BOOTSTRAP_URL:-http://127.0.0.1:8086}"
readonly TIMEOUT="${INFLUXDB_BOOTSTRAP_TIMEOUT:-10}"

log() { printf '%s: %s\n' "$PROG" "$*"; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

DB="${INFLUXDB_DB:-}"
RP="${INFLUXDB_RP:-}"
RETENTION="${INFLUXDB_RETENTION:-}"
ADMIN_USER="${INFLUXDB_ADMIN_USER:-}"
ADMIN_PASSWORD_FILE="${INFLUXDB_ADMIN_PASSWORD_FILE:-}"
WRITE_USER="${INFLUXDB_WRITE_USER:-}"
WRITE_PASSWORD_FILE="${INFLUXDB_WRITE_USER_PASSWORD_FILE:-}"
READ_USER="${INFLUXDB_READ_USER:-}"
READ_PASSWORD_FILE="${INFLUXDB_READ_USER_PASSWORD_FILE:-}"
# Set by read_password below, from the files.
ADMIN_PASSWORD=""
WRITE_PASSWORD=""
READ_PASSWORD=""

CHANGES=0
changed() {
  CHANGES=$((CHANGES + 1))
  log "$*"
}

# --- validation -------------------------------------------------------------------------------

require() { # name value
  [ -n "$2" ] || die "$1 is not set"
}
identifier() { # name value
  require "$1" "$2"
  [[ $2 =~ ^[A-Za-z_][A-Za-z0-9_]{0,63}$ ]] || die "$1 must be letters, digits and _ (starting with a letter or _), got '$2'"
}
# no_plain_password <plain variable> <set or empty> <file variable>: refuses a password given as a
# value in the environment (an old manifest), so it is not silently ignored.
no_plain_password() {
  [ -z "$2" ] || die "$1 is set, but passwords are no longer read from the environment: mount the Secret and set $3 to the path of its key instead (and remove $1)"
}
# read_password <destination> <file variable> <path>: the password in the file, one trailing
# newline stripped, into the destination variable. Messages name the variable and the path,
# never the content.
read_password() {
  local dest=$1 var=$2 path=$3 content=""
  [ -n "$path" ] || die "$var is not set (the path of the file holding the password, a key of the mounted Secret)"
  [ -e "$path" ] || die "$var names $path, which does not exist (is the Secret mounted?)"
  [ -f "$path" ] || die "$var names $path, which is not a file"
  { : <"$path"; } 2>/dev/null || die "$var names $path, which cannot be read"
  # read stops at a NUL byte (and succeeds) or at the end of the file (and fails).
  if IFS= read -r -d '' content <"$path"; then die "the password file $path ($var) holds a NUL byte"; fi
  content=${content%$'\n'}
  [ -n "$content" ] || die "the password file $path ($var) is empty"
  case "$content" in
    *$'\n'* | *$'\r'*) die "the password in $path ($var) must not contain a line break (one trailing newline is allowed)" ;;
  esac
  printf -v "$dest" '%s' "$content"
}

no_plain_password INFLUXDB_ADMIN_PASSWORD "${INFLUXDB_ADMIN_PASSWORD+set}" INFLUXDB_ADMIN_PASSWORD_FILE
no_plain_password INFLUXDB_WRITE_USER_PASSWORD "${INFLUXDB_WRITE_USER_PASSWORD+set}" INFLUXDB_WRITE_USER_PASSWORD_FILE
no_plain_password INFLUXDB_READ_USER_PASSWORD "${INFLUXDB_READ_USER_PASSWORD+set}" INFLUXDB_READ_USER_PASSWORD_FILE
identifier INFLUXDB_DB "$DB"
identifier INFLUXDB_RP "$RP"
identifier INFLUXDB_ADMIN_USER "$ADMIN_USER"
identifier INFLUXDB_WRITE_USER "$WRITE_USER"
identifier INFLUXDB_READ_USER "$READ_USER"
read_password ADMIN_PASSWORD INFLUXDB_ADMIN_PASSWORD_FILE "$ADMIN_PASSWORD_FILE"
read_password WRITE_PASSWORD INFLUXDB_WRITE_USER_PASSWORD_FILE "$WRITE_PASSWORD_FILE"
read_password READ_PASSWORD INFLUXDB_READ_USER_PASSWORD_FILE "$READ_PASSWORD_FILE"
require INFLUXDB_RETENTION "$RETENTION"
[[ $RETENTION =~ ^([1-9][0-9]*)([smhdw])$ ]] || die "INFLUXDB_RETENTION must be a whole number and one unit of s, m, h, d or w (e.g. 30d), got '$RETENTION'"
case "${BASH_REMATCH[2]}" in
  s) RETENTION_SECONDS=$((BASH_REMATCH[1])) ;;
  m) RETENTION_SECONDS=$((BASH_REMATCH[1] * 60)) ;;
  h) RETENTION_SECONDS=$((BASH_REMATCH[1] * 3600)) ;;
  d) RETENTION_SECONDS=$((BASH_REMATCH[1] * 86400)) ;;
  w) RETENTION_SECONDS=$((BASH_REMATCH[1] * 604800)) ;;
esac
[ "$RETENTION_SECONDS" -ge 3600 ] || die "INFLUXDB_RETENTION must be at least 1h (InfluxDB refuses shorter retention policies), got '$RETENTION'"
if [ "$WRITE_USER" = "$ADMIN_USER" ] || [ "$READ_USER" = "$ADMIN_USER" ] || [ "$WRITE_USER" = "$READ_USER" ]; then
  die "INFLUXDB_ADMIN_USER, INFLUXDB_WRITE_USER and INFLUXDB_READ_USER must be three different users"
fi

# --- quoting ----------------------------------------------------------------------------------

# A value inside a double-quoted curl config string.
curl_quote() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
# An InfluxQL string literal: backslash and single quote escaped.
ql_string() {
  local s=${1//\\/\\\\}
  s=${s//\'/\\\'}
  printf "'%s'" "$s"
}
# An InfluxQL quoted identifier (names read back from InfluxDB may hold any character).
ql_ident() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# --- HTTP -------------------------------------------------------------------------------------

STATUS=""
BODY=""
# request <user> <password> <path> [statement]: POST to InfluxDB; sets STATUS and BODY. An empty
# user sends no credentials. Everything secret reaches curl through its stdin.
request() {
  local config out
  config="url = $(curl_quote "$URL$3")
silent
show-error
max-time = $TIMEOUT
request = POST
header = \"Accept: application/csv\"
write-out = \"\\n%{http_code}\"
"
  if [ -n "$1" ]; then
    config+="user = $(curl_quote "$1:$2")
"
  fi
  if [ $# -ge 4 ]; then
    config+="data-urlencode = $(curl_quote "q=$4")
"
  fi
  if ! out=$(printf '%s' "$config" | curl --config -); then
    die "cannot reach InfluxDB at $URL"
  fi
  STATUS=${out##*$'\n'}
  BODY=${out%$'\n'*}
  [ "$BODY" != "$out" ] || BODY=""
}

# True when the last request succeeded (InfluxDB reports statement errors as an "error" row).
succeeded() {
  [ "$STATUS" = 200 ] && [ "${BODY%%$'\n'*}" != error ]
}
# The error InfluxDB gave, for messages about statements that carry no secret.
error_text() {
  local text=${BODY#error$'\n'}
  printf 'HTTP %s: %s' "$STATUS" "${text//$'\n'/ }"
}

# admin <statement>: run a statement as the admin user; die on failure.
admin() {
  request "$ADMIN_USER" "$ADMIN_PASSWORD" /query "$1"
  succeeded || die "'$1' failed ($(error_text))"
}
# admin_secret <description> <statement>: the same for a statement holding a password: on
# failure neither the statement nor InfluxDB's answer (which may quote it) is shown.
admin_secret() {
  request "$ADMIN_USER" "$ADMIN_PASSWORD" /query "$2"
  succeeded || die "$1 failed (HTTP $STATUS)"
}

# csv_fields <fields>: the given comma-separated field numbers of every data row of BODY,
# separated by the unit separator (CSV quoting understood).
readonly SEP=$'\037'
csv_fields() {
  printf '%s\n' "$BODY" | awk -v fields="$1" '
    function parse(line,    i, c, f, quoted, n) {
      n = 0; f = ""; quoted = 0
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (quoted) {
          if (c == "\"") {
            if (substr(line, i + 1, 1) == "\"") { f = f "\""; i++ } else quoted = 0
          } else f = f c
        } else if (c == "\"") quoted = 1
        else if (c == ",") { F[++n] = f; f = "" }
        else f = f c
      }
      F[++n] = f
      return n
    }
    BEGIN { count = split(fields, want, ",") }
    NR > 1 && length($0) > 0 {
      parse($0); out = ""
      for (k = 1; k <= count; k++) out = out (k > 1 ? "\037" : "") F[want[k]]
      print out
    }'
}

# Seconds of an InfluxDB duration as SHOW RETENTION POLICIES prints it ("720h0m0s"; "0s" = infinite).
duration_seconds() {
  [[ $1 =~ ^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)(\.[0-9]+)?s)?$ ]] || die "unexpected retention policy duration '$1'"
  printf '%s' $((${BASH_REMATCH[2]:-0} * 3600 + ${BASH_REMATCH[4]:-0} * 60 + ${BASH_REMATCH[6]:-0}))
}

# --- the steps --------------------------------------------------------------------------------

ensure_admin() {
  request "" "" /query "SHOW USERS"
  case "$STATUS" in
    200)
      die "InfluxDB at $URL answers without credentials: auth-enabled must be true in its config"
      ;;
    403)
      case "$BODY" in
        *"create admin user first"*) ;;
        *) die "unexpected answer to an unauthenticated SHOW USERS ($(error_text))" ;;
      esac
      # No admin yet: the one statement InfluxDB allows without credentials.
      request "" "" /query "CREATE USER $(ql_ident "$ADMIN_USER") WITH PASSWORD $(ql_string "$ADMIN_PASSWORD") WITH ALL PRIVILEGES"
      succeeded || die "creating the admin user $ADMIN_USER failed (HTTP $STATUS)"
      changed "created admin user $ADMIN_USER"
      ;;
    401) ;;
    *) die "unexpected answer to an unauthenticated SHOW USERS ($(error_text))" ;;
  esac
  request "$ADMIN_USER" "$ADMIN_PASSWORD" /query "SHOW USERS"
  case "$STATUS" in
    200) succeeded || die "SHOW USERS failed ($(error_text))" ;;
    401) die "cannot authenticate as $ADMIN_USER with the password from INFLUXDB_ADMIN_PASSWORD_FILE ($ADMIN_PASSWORD_FILE): InfluxDB already has an admin whose password differs (set it back, or change it in InfluxDB with SET PASSWORD first)" ;;
    403) die "$ADMIN_USER is not an admin user of InfluxDB" ;;
    *) die "SHOW USERS as $ADMIN_USER failed ($(error_text))" ;;
  esac
}

ensure_database() {
  admin "SHOW DATABASES"
  if ! csv_fields 3 | grep -qxF -- "$DB"; then
    admin "CREATE DATABASE $(ql_ident "$DB")"
    changed "created database $DB"
  fi
}

ensure_retention_policy() {
  local row name duration default current
  admin "SHOW RETENTION POLICIES ON $(ql_ident "$DB")"
  row=""
  while IFS="$SEP" read -r name duration default; do
    if [ "$name" = "$RP" ]; then row="$duration$SEP$default"; fi
  done < <(csv_fields 3,4,7)
  if [ -z "$row" ]; then
    admin "CREATE RETENTION POLICY $(ql_ident "$RP") ON $(ql_ident "$DB") DURATION $RETENTION REPLICATION 1 DEFAULT"
    changed "created retention policy $RP on $DB: duration $RETENTION, default"
    return
  fi
  duration=${row%%"$SEP"*}
  default=${row#*"$SEP"}
  current=$(duration_seconds "$duration")
  if [ "$current" != "$RETENTION_SECONDS" ] || [ "$default" != true ]; then
    admin "ALTER RETENTION POLICY $(ql_ident "$RP") ON $(ql_ident "$DB") DURATION $RETENTION DEFAULT"
    changed "altered retention policy $RP on $DB: duration $duration -> $RETENTION, default (was default: $default)"
  fi
}

# can_login <user> <password>: true when InfluxDB accepts these credentials.
can_login() {
  request "$1" "$2" /query "SHOW DATABASES"
  case "$STATUS" in
    200) return 0 ;;
    401) return 1 ;;
    *) die "checking the password of $1 failed (HTTP $STATUS)" ;;
  esac
}

# ensure_user <user> <password> <the variable naming its file> <privilege on the database>
ensure_user() {
  local user=$1 pass=$2 var=$3 privilege=$4 name is_admin found database granted current
  admin "SHOW USERS"
  found=""
  while IFS="$SEP" read -r name is_admin; do
    if [ "$name" = "$user" ]; then found="$is_admin"; fi
  done < <(csv_fields 3,4)

  if [ -z "$found" ]; then
    admin_secret "creating user $user" "CREATE USER $(ql_ident "$user") WITH PASSWORD $(ql_string "$pass")"
    changed "created user $user"
  else
    if [ "$found" = true ]; then
      admin "REVOKE ALL PRIVILEGES FROM $(ql_ident "$user")"
      changed "revoked admin rights from $user"
    fi
    if ! can_login "$user" "$pass"; then
      admin_secret "setting the password of $user" "SET PASSWORD FOR $(ql_ident "$user") = $(ql_string "$pass")"
      changed "set the password of $user from $var"
    fi
  fi

  admin "SHOW GRANTS FOR $(ql_ident "$user")"
  current="NO PRIVILEGES"
  while IFS="$SEP" read -r database granted; do
    if [ "$database" = "$DB" ]; then
      current=$granted
    elif [ "$granted" != "NO PRIVILEGES" ]; then
      admin "REVOKE ALL PRIVILEGES ON $(ql_ident "$database") FROM $(ql_ident "$user")"
      changed "revoked $granted on database $database from $user"
    fi
  done < <(csv_fields 3,4)
  if [ "$current" != "$privilege" ]; then
    admin "GRANT $privilege ON $(ql_ident "$DB") TO $(ql_ident "$user")"
    if [ "$current" = "NO PRIVILEGES" ]; then
      changed "granted $privilege on $DB to $user"
    else
      changed "granted $privilege on $DB to $user (had: $current)"
    fi
  fi
}

command -v curl >/dev/null 2>&1 || die "curl is missing"
ensure_admin
ensure_database
ensure_retention_policy
ensure_user "$WRITE_USER" "$WRITE_PASSWORD" INFLUXDB_WRITE_USER_PASSWORD_FILE WRITE
ensure_user "$READ_USER" "$READ_PASSWORD" INFLUXDB_READ_USER_PASSWORD_FILE READ

if [ "$CHANGES" -eq 0 ]; then
  log "no changes"
else
  log "$CHANGES change(s)"
fi
