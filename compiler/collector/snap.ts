/**
 * Snap's files: the snapd config and the task manifest, built from the typed metric list.
 * The task is a template: the snap image's entrypoint replaces the node-name placeholder with
 * the node's name (from the downward API) before snapd loads it.
 */
import type { CollectorConfig, SnapLogLevel } from '../config/types.ts';
import { SNAP } from '../facts.ts';
import { METRIC_FAMILIES, snapNamespace } from './metrics.ts';
import { DoubleQuoted, generatedYaml } from '../render/yaml.ts';

const LOG_LEVELS: Record<SnapLogLevel, number> = { debug: 1, info: 2, warning: 3, error: 4, fatal: 5 };

/** The ConfigMap keys of Snap's files. */
export const SNAP_FILES = { config: 'snapd.yaml', task: 'task.yaml' } as const;

/** Snap's publisher takes a host NAME: an IP address makes it fail to parse its URL and panic. */
export const HEKA_HOST = 'localhost';

/** The address Snap's REST API and control port bind to: the pod shares the node's network, so not the node's address. */
export const SNAP_API_ADDRESS = '127.0.0.1';

export function snapdConfig(collector: CollectorConfig) {
  return {
    log_level: LOG_LEVELS[collector.logLevel],
    control: {
      // Plugins come from the image, tasks from the rendered templates; both load at start.
      auto_discover_path: `${SNAP.pluginDir}:${SNAP.taskDir}`,
      // Plugins are built from source into the image and are not signed.
      plugin_trust_level: 0,
      plugin_load_timeout: 15,
      // A plugin that crashes (the Heka publisher does when Hindsight is away) is restarted forever.
      max_plugin_restarts: -1,
      listen_addr: SNAP_API_ADDRESS,
      listen_port: collector.snapControlPort,
    },
    // Loopback only, and a password (from the snap-api Secret, filled in by the entrypoint): the
    // API loads plugins, which run with the container's privileges.
    restapi: {
      enable: true,
      https: false,
      addr: SNAP_API_ADDRESS,
      port: collector.snapApiPort,
      rest_auth: true,
      // double-quoted: what the entrypoint puts in its place is escaped for exactly that
      rest_auth_password: new DoubleQuoted(SNAP.apiPasswordPlaceholder),
    },
    tribe: { enable: false },
  };
}

/** Plugin settings, keyed by namespace prefix, pointing each plugin at the host's mounts. */
function pluginConfig(collector: CollectorConfig): Record<string, Record<string, string>> {
  const config: Record<string, Record<string, string>> = {};
  for (const name of collector.families) {
    const family = METRIC_FAMILIES[name];
    const settings: Record<string, string> = {};
    for (const [setting, mount] of Object.entries(family.hostPaths)) {
      settings[setting] = collector.hostMounts[mount].mountPath;
    }
    config['/' + family.prefix.join('/')] = settings;
  }
  return config;
}

function collectedMetrics(collector: CollectorConfig): Record<string, Record<string, never>> {
  const metrics: Record<string, Record<string, never>> = {};
  for (const name of collector.families) {
    const family = METRIC_FAMILIES[name];
    for (const metric of family.metrics) metrics[snapNamespace(family, metric)] = {};
  }
  return metrics;
}

/**
 * The tag every metric carries: the node's name, filled in at container start. Double-quoted, so
 * a node named `1234` or `true` stays a string once filled in.
 */
function nodeTags(collector: CollectorConfig): Record<string, Record<string, DoubleQuoted>> {
  const prefixes = new Set(collector.families.map((name) => '/' + METRIC_FAMILIES[name].prefix[0]));
  return Object.fromEntries([...prefixes].map((prefix) => [prefix, { [SNAP.nodeTag]: new DoubleQuoted(SNAP.nodeNamePlaceholder) }]));
}

export function snapTask(collector: CollectorConfig) {
  return {
    version: 1,
    schedule: { type: 'simple', interval: collector.interval },
    'max-failures': collector.maxFailures,
    workflow: {
      collect: {
        metrics: collectedMetrics(collector),
        config: pluginConfig(collector),
        tags: nodeTags(collector),
        publish: [{ plugin_name: 'heka', config: { host: HEKA_HOST, port: collector.hekaPort } }],
      },
    },
  };
}

/** The snap-config ConfigMap's data: the daemon's config and the task template, rendered. */
export function snapFiles(collector: CollectorConfig): Record<string, string> {
  return {
    [SNAP_FILES.config]: generatedYaml(snapdConfig(collector)),
    [SNAP_FILES.task]: generatedYaml(snapTask(collector)),
  };
}
