/**
 * Bad configs, each with the exact error an operator sees: the environment, the path, and what
 * is wrong. Each case changes one thing in the shipped config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stack } from '../../config/stack.ts';
import { overrides as devOverrides } from '../../config/environments/dev.ts';
import { overrides as prodOverrides } from '../../config/environments/prod.ts';
import { ConfigError, resolveConfig, type RawConfig } from '../../compiler/config/load.ts';
import { formatIssue } from '../../compiler/config/checks.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests write values of the wrong type on purpose, anywhere
type Mutable = Record<string, any>;

function shipped(): { defaults: Mutable; dev: Mutable; prod: Mutable } {
  return {
    defaults: structuredClone(stack) as Mutable,
    dev: structuredClone(devOverrides) as Mutable,
    prod: structuredClone(prodOverrides) as Mutable,
  };
}

function errorsOf(change: (config: ReturnType<typeof shipped>) => void): string[] {
  const config = shipped();
  change(config);
  const raw: RawConfig = {
    defaults: config.defaults,
    environments: [
      { name: 'dev', overrides: config.dev },
      { name: 'prod', overrides: config.prod },
    ],
  };
  try {
    resolveConfig(raw);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, `unexpected error ${String(error)}`);
    return error.issues.map(formatIssue);
  }
}

const PLACEHOLDERS_REFUSED = (environment: string) =>
  `${environment}.networkPolicy: the network ranges are placeholders (nodes 10.0.0.0/8, pods 10.244.0.0/16, Grafana clients 10.0.0.0/8), ` +
  "which may admit hosts and pods that are not the stack's: state this cluster's ranges in " +
  `config/environments/${environment}.ts (networkPolicy: { type: 'cluster', ..., reason }) ` +
  "or say there why the placeholders are right for it (networkPolicy: { acceptedBecause: '...' })";

const CASES: [string, (config: ReturnType<typeof shipped>) => void, string][] = [
  [
    'retention that is not a duration',
    (c) => (c.prod.influxdb.retention = '3x'),
    'prod.influxdb.retention: "3x" is not a duration like 30d (a whole number and one of s, m, h, d, w)',
  ],
  [
    'retention shorter than InfluxDB allows',
    (c) => (c.prod.influxdb.retention = '30m'),
    'prod.influxdb.retention: 30m is shorter than the minimum of 3600s',
  ],
  ['NodePort outside the range', (c) => (c.prod.grafana = { nodePort: 8080 }), 'prod.grafana.nodePort: 8080 is outside 30000-32767'],
  [
    'unknown metric family',
    (c) => (c.dev.collector.families = ['cpu', 'cpux']),
    'dev.collector.families[1]: "cpux" is not one of cpu, filesystem, disk, interface, load, meminfo, processes, swap, smart',
  ],
  ['no metric family', (c) => (c.dev.collector.families = []), 'dev.collector.families: must not be empty'],
  ['a family listed twice', (c) => (c.dev.collector.families = ['cpu', 'load', 'cpu']), 'dev.collector.families[2]: "cpu" is listed twice'],
  [
    'an image tagged latest',
    (c) => (c.prod.images = { grafana: { tag: 'latest' } }),
    'prod.images.grafana.tag: "latest" names no build: pin a version',
  ],
  [
    'a malformed digest',
    (c) => (c.prod.images = { snap: { digest: 'sha256:abc' } }),
    'prod.images.snap.digest: "sha256:abc" is not a digest like sha256:<64 hex digits>',
  ],
  [
    'a misspelled setting',
    (c) => (c.dev.influxdb.storag = { type: 'emptyDir', sizeLimit: '1Gi' }),
    'dev.influxdb.storag: unknown setting (known here: enabled, database, retentionPolicy, retention, nodeSelector, storage, servicePort, resources)',
  ],
  [
    'Snap API and Heka on one port',
    (c) => (c.dev.collector.hekaPort = 8181),
    'dev.collector.snapApiPort: 8181 is also collector.hekaPort: both listen on the node, they must differ',
  ],
  [
    'Snap control and API on one port',
    (c) => (c.prod.collector = { ...c.prod.collector, snapControlPort: 8181 }),
    'prod.collector.snapControlPort: 8181 is also collector.snapApiPort: both listen on the node, they must differ',
  ],
  [
    'a Hindsight state emptyDir too small for two queue files',
    (c) => (c.dev.collector.hindsightState = { type: 'emptyDir', sizeLimit: '300Mi' }),
    'dev.collector.hindsightState.sizeLimit: 300Mi is less than two of hindsight.queueFileSize (268435456 bytes): Hindsight needs room for the file it writes and a full one',
  ],
  [
    'a batch too large for the sandbox',
    (c) => (c.dev.hindsight.output.batchMaxBytes = 1024 * 1024),
    "dev.hindsight.output.batchMaxBytes: 1048576 is more than a sixteenth of hindsight.limits.memoryLimit (8388608): the sandbox counts garbage too, so a batch must stay well inside its memory",
  ],
  [
    'a remote InfluxDB with a non-HTTP URL',
    (c) => (c.prod.influxdb = { enabled: false, database: 'metrics', retentionPolicy: 'autogen', url: 'ftp://influx.example.net' }),
    'prod.influxdb.url: "ftp://influx.example.net" is not an http(s) URL like https://influxdb.example.net:8086',
  ],
  [
    'a health check timeout below Flux\'s floor',
    (c) => (c.dev.gitops = { healthCheckTimeout: '10s' }),
    'dev.gitops.healthCheckTimeout: 10s is shorter than the minimum of 30s',
  ],
  ['a remote InfluxDB without URL', (c) => (c.prod.influxdb = { enabled: false, database: 'metrics', retentionPolicy: 'autogen' }), 'prod.influxdb.url: is missing'],
  [
    'a namespace that is not a DNS label',
    (c) => (c.defaults.namespaces.backend = 'Stack_Light'),
    'defaults.namespaces.backend: "Stack_Light" is not a DNS label (lower-case letters, digits and "-", at most 63)',
  ],
  [
    'one namespace for the collector and the backend',
    (c) => (c.defaults.namespaces.collector = c.defaults.namespaces.backend),
    'defaults.namespaces.backend: "stacklight" is also namespaces.collector: the collector\'s namespace must allow privileged pods, the backend\'s enforces restricted',
  ],
  [
    'an environment moving the namespaces',
    (c) => (c.dev.namespaces = { backend: 'stacklight-dev' }),
    'dev.namespaces: the namespaces are the same in every environment: set them in config/stack.ts only',
  ],
  [
    "an environment on the placeholder network ranges that does not say it accepts them",
    (c) => delete c.dev.networkPolicy,
    PLACEHOLDERS_REFUSED('dev'),
  ],
  [
    'the placeholder ranges accepted in config/stack.ts instead of the environment\'s own file',
    (c) => {
      delete c.dev.networkPolicy;
      c.defaults.networkPolicy.acceptedBecause = 'everywhere';
    },
    PLACEHOLDERS_REFUSED('dev'),
  ],
  [
    "the placeholder ranges relabelled as the cluster's",
    (c) => (c.prod.networkPolicy = { type: 'cluster', nodeCidrs: ['10.0.0.0/8'], podCidrs: ['10.244.0.0/16'], grafanaClientCidrs: ['10.0.0.0/8'], reason: 'they are' }),
    "prod.networkPolicy.type: these are config/stack.ts's placeholder ranges, not ones stated for this cluster: keep type 'placeholder' with acceptedBecause, or state the cluster's",
  ],
  [
    "a cluster's own ranges without the reason they are right",
    (c) => (c.prod.networkPolicy = { type: 'cluster', nodeCidrs: ['192.168.0.0/24'], podCidrs: [], grafanaClientCidrs: ['192.168.10.0/24'] }),
    'prod.networkPolicy.reason: is missing',
  ],
  [
    'no Grafana client range',
    (c) => (c.prod.networkPolicy = { grafanaClientCidrs: [] }),
    'prod.networkPolicy.grafanaClientCidrs: must not be empty',
  ],
  [
    'Grafana TLS without the name its certificate is for',
    (c) => (c.prod.grafana = { tls: { enabled: true, secret: 'grafana-tls' } }),
    'prod.grafana.tls.domain: is missing',
  ],
  [
    'Grafana TLS in a password\'s Secret',
    (c) => (c.prod.grafana = { tls: { enabled: true, secret: 'grafana-admin', domain: 'grafana.example.net' } }),
    'prod.grafana.tls.secret: "grafana-admin" also holds a password: the certificate has a Secret of its own',
  ],
  [
    'a Grafana node label that is not one',
    (c) => (c.prod.grafana = { nodeSelector: { key: 'not a key', value: 'true' } }),
    'prod.grafana.nodeSelector.key: "not a key" is not a label key',
  ],
  [
    'a local volume without its capacity',
    (c) => (c.defaults.influxdb.storage = { type: 'localVolume', path: '/var/lib/stacklight/influxdb' }),
    'defaults.influxdb.storage.capacity: is missing',
  ],
  [
    'InfluxDB on a host path (Pod Security restricted refuses it)',
    (c) => (c.prod.influxdb.storage = { type: 'hostPath', path: '/var/lib/stacklight/influxdb' }),
    'prod.influxdb.storage.type: "hostPath" is not one of emptyDir, localVolume',
  ],
  [
    'a memory limit that is not a quantity',
    (c) => (c.dev.collector.resources = { snap: { limits: { memory: '1 GB' } } }),
    'dev.collector.resources.snap.limits.memory: "1 GB" is not a Kubernetes quantity like 250m or 512Mi',
  ],
  [
    'two InfluxDB users with one name',
    (c) => (c.dev.credentials = { influxdbReader: { username: 'hindsight' } }),
    'dev.credentials.influxdbReader.username: "hindsight" is also credentials.influxdbWriter.username: each InfluxDB user has its own rights',
  ],
  [
    'two credentials sharing one Secret key',
    (c) => (c.dev.credentials = { influxdbReader: { secret: 'influxdb-writer' } }),
    "dev.credentials.influxdbReader.key: Secret influxdb-writer key password is also credentials.influxdbWriter's: two credentials would share one password",
  ],
  [
    'a relative mount path',
    (c) => (c.dev.collector.hostMounts = { proc: { mountPath: 'host/proc' } }),
    'dev.collector.hostMounts.proc.mountPath: "host/proc" is not an absolute path without a trailing "/"',
  ],
  [
    'max-failures of zero',
    (c) => (c.dev.collector.maxFailures = 0),
    'dev.collector.maxFailures: must be -1 (never disable the task) or at least 1',
  ],
  [
    'a node CIDR with a bad prefix',
    (c) => (c.prod.networkPolicy = { nodeCidrs: ['10.0.0.0/33'] }),
    'prod.networkPolicy.nodeCidrs[0]: "10.0.0.0/33" is not an IPv4 CIDR like 10.0.0.0/16',
  ],
  [
    'a pod network that contains the nodes',
    (c) => (c.prod.networkPolicy = { nodeCidrs: ['192.168.0.0/24', '10.1.0.0/16'], podCidrs: ['10.0.0.0/8'], grafanaClientCidrs: ['192.168.10.0/24'] }),
    'prod.networkPolicy.podCidrs[0]: "10.0.0.0/8" contains networkPolicy.nodeCidrs[1] "10.1.0.0/16": InfluxDB\'s policy could not tell the collector\'s node addresses from any pod\'s',
  ],
  [
    "a pod network that contains Grafana's clients",
    (c) => (c.prod.networkPolicy = { podCidrs: ['10.0.0.0/8'], nodeCidrs: ['192.168.0.0/24'] }),
    `prod.networkPolicy.podCidrs[0]: "10.0.0.0/8" contains networkPolicy.grafanaClientCidrs[0] "10.0.0.0/8": Grafana's policy would admit no client there`,
  ],
  [
    'a collection interval without unit',
    (c) => (c.dev.collector.interval = '10'),
    'dev.collector.interval: "10" is not a duration like 30d (a whole number and one of s, m, h, d, w)',
  ],
  ['a setting missing from the defaults', (c) => delete c.defaults.grafana.nodePort, 'defaults.grafana.nodePort: is missing'],
  [
    'a static tag that is also excluded',
    (c) => (c.prod.hindsight.output.staticTags = { plugin_running_on: 'x' }),
    'prod.hindsight.output.staticTags.plugin_running_on: is also listed in hindsight.output.excludedTags',
  ],
  [
    'a precision InfluxDB does not know',
    (c) => (c.prod.hindsight.output.precision = 'us'),
    'prod.hindsight.output.precision: "us" is not one of ns, u, ms, s',
  ],
];

test('the shipped config resolves without a problem', () => {
  assert.deepEqual(errorsOf(() => undefined), []);
});

for (const [name, change, expected] of CASES) {
  test(`bad config: ${name}`, () => {
    assert.deepEqual(errorsOf(change), [expected]);
  });
}

test('problems in several environments are all reported at once', () => {
  const errors = errorsOf((c) => {
    c.dev.grafana = { nodePort: 1 };
    c.prod.influxdb.retention = 'forever';
  });
  assert.deepEqual(errors, [
    'dev.grafana.nodePort: 1 is outside 30000-32767',
    'prod.influxdb.retention: "forever" is not a duration like 30d (a whole number and one of s, m, h, d, w)',
  ]);
});

test('switching InfluxDB to remote replaces the in-cluster settings instead of merging them', () => {
  const config = shipped();
  config.prod.influxdb = { enabled: false, url: 'https://influxdb.example.net:8086/', database: 'metrics', retentionPolicy: 'autogen' };
  const resolved = resolveConfig({ defaults: config.defaults, environments: [{ name: 'prod', overrides: config.prod }] });
  assert.deepEqual(resolved.environments[0]!.config.influxdb, config.prod.influxdb);
});
