/**
 * The cross-reference checks read what actually ships: each is shown to pass on the compiled
 * stack and to fail when one side of the agreement is changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stack } from '../../config/stack.ts';
import type { StackConfig } from '../../compiler/config/types.ts';
import { buildStack } from '../../compiler/stack.ts';
import { crossCheck } from '../../compiler/crosscheck.ts';
import type { Manifest } from '../../compiler/kube/objects.ts';
import type { BuildInputs } from '../../compiler/inputs.ts';
import { formatIssue } from '../../compiler/config/checks.ts';

const INPUTS: BuildInputs = { lua: new Map([['output/influxdb_out.lua', '-- the output plugin\n']]), secrets: new Map() };

function compiled(config: StackConfig = stack): Manifest[] {
  return structuredClone(buildStack(config, INPUTS));
}

function configMapData(objects: Manifest[], name: string): Record<string, string> {
  const object = objects.find((candidate) => candidate.kind === 'ConfigMap' && candidate.metadata.name === name);
  assert.ok(object?.kind === 'ConfigMap' && object.data);
  return object.data;
}

const check = (objects: Manifest[], config: StackConfig = stack) => crossCheck(objects, config, 'dev').map(formatIssue);

test('the shipped stack agrees with itself', () => {
  assert.deepEqual(check(compiled()), []);
});

test('Snap publishing to another port than Hindsight listens on is caught', () => {
  const objects = compiled();
  const data = configMapData(objects, 'snap-config');
  data['task.yaml'] = data['task.yaml']!.replace('port: 5565', 'port: 5566');
  assert.deepEqual(check(objects), ['dev.collector.hekaPort: Snap publishes to port 5566 but Hindsight listens on 5565']);
});

test('Snap publishing to an IP address instead of a host name is caught', () => {
  const objects = compiled();
  const data = configMapData(objects, 'snap-config');
  data['task.yaml'] = data['task.yaml']!.replace('host: localhost', 'host: 127.0.0.1');
  assert.deepEqual(check(objects), ["dev.collector: Snap's Heka publisher needs a host name, not the address 127.0.0.1"]);
});

test('Hindsight or Grafana pointing elsewhere than the InfluxDB Service is caught', () => {
  const objects = compiled();
  const hindsight = configMapData(objects, 'hindsight-config');
  hindsight['influxdb.cfg'] = hindsight['influxdb.cfg']!.replace(':8086"', ':8087"');
  const grafana = configMapData(objects, 'grafana-provisioning');
  grafana['datasource.yaml'] = grafana['datasource.yaml']!.replace('influxdb.stacklight.svc', 'influxdb.default.svc');
  assert.deepEqual(check(objects), [
    'dev.hindsight: Hindsight writes to http://influxdb.stacklight.svc:8087, not to the InfluxDB Service http://influxdb.stacklight.svc:8086',
    "dev.grafana.datasource: Grafana's datasource reads http://influxdb.default.svc:8086, not the InfluxDB Service http://influxdb.stacklight.svc:8086",
  ]);
});

test('a Service port change follows through to both URLs', () => {
  const config = structuredClone(stack) as StackConfig;
  if (!config.influxdb.enabled) throw new Error('the shipped config runs InfluxDB in the cluster');
  config.influxdb.servicePort = 18086;
  const objects = compiled(config);
  assert.deepEqual(check(objects, config), []);
  assert.match(configMapData(objects, 'hindsight-config')['influxdb.cfg']!, /influxdb_url = "http:\/\/influxdb\.stacklight\.svc:18086"/);
});

test('a Service targeting a port the pod lacks is caught', () => {
  const objects = compiled();
  const service = objects.find((object) => object.kind === 'Service' && object.metadata.name === 'influxdb');
  assert.ok(service?.kind === 'Service');
  service.spec!.ports![0]!.targetPort = 'api';
  assert.deepEqual(check(objects), ['dev.influxdb.servicePort: the Service targets port api, which the InfluxDB pod does not have']);
});

test('a mounted ConfigMap key that does not exist, and a missing output plugin, are caught', () => {
  const objects = crossCheckInputsWithoutPlugin();
  assert.deepEqual(check(objects), ['dev.hindsight: the output plugin lua/output/influxdb_out.lua is not in lua/']);
  const withPlugin = compiled();
  delete configMapData(withPlugin, 'hindsight-config')['heka_tcp.cfg'];
  assert.deepEqual(check(withPlugin), [
    'dev.collector: the Snap task or the heka_tcp input cfg is missing',
    'dev.objects: DaemonSet/collector mounts key heka_tcp.cfg that ConfigMap hindsight-config lacks',
  ]);
});

function workload(objects: Manifest[], kind: 'Deployment' | 'DaemonSet', name: string) {
  const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  assert.ok(object?.kind === 'Deployment' || object?.kind === 'DaemonSet');
  return object.spec!.template.spec!;
}

test('a password in an environment variable is caught, even from its Secret', () => {
  const objects = compiled();
  workload(objects, 'Deployment', 'grafana').containers[0]!.env!.push({ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'grafana-admin', key: 'password' } } });
  assert.deepEqual(check(objects), ['dev.credentials: Deployment/grafana container grafana reads key password of Secret grafana-admin into its environment: Secrets are mounted as files']);
});

test('a pod mounting a Secret key no credential declares, a whole Secret, or a Secret of another namespace is caught', () => {
  const objects = compiled();
  const collector = workload(objects, 'DaemonSet', 'collector');
  const volume = collector.volumes!.find((v) => v.name === 'hindsight-credentials')!;
  const source = volume.projected!.sources![0]!.secret!;
  source.items![0]!.key = 'token';
  assert.deepEqual(check(objects), [
    'dev.credentials: DaemonSet/collector volume hindsight-credentials mounts key token of Secret stacklight-collector/influxdb-writer, which no credential declares',
    'dev.credentials.influxdbWriter: DaemonSet/collector does not mount the password file of influxdbWriter (InfluxDB WRITE-only user, for Hindsight)',
  ]);
  const grafana = compiled();
  workload(grafana, 'Deployment', 'grafana').volumes!.push({ name: 'everything', secret: { secretName: 'grafana-admin' } });
  assert.deepEqual(check(grafana), ['dev.credentials: Deployment/grafana volume everything mounts every key of Secret grafana-admin: name the keys it needs']);
  // snap-api exists in the collector's namespace only
  const stray = compiled();
  workload(stray, 'Deployment', 'grafana').volumes!.push({ name: 'snap', secret: { secretName: 'snap-api', items: [{ key: 'password', path: 'p' }] } });
  assert.deepEqual(check(stray), ['dev.credentials: Deployment/grafana volume snap mounts key password of Secret stacklight/snap-api, which no credential declares']);
});

test('a workload that stops mounting a password file it needs is caught', () => {
  for (const [kind, name, credential] of [
    ['DaemonSet', 'collector', 'snapApi'],
    ['Deployment', 'influxdb', 'influxdbAdmin'],
    ['Deployment', 'grafana', 'influxdbReader'],
  ] as const) {
    const objects = compiled();
    const { secret } = stack.credentials[credential];
    for (const volume of workload(objects, kind, name).volumes!) {
      if (volume.projected) volume.projected.sources = volume.projected.sources!.filter((source) => source.secret?.name !== secret);
    }
    const issues = check(objects);
    assert.equal(issues.length, 1, issues.join('\n'));
    assert.match(issues[0]!, new RegExp(`^dev\\.credentials\\.${credential}: ${kind}/${name} does not mount the password file of ${credential} `));
  }
});

test('a pod without the runtime seccomp filter, or a backend pod without a NetworkPolicy, is caught', () => {
  for (const [kind, name] of [['DaemonSet', 'collector'], ['Deployment', 'influxdb'], ['Deployment', 'grafana']] as const) {
    const objects = compiled();
    delete workload(objects, kind, name).securityContext!.seccompProfile;
    assert.deepEqual(check(objects), [`dev.objects: ${kind}/${name} has no seccompProfile RuntimeDefault`]);
  }
  for (const name of ['influxdb', 'grafana']) {
    const objects = compiled().filter((object) => !(object.kind === 'NetworkPolicy' && object.metadata.name === `${name}-ingress`));
    assert.deepEqual(check(objects), [`dev.networkPolicy: Deployment/${name} is selected by no NetworkPolicy in namespace stacklight`]);
  }
});

function crossCheckInputsWithoutPlugin(): Manifest[] {
  return structuredClone(buildStack(stack, { lua: new Map(), secrets: new Map() }));
}

test('a Secret loaded whole into the environment is caught', () => {
  const objects = compiled();
  workload(objects, 'Deployment', 'grafana').containers[0]!.envFrom = [{ secretRef: { name: 'grafana-admin' } }];
  assert.deepEqual(check(objects), ['dev.credentials: Deployment/grafana container grafana loads Secret grafana-admin into its environment: Secrets are mounted as files']);
});

test('a password volume that no container mounts where the files are read is caught', () => {
  const objects = compiled();
  const snap = workload(objects, 'DaemonSet', 'collector').containers.find((container) => container.name === 'snap')!;
  snap.volumeMounts = snap.volumeMounts!.filter((mount) => mount.name !== 'snap-credentials');
  assert.deepEqual(check(objects), [
    "dev.credentials.snapApi: DaemonSet/collector does not mount the password file of snapApi (Snap's REST API (who may load plugins and tasks))",
  ]);
});

test('a ConfigMap or Service in the other namespace is caught', () => {
  const objects = compiled();
  const config = objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === 'influxdb-config')!;
  config.metadata.namespace = 'stacklight-collector';
  assert.deepEqual(check(objects), ['dev.objects: Deployment/influxdb mounts ConfigMap influxdb-config, which is not emitted in namespace stacklight']);
  const moved = compiled();
  moved.find((object) => object.kind === 'Service' && object.metadata.name === 'influxdb')!.metadata.namespace = 'elsewhere';
  assert.deepEqual(check(moved), [
    'dev.hindsight: Hindsight writes to http://influxdb.stacklight.svc:8086, not to the InfluxDB Service http://influxdb.elsewhere.svc:8086',
    "dev.grafana.datasource: Grafana's datasource reads http://influxdb.stacklight.svc:8086, not the InfluxDB Service http://influxdb.elsewhere.svc:8086",
  ]);
});
