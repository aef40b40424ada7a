/**
 * Checks on the compiled objects of one environment that what must agree does agree, read from
 * what actually ships (the rendered files in the ConfigMaps, the Services, the pod specs):
 * - Snap publishes to a host NAME on the port Hindsight's heka_tcp input listens on;
 * - Hindsight's InfluxDB URL and Grafana's datasource URL are the InfluxDB Service's name and
 *   port when InfluxDB runs in the cluster, and the Service targets a port the pod has;
 * - every ConfigMap a pod mounts exists with the keys it mounts, the output plugin's Lua file is
 *   among them, and every Secret key a pod reads is one a credential declares (whose presence
 *   in the encrypted files secrets/files.ts checks);
 * - no password is in an environment variable, and every pod mounts the file of every
 *   credential its component uses;
 * - every pod has the runtime's seccomp filter, and every pod outside the collector's namespace
 *   is selected by a NetworkPolicy of its namespace.
 */
import type { V1PodSpec } from '@kubernetes/client-node';
import type { StackConfig } from './config/types.ts';
import type { Issue } from './config/checks.ts';
import { CREDENTIAL_USES, requiredSecrets, secretId, usedCredentials } from './secrets/credentials.ts';
import type { CredentialId } from './config/types.ts';
import type { Manifest } from './kube/objects.ts';
import { CREDENTIALS, LABELS, NAMES } from './facts.ts';
import { parseYamlDocuments } from './render/yaml.ts';
import { PLUGINS } from './collector/hindsight.ts';
import { SNAP_FILES } from './collector/snap.ts';

const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|\[?[0-9a-f:]+\]?)$/i;

/** An object by kind and name, and by namespace when one is given. */
function find<K extends Manifest['kind']>(objects: readonly Manifest[], kind: K, name: string, namespace?: string) {
  const matches = (object: Manifest) =>
    object.kind === kind && object.metadata.name === name && (namespace === undefined || object.metadata.namespace === namespace);
  return objects.find(matches) as Extract<Manifest, { kind: K }> | undefined;
}

/** A `key = value` of a rendered Lua cfg (strings and numbers are all the checks need). */
function luaSetting(cfg: string | undefined, key: string): string | undefined {
  const match = new RegExp(`^${key} = (?:"((?:[^"\\\\]|\\\\.)*)"|([-0-9.]+))$`, 'm').exec(cfg ?? '');
  return match ? (match[1] ?? match[2]) : undefined;
}

interface Pod {
  owner: string;
  namespace: string;
  labels: Record<string, string>;
  spec: V1PodSpec;
}

