/**
 * Checks on the compiled objects of one environment that what must agree does agree, read from
 * what actually ships (the rendered files in the ConfigMaps, the Services, the pod specs):
 * - Snap publishes to a host NAME on the port Hindsight's heka_tcp input listens on;
 * - Hindsight's InfluxDB URL and Grafana's datasource URL are the InfluxDB Service's name and
 *   port when InfluxDB runs in the cluster, and the Service targets a port the pod has;
 * - every ConfigMap a pod mounts exists with the keys it mounts, the output plugin's Lua file is
 *   among them, and every Secret key a pod reads is one a credential declares (whose presence
 *   in the encrypted files secrets/files.ts checks).
 */
import type { V1PodSpec } from '@kubernetes/client-node';
import type { StackConfig } from './config/types.ts';
import type { Issue } from './config/checks.ts';
import { requiredSecrets } from './secrets/credentials.ts';
import type { Manifest } from './kube/objects.ts';
import { NAMES } from './facts.ts';
import { parseYamlDocuments } from './render/yaml.ts';
import { influxdbServiceHost } from './influxdb/endpoint.ts';
import { PLUGINS } from './collector/hindsight.ts';
import { SNAP_FILES } from './collector/snap.ts';

const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|\[?[0-9a-f:]+\]?)$/i;

function find<K extends Manifest['kind']>(objects: readonly Manifest[], kind: K, name: string) {
  return objects.find((object) => object.kind === kind && object.metadata.name === name) as Extract<Manifest, { kind: K }> | undefined;
}

/** A `key = value` of a rendered Lua cfg (strings and numbers are all the checks need). */
function luaSetting(cfg: string | undefined, key: string): string | undefined {
  const match = new RegExp(`^${key} = (?:"((?:[^"\\\\]|\\\\.)*)"|([-0-9.]+))$`, 'm').exec(cfg ?? '');
  return match ? (match[1] ?? match[2]) : undefined;
}

function podSpecs(objects: readonly Manifest[]): [string, V1PodSpec][] {
  return objects.flatMap((object): [string, V1PodSpec][] =>
    (object.kind === 'DaemonSet' || object.kind === 'Deployment') && object.spec?.template.spec
      ? [[`${object.kind}/${object.metadata.name}`, object.spec.template.spec]]
      : [],
  );
}

function hekaPortIssues(objects: readonly Manifest[], at: string): Issue[] {
  const task = find(objects, 'ConfigMap', NAMES.snapConfig)?.data?.[SNAP_FILES.task];
  const input = find(objects, 'ConfigMap', NAMES.hindsightConfig)?.data?.[`${PLUGINS.input.name}.cfg`];
  if (!task || !input) return [{ path: `${at}.collector`, message: 'the Snap task or the heka_tcp input cfg is missing' }];
  const [parsed] = parseYamlDocuments(task, 'task.yaml') as [{ workflow: { collect: { publish: { config: { host: string; port: number } }[] } } }];
  const publish = parsed.workflow.collect.publish[0]!.config;
  const issues: Issue[] = [];
  if (String(publish.port) !== luaSetting(input, 'port')) {
    issues.push({ path: `${at}.collector.hekaPort`, message: `Snap publishes to port ${publish.port} but Hindsight listens on ${luaSetting(input, 'port')}` });
  }
  if (IP_ADDRESS.test(publish.host)) {
    issues.push({ path: `${at}.collector`, message: `Snap's Heka publisher needs a host name, not the address ${publish.host}` });
  }
  return issues;
}

