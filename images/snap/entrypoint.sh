#!/bin/sh
# snap-entrypoint: renders the task templates for this node and snapteld's config with its REST
# API password, then runs the Snap daemon.
#
# Tasks: every *.yaml, *.yml or *.json file of the template directory (the snap-config ConfigMap)
# is copied into the task directory (an emptyDir on snapteld's auto_discover_path) with each
# "${NODE_NAME}" replaced by $NODE_NAME (the downward API's spec.nodeName), so every metric is
# tagged with the node it was collected on. Tasks rendered by an earlier start of the container
# are removed first.
#
# Config: the compiled snapd.yaml ($SNAP_CONFIG_TEMPLATE, from the ConfigMap) carries
# `rest_auth_password: "${SNAP_API_PASSWORD}"`; it is written to $SNAP_CONFIG (a memory emptyDir)
# with every "${SNAP_API_PASSWORD}" replaced by the password in the file $SNAP_API_PASSWORD_FILE
# names (a Secret mounted read-only; one trailing newline is not part of it), escaped for a YAML
# double-quoted scalar (backslash and double quote; a control character or line break is refused),
# so the placeholder must stand inside double quotes. snapteld has no other way to get the password
# non-interactively: with rest_auth and no rest_auth_password it prompts on the terminal. The
# rendered file is mode 0600 (readable by the container's user only) and replaced atomically.
# The password is read by awk from its file: it is in no variable, no command line and no output,
# and the daemon's environment holds only the file's path. A template without the placeholder is
# copied as it is: the REST API then has no password from a Secret (no authentication).
#
# Then the daemon is exec'd with the container's arguments (which name $SNAP_CONFIG).
#
# Paths default to compiler/facts.ts (SNAP.taskTemplateDir, SNAP.taskDir, SNAP.configTemplate,
# SNAP.configFile); the variables exist so the script can be tested without the image.
set -eu

PROG=snap-entrypoint
TEMPLATE_DIR="${SNAP_TASK_TEMPLATE_DIR:-/etc/snap/task-templates}"
TASK_DIR="${SNAP_TASK_DIR:-/var/lib/snap/tasks}"
CONFIG_TEMPLATE="${SNAP_CONFIG_TEMPLATE:-/etc/snap/snapd.yaml}"
CONFIG="${SNAP_CONFIG:-/run/snap/snapd.yaml}"
PASSWORD_FILE="${SNAP_API_PASSWORD_FILE:-}"
DAEMON="${SNAP_DAEMON:-/usr/local/sbin/snapteld}"
# The password's one reader, installed beside this script (images/snap/snap-password.awk).
PASSWORD_AWK="$(dirname "$0")/snap-password.awk"
# The literal placeholder of the task templates (compiler/facts.ts SNAP.nodeNamePlaceholder).
# shellcheck disable=SC2016
PLACEHOLDER='${NODE_NAME}'
# The literal placeholder of the config template (compiler/facts.ts SNAP.apiPasswordPlaceholder).
# shellcheck disable=SC2016
PASSWORD_PLACEHOLDER='${SNAP_API_PASSWORD}'

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

if [ -z "${NODE_NAME:-}" ]; then
  die "NODE_NAME is not set: give the container the node's name (env NODE_NAME from fieldRef spec.nodeName)"
fi
# A Kubernetes node name is a DNS subdomain: nothing that could break the YAML it is put into.
case "$NODE_NAME" in
  *[!A-Za-z0-9.-]*) die "NODE_NAME '$NODE_NAME' is not a valid node name (letters, digits, '.' and '-')" ;;
esac
[ -d "$TEMPLATE_DIR" ] || die "task template directory $TEMPLATE_DIR does not exist"
if [ ! -d "$TASK_DIR" ] || [ ! -w "$TASK_DIR" ]; then
  die "task directory $TASK_DIR does not exist or is not writable"
fi

# Tasks of an earlier start (the emptyDir outlives container restarts) are replaced, not kept.
rm -f "$TASK_DIR"/*.yaml "$TASK_DIR"/*.yml "$TASK_DIR"/*.json

count=0
for template in "$TEMPLATE_DIR"/*; do
  [ -f "$template" ] || continue
  name=${template##*/}
  case "$name" in
    *.yaml | *.yml | *.json) ;;
    *)
      log "skipping $name: snapteld loads only .yaml, .yml and .json tasks"
      continue
      ;;
  esac
  # Literal replacement (no regular expression, no escape processing of the value).
  NODE_NAME="$NODE_NAME" PLACEHOLDER="$PLACEHOLDER" awk '
    {
      line = $0; out = ""
      while ((i = index(line, ENVIRON["PLACEHOLDER"])) > 0) {
        out = out substr(line, 1, i - 1) ENVIRON["NODE_NAME"]
        line = substr(line, i + length(ENVIRON["PLACEHOLDER"]))
      }
      print out line
    }' "$template" >"$TASK_DIR/$name"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || die "no task template (*.yaml, *.yml, *.json) in $TEMPLATE_DIR"
