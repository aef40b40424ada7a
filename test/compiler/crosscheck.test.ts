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

test('a pod reading a Secret key no credential declares is caught', () => {
  const objects = compiled();
  const grafana = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'grafana');
  assert.ok(grafana?.kind === 'Deployment');
  grafana.spec!.template.spec!.containers[0]!.env!.push({ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'grafana-admin', key: 'token' } } });
  assert.deepEqual(check(objects), ['dev.credentials: Deployment/grafana container grafana reads key token of Secret grafana-admin, which no credential declares']);
});

test('a pod mounting a Secret key no credential declares, or a whole Secret, is caught', () => {
  const objects = compiled();
  const collector = objects.find((object) => object.kind === 'DaemonSet');
  assert.ok(collector?.kind === 'DaemonSet');
  const volume = collector.spec!.template.spec!.volumes!.find((v) => v.secret)!;
  volume.secret!.items![0]!.key = 'token';
  assert.deepEqual(check(objects), [`dev.credentials: DaemonSet/collector volume ${volume.name} mounts key token of Secret ${volume.secret!.secretName}, which no credential declares`]);
  delete volume.secret!.items;
  assert.deepEqual(check(objects), [`dev.credentials: DaemonSet/collector volume ${volume.name} mounts every key of Secret ${volume.secret!.secretName}: name the keys it needs`]);
});

function crossCheckInputsWithoutPlugin(): Manifest[] {
  return structuredClone(buildStack(stack, { lua: new Map(), secrets: new Map() }));
}
