/**
 * Run-time validation of a StackConfig: the shape and formats of every setting, then the rules
 * that tie settings together. Every problem names the environment and the path.
 */
import type {
  CollectorConfig,
  Credential,
  CredentialId,
  GrafanaConfig,
  HindsightConfig,
  HostMount,
  ImageRef,
  Storage,
  InClusterInfluxDB,
  InfluxDBStorage,
  GrafanaTls,
  NetworkPolicyConfig,
  NodeLabel,
  GitOpsConfig,
  RemoteInfluxDB,
  Resources,
  StackConfig,
} from './types.ts';
import {
  all,
  arrayOf,
  duration,
  integer,
  object,
  oneOf,
  optional,
  recordOf,
  rule,
  tagged,
  text,
  type Issue,
} from './checks.ts';
import { METRIC_FAMILIES } from '../collector/metrics.ts';
import { cidrContains } from './cidr.ts';
import { QUANTITY, quantityValue } from './quantity.ts';

// Formats, as Kubernetes and InfluxDB define them.
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const ABSOLUTE_PATH = /^\/([^\0]*[^/\0])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const IMAGE_REPOSITORY = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HTTP_URL = /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[^\s?#]*)?$/;
const GIT_URL = /^(https:\/\/|ssh:\/\/)[^\s]+$/;
const GIT_BRANCH = /^(?!\/|.*\.\.|.*\/\/|.*\/$)[A-Za-z0-9._/-]{1,200}$/;
const IPV4_CIDR = /^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\/([0-9]|[12][0-9]|3[0-2])$/;

const dnsLabel = text(DNS_LABEL, 'a DNS label (lower-case letters, digits and "-", at most 63)');
const dnsSubdomain = text(DNS_SUBDOMAIN, 'a DNS subdomain name (lower-case letters, digits, "-" and ".")');
const quantity = text(QUANTITY, 'a Kubernetes quantity like 250m or 512Mi');
const absolutePath = text(ABSOLUTE_PATH, 'an absolute path without a trailing "/"');
const port = integer(1, 65535);
const ipv4Cidr = text(IPV4_CIDR, 'an IPv4 CIDR like 10.0.0.0/16');
const nonEmptyText = text(/^\S(.*\S)?$/, 'a non-empty text without leading or trailing blanks');

const labelMap = recordOf(
  text(LABEL_KEY, 'a label key (name or prefix/name)'),
  text(LABEL_VALUE, 'a label value (at most 63 letters, digits, "-", "_", ".")'),
);

const resources = object<Resources>({
  requests: object<Resources['requests']>({ cpu: quantity, memory: quantity }),
  limits: object<Resources['limits']>({ cpu: optional(quantity), memory: quantity }),
});

const imageRef = object<ImageRef>({
  repository: text(IMAGE_REPOSITORY, 'an image repository like ghcr.io/org/name (lower case)'),
  tag: all(
    text(IMAGE_TAG, 'an image tag'),
    rule((tag) => (tag === 'latest' ? '"latest" names no build: pin a version' : undefined)),
  ),
  digest: optional(text(DIGEST, 'a digest like sha256:<64 hex digits>')),
});

const storage = tagged('type', {
  emptyDir: object<Extract<Storage, { type: 'emptyDir' }>>({ type: oneOf(['emptyDir']), sizeLimit: quantity }),
  hostPath: object<Extract<Storage, { type: 'hostPath' }>>({ type: oneOf(['hostPath']), path: absolutePath }),
});

const influxdbStorage = tagged('type', {
  emptyDir: object<Extract<InfluxDBStorage, { type: 'emptyDir' }>>({ type: oneOf(['emptyDir']), sizeLimit: quantity }),
  localVolume: object<Extract<InfluxDBStorage, { type: 'localVolume' }>>({ type: oneOf(['localVolume']), path: absolutePath, capacity: quantity }),
});

const hostMount = object<HostMount>({ hostPath: absolutePath, mountPath: absolutePath });

const collector = object<CollectorConfig>({
  interval: duration(1, 3600),
  families: arrayOf(oneOf(Object.keys(METRIC_FAMILIES)), { nonEmpty: true }),
  hostMounts: object<CollectorConfig['hostMounts']>({ proc: hostMount, dev: hostMount, sys: hostMount }),
  maxFailures: all(
    integer(-1, 1_000_000),
    rule((n) => (n === 0 ? 'must be -1 (never disable the task) or at least 1' : undefined)),
  ),
  logLevel: oneOf(['debug', 'info', 'warning', 'error', 'fatal']),
  hekaPort: port,
  snapApiPort: port,
  snapControlPort: port,
  resources: object<CollectorConfig['resources']>({ snap: resources, hindsight: resources }),
  hindsightState: storage,
});

const MiB = 1024 * 1024;

const hindsight = object<HindsightConfig>({
  output: object<HindsightConfig['output']>({
    batchMaxPoints: integer(1, 100_000),
    batchMaxBytes: integer(1024, 16 * MiB),
    flushInterval: duration(1, 300),
    timeout: duration(1, 120),
    maxRetryBackoff: duration(1, 3600),
    precision: oneOf(['ns', 'u', 'ms', 's']),
    staticTags: recordOf(text(IDENTIFIER, 'a tag key (letters, digits, "_")'), nonEmptyText),
    excludedTags: arrayOf(text(IDENTIFIER, 'a tag key (letters, digits, "_")')),
  }),
  limits: object<HindsightConfig['limits']>({
    memoryLimit: integer(MiB, 256 * MiB),
    instructionLimit: integer(0, 1e9),
    outputLimit: integer(1024, 64 * MiB),
  }),
  queueFileSize: integer(MiB, 1024 * MiB),
});

const nodeLabel = object<NodeLabel>({
  key: text(LABEL_KEY, 'a label key'),
  value: text(LABEL_VALUE, 'a label value'),
});

const influxCommon = {
  database: text(IDENTIFIER, 'a database name (letters, digits, "_")'),
  retentionPolicy: text(IDENTIFIER, 'a retention policy name (letters, digits, "_")'),
};

const influxdb = tagged('enabled', {
  true: object<InClusterInfluxDB>({
    enabled: oneOf([true]),
    ...influxCommon,
    retention: duration(3600),
    nodeSelector: nodeLabel,
    storage: influxdbStorage,
    servicePort: port,
    resources,
  }),
  false: object<RemoteInfluxDB>({
    enabled: oneOf([false]),
    ...influxCommon,
    url: text(HTTP_URL, 'an http(s) URL like https://influxdb.example.net:8086'),
  }),
});

const grafanaTls = tagged('enabled', {
  false: object<Extract<GrafanaTls, { enabled: false }>>({ enabled: oneOf([false]) }),
  true: object<Extract<GrafanaTls, { enabled: true }>>({ enabled: oneOf([true]), secret: dnsSubdomain, domain: dnsSubdomain }),
});

const grafana = object<GrafanaConfig>({
  nodePort: integer(30000, 32767),
  nodeSelector: optional(nodeLabel),
  tls: grafanaTls,
  resources,
  sqliteSizeLimit: quantity,
  datasource: object<GrafanaConfig['datasource']>({
    name: nonEmptyText,
    uid: text(/^[A-Za-z0-9_-]{1,40}$/, 'a Grafana uid (at most 40 letters, digits, "-", "_")'),
  }),
});

const credential = object<Credential>({
  username: text(IDENTIFIER, 'a user name (letters, digits, "_")'),
  secret: dnsSubdomain,
  key: text(SECRET_KEY, 'a Secret key (letters, digits, "-", "_", ".")'),
});

const networkRanges = {
  nodeCidrs: arrayOf(ipv4Cidr, { nonEmpty: true }),
  podCidrs: arrayOf(ipv4Cidr),
  grafanaClientCidrs: arrayOf(ipv4Cidr, { nonEmpty: true }),
};

const stack = object<StackConfig>({
  namespaces: object<StackConfig['namespaces']>({ collector: dnsLabel, backend: dnsLabel }),
  labels: labelMap,
  images: object<StackConfig['images']>({ snap: imageRef, hindsight: imageRef, influxdb: imageRef, grafana: imageRef }),
  collector,
  hindsight,
  influxdb,
  grafana,
  credentials: object<StackConfig['credentials']>({
    influxdbAdmin: credential,
    influxdbWriter: credential,
    influxdbReader: credential,
    grafanaAdmin: credential,
    snapApi: credential,
  }),
  networkPolicy: tagged('type', {
    placeholder: object<Extract<NetworkPolicyConfig, { type: 'placeholder' }>>({
      type: oneOf(['placeholder']),
      ...networkRanges,
      acceptedBecause: optional(nonEmptyText),
    }),
    cluster: object<Extract<NetworkPolicyConfig, { type: 'cluster' }>>({ type: oneOf(['cluster']), ...networkRanges, reason: nonEmptyText }),
  }),
  gitops: object<GitOpsConfig>({
    engine: oneOf(['flux', 'argocd']),
    repository: object<GitOpsConfig['repository']>({
      url: text(GIT_URL, 'a Git URL like https://github.com/org/repo.git or ssh://git@host/org/repo.git'),
      branch: text(GIT_BRANCH, 'a branch name'),
    }),
    interval: duration(10, 86_400),
    healthCheckTimeout: duration(30, 86_400),
  }),
});

/** Rules across settings, checked once every setting has the right shape. */
function crossChecks(config: StackConfig, at: string): Issue[] {
  const issues: Issue[] = [];
  const add = (path: string, message: string) => issues.push({ path: `${at}.${path}`, message });
  const { collector: c, hindsight: h } = config;

  const nodePorts = [['hekaPort', c.hekaPort], ['snapApiPort', c.snapApiPort], ['snapControlPort', c.snapControlPort]] as const;
  nodePorts.forEach(([name, value], i) => {
    const earlier = nodePorts.slice(0, i).find(([, other]) => other === value);
    if (earlier) add(`collector.${name}`, `${value} is also collector.${earlier[0]}: both listen on the node, they must differ`);
  });
  // lua_sandbox counts garbage against memoryLimit and the heap peaks at a few times what is
  // live; the plugin caps its batch at the same sixteenth (lua/output/influxdb_out.lua), and
  // test/lua/memory_probe.lua measures the peak.
  if (h.output.batchMaxBytes * 16 > h.limits.memoryLimit) {
    add(
      'hindsight.output.batchMaxBytes',
      `${h.output.batchMaxBytes} is more than a sixteenth of hindsight.limits.memoryLimit (${h.limits.memoryLimit}): the sandbox counts garbage too, so a batch must stay well inside its memory`,
    );
  }
  for (const tag of Object.keys(h.output.staticTags)) {
    if (h.output.excludedTags.includes(tag)) add(`hindsight.output.staticTags.${tag}`, 'is also listed in hindsight.output.excludedTags');
  }
  const influxUsers: CredentialId[] = ['influxdbAdmin', 'influxdbWriter', 'influxdbReader'];
  influxUsers.forEach((id, index) => {
    const twin = influxUsers.slice(0, index).find((other) => config.credentials[other].username === config.credentials[id].username);
    if (twin) add(`credentials.${id}.username`, `${JSON.stringify(config.credentials[id].username)} is also credentials.${twin}.username: each InfluxDB user has its own rights`);
  });
  const credentialIds = Object.keys(config.credentials) as CredentialId[];
  credentialIds.forEach((id, index) => {
    const { secret, key } = config.credentials[id];
    const sameKey = (other: CredentialId) => config.credentials[other].secret === secret && config.credentials[other].key === key;
    const twin = credentialIds.slice(0, index).find(sameKey);
    if (twin) add(`credentials.${id}.key`, `Secret ${secret} key ${key} is also credentials.${twin}'s: two credentials would share one password`);
  });
  if (config.namespaces.collector === config.namespaces.backend) {
    add('namespaces.backend', `"${config.namespaces.backend}" is also namespaces.collector: the collector's namespace must allow privileged pods, the backend's enforces restricted`);
  }
  const tls = config.grafana.tls;
  if (tls.enabled && Object.values(config.credentials).some((credential) => credential.secret === tls.secret)) {
    add('grafana.tls.secret', `"${tls.secret}" also holds a password: the certificate has a Secret of its own`);
  }
  const { nodeCidrs, podCidrs, grafanaClientCidrs } = config.networkPolicy;
  podCidrs.forEach((pods, index) => {
    const nodes = nodeCidrs.findIndex((node) => cidrContains(pods, node));
    if (nodes >= 0) {
      add(`networkPolicy.podCidrs[${index}]`, `"${pods}" contains networkPolicy.nodeCidrs[${nodes}] "${nodeCidrs[nodes]}": InfluxDB's policy could not tell the collector's node addresses from any pod's`);
    }
    const clients = grafanaClientCidrs.findIndex((client) => cidrContains(pods, client));
    if (clients >= 0) {
      add(`networkPolicy.podCidrs[${index}]`, `"${pods}" contains networkPolicy.grafanaClientCidrs[${clients}] "${grafanaClientCidrs[clients]}": Grafana's policy would admit no client there`);
    }
  });
  // Hindsight keeps the queue file being written and removes a full one only once every reader is
  // past it: an emptyDir smaller than two files gets the pod evicted before the backlog can drain.
  if (c.hindsightState.type === 'emptyDir' && quantityValue(c.hindsightState.sizeLimit) < 2 * h.queueFileSize) {
    add(
      'collector.hindsightState.sizeLimit',
      `${c.hindsightState.sizeLimit} is less than two of hindsight.queueFileSize (${h.queueFileSize} bytes): Hindsight needs room for the file it writes and a full one`,
    );
  }
  if (config.influxdb.enabled && config.influxdb.servicePort === c.hekaPort) {
    add('influxdb.servicePort', `${config.influxdb.servicePort} is also collector.hekaPort`);
  }
  return issues;
}

/** The environment's own file's networkPolicy, whatever its shape. */
function ownNetworkPolicy(overrides: unknown): Record<string, unknown> {
  const policy = typeof overrides === 'object' && overrides !== null ? (overrides as { networkPolicy?: unknown }).networkPolicy : undefined;
  return typeof policy === 'object' && policy !== null ? (policy as Record<string, unknown>) : {};
}

const sameRanges = (a: NetworkPolicyConfig, b: NetworkPolicyConfig) =>
  (['nodeCidrs', 'podCidrs', 'grafanaClientCidrs'] as const).every((key) => JSON.stringify([...a[key]].sort()) === JSON.stringify([...b[key]].sort()));

/**
 * What only an environment must say, on top of a valid StackConfig: the namespaces are the
 * defaults' (not overridable); placeholder network ranges are accepted in the environment's own
 * file (an acceptance in config/stack.ts would accept them everywhere), and never relabelled as
 * the cluster's.
 */
export function environmentIssues(overrides: unknown, defaults: StackConfig, config: StackConfig, at: string): Issue[] {
  const issues: Issue[] = [];
  if (typeof overrides === 'object' && overrides !== null && 'namespaces' in overrides) {
    issues.push({ path: `${at}.namespaces`, message: 'the namespaces are the same in every environment: set them in config/stack.ts only' });
  }
  const policy = config.networkPolicy;
  const placeholders = defaults.networkPolicy.type === 'placeholder' ? defaults.networkPolicy : undefined;
  if (policy.type === 'placeholder' && !ownNetworkPolicy(overrides).acceptedBecause) {
    issues.push({
      path: `${at}.networkPolicy`,
      message:
        `the network ranges are placeholders (nodes ${policy.nodeCidrs.join(', ')}, pods ${policy.podCidrs.join(', ') || 'none'}, ` +
        `Grafana clients ${policy.grafanaClientCidrs.join(', ')}), which may admit hosts and pods that are not the stack's: ` +
        `state this cluster's ranges in config/environments/${at}.ts (networkPolicy: { type: 'cluster', ..., reason }) ` +
        `or say there why the placeholders are right for it (networkPolicy: { acceptedBecause: '...' })`,
    });
  }
  if (policy.type === 'cluster' && placeholders && sameRanges(policy, placeholders)) {
    issues.push({
      path: `${at}.networkPolicy.type`,
      message: "these are config/stack.ts's placeholder ranges, not ones stated for this cluster: keep type 'placeholder' with acceptedBecause, or state the cluster's",
    });
  }
  return issues;
}

/** All problems of `value` as a StackConfig; `at` is the environment's name, the first path element. */
export function validateStack(value: unknown, at: string): Issue[] {
  const shapeIssues = stack(value, at);
  if (shapeIssues.length > 0) return shapeIssues;
  return crossChecks(value as StackConfig, at);
}