log "rendered $count task(s) for node $NODE_NAME into $TASK_DIR"

# The daemon must read the rendered config: given the template instead, snapteld would take the
# placeholder itself for the password; given none, its own default file.
daemon_config=""
next_is_config=""
for arg in "$@"; do
  if [ -n "$next_is_config" ]; then
    daemon_config=$arg
    next_is_config=""
    continue
  fi
  case "$arg" in
    --config | -config) next_is_config=1 ;;
    --config=* | -config=*) daemon_config=${arg#*=} ;;
  esac
done
if [ "$daemon_config" != "$CONFIG" ]; then
  die "the daemon's arguments name ${daemon_config:+the config }${daemon_config:-no config}, not the rendered $CONFIG (SNAP_CONFIG): run it with --config $CONFIG"
fi

if [ ! -f "$CONFIG_TEMPLATE" ] || [ ! -r "$CONFIG_TEMPLATE" ]; then
  die "config template $CONFIG_TEMPLATE (SNAP_CONFIG_TEMPLATE) does not exist or is not readable"
fi
CONFIG_DIR=$(dirname "$CONFIG")
if [ ! -d "$CONFIG_DIR" ] || [ ! -w "$CONFIG_DIR" ]; then
  die "the directory $CONFIG_DIR of the rendered config $CONFIG (SNAP_CONFIG) does not exist or is not writable"
fi

# Prints the template with every placeholder replaced by the password, escaped for a YAML
# double-quoted scalar (snap-password.awk, beside this script: its exit statuses are the ones
# handled below).
render_password() {
  LC_ALL=C PASSWORD_FILE="$PASSWORD_FILE" PLACEHOLDER="$PASSWORD_PLACEHOLDER" awk -f "$PASSWORD_AWK" "$CONFIG_TEMPLATE"
}

# Writes the config (mode 0600 by the umask, which stays the rendering's: a subshell) through a
# temporary file in the same directory, renamed over the config once complete.
render_config() (
  umask 077
  tmp=$(mktemp "$CONFIG_DIR/.${CONFIG##*/}.XXXXXX") || die "cannot create a file in $CONFIG_DIR"
  if grep -qF -e "$PASSWORD_PLACEHOLDER" "$CONFIG_TEMPLATE"; then
    if [ -z "$PASSWORD_FILE" ]; then
      rm -f "$tmp"
      die "$CONFIG_TEMPLATE sets the REST API password to $PASSWORD_PLACEHOLDER but SNAP_API_PASSWORD_FILE is not set: mount the password's Secret and name its file in SNAP_API_PASSWORD_FILE"
    fi
    what="the REST API password file $PASSWORD_FILE (SNAP_API_PASSWORD_FILE)"
    if [ ! -f "$PASSWORD_FILE" ] || [ ! -r "$PASSWORD_FILE" ]; then
      rm -f "$tmp"
      die "$what does not exist or is not readable"
    fi
    # awk cannot see a NUL byte portably: counted here, the password going to wc only
    if [ "$(tr -d '\000' <"$PASSWORD_FILE" | wc -c)" -ne "$(wc -c <"$PASSWORD_FILE")" ]; then
      rm -f "$tmp"
      die "$what holds a NUL byte: a password is one line of text"
    fi
    status=0
    render_password >"$tmp" || status=$?
    if [ "$status" -ne 0 ]; then
      rm -f "$tmp"
      case "$status" in
        3) die "$what cannot be read" ;;
        4) die "$what is empty" ;;
        5) die "$what holds a line break or a control character (one trailing newline is allowed): a password is one line of text" ;;
        *) die "rendering $CONFIG_TEMPLATE failed (awk exited $status)" ;;
      esac
    fi
    mv -f "$tmp" "$CONFIG"
    log "rendered $CONFIG from $CONFIG_TEMPLATE with the REST API password from $PASSWORD_FILE"
  else
    cat "$CONFIG_TEMPLATE" >"$tmp" || {
      rm -f "$tmp"
      die "cannot copy $CONFIG_TEMPLATE to $CONFIG"
    }
    mv -f "$tmp" "$CONFIG"
    log "warning: $CONFIG_TEMPLATE has no $PASSWORD_PLACEHOLDER: copied as it is to $CONFIG; the REST API has no authentication${PASSWORD_FILE:+ (SNAP_API_PASSWORD_FILE $PASSWORD_FILE is not used)}"
  fi
)
render_config

exec "$DAEMON" "$@"