function influxdbUrlIssues(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  if (!config.influxdb.enabled) return [];
  const service = find(objects, 'Service', NAMES.influxdb);
  const deployment = find(objects, 'Deployment', NAMES.influxdb);
  const servicePort = service?.spec?.ports?.[0];
  if (!servicePort || !deployment) return [{ path: `${at}.influxdb`, message: 'the InfluxDB Service or Deployment is missing' }];
  const issues: Issue[] = [];
  const podPorts = deployment.spec?.template.spec?.containers.flatMap((container) => container.ports ?? []) ?? [];
  if (!podPorts.some((port) => port.name === servicePort.targetPort || port.containerPort === servicePort.targetPort)) {
    issues.push({ path: `${at}.influxdb.servicePort`, message: `the Service targets port ${String(servicePort.targetPort)}, which the InfluxDB pod does not have` });
  }
  const expected = `http://${influxdbServiceHost(config)}:${servicePort.port}`;
  const output = find(objects, 'ConfigMap', NAMES.hindsightConfig)?.data?.[`${PLUGINS.output.name}.cfg`];
  const hindsightUrl = luaSetting(output, 'influxdb_url');
  if (hindsightUrl !== expected) {
    issues.push({ path: `${at}.hindsight`, message: `Hindsight writes to ${String(hindsightUrl)}, not to the InfluxDB Service ${expected}` });
  }
  const provisioning = Object.values(find(objects, 'ConfigMap', NAMES.grafanaProvisioning)?.data ?? {});
  const datasourceUrls = provisioning.flatMap((file) =>
    (parseYamlDocuments(file, 'datasource') as { datasources?: { url?: string }[] }[]).flatMap((doc) => doc.datasources ?? []).map((ds) => ds.url),
  );
  if (datasourceUrls.length === 0 || datasourceUrls.some((url) => url !== expected)) {
    issues.push({ path: `${at}.grafana.datasource`, message: `Grafana's datasource reads ${datasourceUrls.join(', ') || 'nothing'}, not the InfluxDB Service ${expected}` });
  }
  return issues;
}

function configMapIssues(objects: readonly Manifest[], at: string): Issue[] {
  const issues: Issue[] = [];
  for (const [owner, pod] of podSpecs(objects)) {
    for (const volume of pod.volumes ?? []) {
      if (!volume.configMap) continue;
      const configMap = find(objects, 'ConfigMap', volume.configMap.name!);
      if (!configMap) {
        issues.push({ path: `${at}.objects`, message: `${owner} mounts ConfigMap ${volume.configMap.name}, which is not emitted` });
        continue;
      }
      for (const item of volume.configMap.items ?? []) {
        if (!(item.key in (configMap.data ?? {}))) issues.push({ path: `${at}.objects`, message: `${owner} mounts key ${item.key} that ConfigMap ${configMap.metadata.name} lacks` });
      }
    }
  }
  const hindsight = find(objects, 'DaemonSet', NAMES.collector)?.spec?.template.spec?.volumes?.find((volume) => volume.configMap?.name === NAMES.hindsightConfig);
  const pluginPath = `run/output/${PLUGINS.output.filename}`;
  if (!hindsight?.configMap?.items?.some((item) => item.path === pluginPath)) {
    issues.push({ path: `${at}.hindsight`, message: `the output plugin lua/output/${PLUGINS.output.filename} is not in lua/` });
  }
  return issues;
}

/** Every Secret key a pod reads is one the config's credentials require (and so one the files are checked for). */
function secretKeyIssues(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  const required = requiredSecrets(config);
  const issues: Issue[] = [];
  for (const [owner, pod] of podSpecs(objects)) {
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref && !required.get(ref.name!)?.has(ref.key)) {
          issues.push({ path: `${at}.credentials`, message: `${owner} container ${container.name} reads key ${ref.key} of Secret ${ref.name}, which no credential declares` });
        }
      }
    }
    for (const volume of pod.volumes ?? []) {
      const secret = volume.secret;
      if (!secret) continue;
      if (!secret.items?.length) {
        issues.push({ path: `${at}.credentials`, message: `${owner} volume ${volume.name} mounts every key of Secret ${secret.secretName}: name the keys it needs` });
      }
      for (const item of secret.items ?? []) {
        if (!required.get(secret.secretName!)?.has(item.key)) {
          issues.push({ path: `${at}.credentials`, message: `${owner} volume ${volume.name} mounts key ${item.key} of Secret ${secret.secretName}, which no credential declares` });
        }
      }
    }
  }
  return issues;
}

export function crossCheck(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  return [
    ...hekaPortIssues(objects, at),
    ...influxdbUrlIssues(objects, config, at),
    ...configMapIssues(objects, at),
    ...secretKeyIssues(objects, config, at),
  ];
}