function pods(objects: readonly Manifest[]): Pod[] {
  return objects.flatMap((object): Pod[] =>
    (object.kind === 'DaemonSet' || object.kind === 'Deployment') && object.spec?.template.spec
      ? [{ owner: `${object.kind}/${object.metadata.name}`, namespace: object.metadata.namespace ?? '', labels: object.spec.template.metadata?.labels ?? {}, spec: object.spec.template.spec }]
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
  // the Service as emitted, wherever it is: its own name and namespace make the host
  const expected = `http://${service.metadata.name}.${service.metadata.namespace}.svc:${servicePort.port}`;
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
  for (const { owner, namespace, spec: pod } of pods(objects)) {
    for (const volume of pod.volumes ?? []) {
      if (!volume.configMap) continue;
      const configMap = find(objects, 'ConfigMap', volume.configMap.name!, namespace);
      if (!configMap) {
        issues.push({ path: `${at}.objects`, message: `${owner} mounts ConfigMap ${volume.configMap.name}, which is not emitted in namespace ${namespace}` });
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

/** Every Secret key a pod mounts is one the config requires in the pod's namespace; none is in the environment. */
function secretKeyIssues(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  const required = requiredSecrets(config);
  const issues: Issue[] = [];
  for (const { owner, namespace, spec: pod } of pods(objects)) {
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      for (const source of container.envFrom ?? []) {
        if (source.secretRef) issues.push({ path: `${at}.credentials`, message: `${owner} container ${container.name} loads Secret ${source.secretRef.name} into its environment: Secrets are mounted as files` });
      }
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref) issues.push({ path: `${at}.credentials`, message: `${owner} container ${container.name} reads key ${ref.key} of Secret ${ref.name} into its environment: Secrets are mounted as files` });
      }
    }
    for (const volume of pod.volumes ?? []) {
      const sources = volume.secret
        ? [{ name: volume.secret.secretName, items: volume.secret.items }]
        : (volume.projected?.sources ?? []).flatMap((source) => (source.secret ? [source.secret] : []));
      for (const secret of sources) {
        if (!secret.items?.length) {
          issues.push({ path: `${at}.credentials`, message: `${owner} volume ${volume.name} mounts every key of Secret ${secret.name}: name the keys it needs` });
        }
        for (const item of secret.items ?? []) {
          if (!required.get(secretId({ namespace, name: secret.name! }))?.keys.has(item.key)) {
            issues.push({ path: `${at}.credentials`, message: `${owner} volume ${volume.name} mounts key ${item.key} of Secret ${namespace}/${secret.name}, which no credential declares` });
          }
        }
      }
    }
  }
  return issues;
}

/** The credentials whose password files the pod's containers see at CREDENTIALS.dir (a mount of a projected volume). */
function mountedCredentials(config: StackConfig, pod: V1PodSpec): Set<CredentialId> {
  const mounted = new Set<CredentialId>();
  const volumes = new Map((pod.volumes ?? []).map((volume) => [volume.name, volume]));
  const containers = [...pod.containers, ...(pod.initContainers ?? [])];
  const sources = containers
    .flatMap((container) => (container.volumeMounts ?? []).filter((mount) => mount.mountPath === CREDENTIALS.dir))
    .flatMap((mount) => volumes.get(mount.name)?.projected?.sources ?? []);
  for (const source of sources) {
    for (const id of usedCredentials(config)) {
      const { secret, key } = config.credentials[id];
      const projectsTheFile = source.secret?.items?.some((item) => item.key === key && item.path === CREDENTIAL_USES[id].file);
      if (source.secret?.name === secret && projectsTheFile) mounted.add(id);
    }
  }
  return mounted;
}

/** Every workload mounts the password file of every credential its component uses. */
function passwordFileIssues(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  const issues: Issue[] = [];
  for (const { owner, labels, spec } of pods(objects)) {
    const component = labels[LABELS.name];
    const mounted = mountedCredentials(config, spec);
    for (const id of usedCredentials(config)) {
      if (CREDENTIAL_USES[id].consumers(config).some((consumer) => consumer === component) && !mounted.has(id)) {
        issues.push({ path: `${at}.credentials.${id}`, message: `${owner} does not mount the password file of ${id} (${CREDENTIAL_USES[id].purpose})` });
      }
    }
  }
  return issues;
}

/** Pod Security `restricted` asks for the runtime's seccomp filter; the backend's pods each have a NetworkPolicy. */
function isolationIssues(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  const issues: Issue[] = [];
  const policies = objects.filter((object) => object.kind === 'NetworkPolicy');
  for (const { owner, namespace, labels, spec } of pods(objects)) {
    if (spec.securityContext?.seccompProfile?.type !== 'RuntimeDefault') {
      issues.push({ path: `${at}.objects`, message: `${owner} has no seccompProfile RuntimeDefault` });
    }
    if (namespace === config.namespaces.collector) continue;
    const selected = policies.some(
      (policy) =>
        policy.metadata.namespace === namespace &&
        Object.entries(policy.spec?.podSelector?.matchLabels ?? {}).every(([key, value]) => labels[key] === value),
    );
    if (!selected) issues.push({ path: `${at}.networkPolicy`, message: `${owner} is selected by no NetworkPolicy in namespace ${namespace}` });
  }
  return issues;
}

export function crossCheck(objects: readonly Manifest[], config: StackConfig, at: string): Issue[] {
  return [
    ...hekaPortIssues(objects, at),
    ...influxdbUrlIssues(objects, config, at),
    ...configMapIssues(objects, at),
    ...secretKeyIssues(objects, config, at),
    ...passwordFileIssues(objects, config, at),
    ...isolationIssues(objects, config, at),
  ];
}
