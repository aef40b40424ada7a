#!/bin/sh
# snap-entrypoint: renders the task templates for this node, then runs the Snap daemon.
#
# Every *.yaml, *.yml or *.json file of the template directory (the snap-config ConfigMap) is
# copied into the task directory (an emptyDir on snapteld's auto_discover_path) with each
# "${NODE_NAME}" replaced by $NODE_NAME (the downward API's spec.nodeName), so every metric is
# tagged with the node it was collected on. Tasks rendered by an earlier start of the container
# are removed first. Then the daemon is exec'd with the container's arguments.
#
# Paths default to compiler/facts.ts (SNAP.taskTemplateDir, SNAP.taskDir); the variables exist
# so the script can be tested without the image.
set -eu

PROG=snap-entrypoint
TEMPLATE_DIR="${SNAP_TASK_TEMPLATE_DIR:-/etc/snap/task-templates}"
TASK_DIR="${SNAP_TASK_DIR:-/var/lib/snap/tasks}"
DAEMON="${SNAP_DAEMON:-/usr/local/sbin/snapteld}"
# The literal placeholder of the task templates (compiler/facts.ts SNAP.nodeNamePlaceholder).
# shellcheck disable=SC2016
PLACEHOLDER='${NODE_NAME}'

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

exec "$DAEMON" "$@"
