/**
 * InfluxDB's NetworkPolicy: the collector (hostNetwork, so from node addresses) and Grafana get
 * in, and a broad node range does not let every pod in: pod ranges inside it are excepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stack } from '../../config/stack.ts';
import type { StackConfig } from '../../compiler/config/types.ts';
import { cidrContains } from '../../compiler/config/cidr.ts';
import { buildStack } from '../../compiler/stack.ts';
import type { BuildInputs } from '../../compiler/inputs.ts';

const INPUTS: BuildInputs = { lua: new Map([['output/influxdb_out.lua', '-- the output plugin\n']]), secrets: new Map() };

test('cidrContains: nested ranges, equal ranges, disjoint ranges, host bits', () => {
  const cases: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.244.0.0/16', true],
    ['10.244.0.0/16', '10.0.0.0/8', false],
    ['10.0.0.0/8', '10.0.0.0/8', true],
    ['10.0.0.0/8', '11.0.0.0/16', false],
    ['192.168.0.0/16', '192.168.255.0/24', true],
    ['192.168.1.0/24', '192.168.2.0/24', false],
    ['0.0.0.0/0', '203.0.113.7/32', true],
    ['10.1.2.3/16', '10.1.200.0/24', true],
    ['172.16.0.0/12', '172.32.0.0/16', false],
  ];
  for (const [outer, inner, expected] of cases) assert.equal(cidrContains(outer, inner), expected, `${outer} ⊇ ${inner}`);
});

test('the policy admits the collector and Grafana by label, and node ranges without the pod ranges inside them', () => {
  const config = structuredClone(stack) as StackConfig;
  config.networkPolicy = {
    type: 'cluster',
    nodeCidrs: ['10.0.0.0/8', '192.168.1.0/24'],
    podCidrs: ['10.244.0.0/16', '172.16.0.0/16', '10.96.0.0/12'],
    grafanaClientCidrs: ['172.16.0.0/12', '192.168.10.0/24'],
    reason: 'test',
  };
  const policies = buildStack(config, INPUTS).filter((object) => object.kind === 'NetworkPolicy');
  const influxdb = policies.find((policy) => policy.metadata.name === 'influxdb-ingress');
  assert.ok(influxdb?.kind === 'NetworkPolicy');
  const [rule] = influxdb.spec.ingress!;
  assert.deepEqual(rule!.ports, [{ protocol: 'TCP', port: 8086 }]);
  assert.deepEqual(
    rule!.from!.map((peer) => (peer.podSelector ? [peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'], peer.podSelector.matchLabels?.['app.kubernetes.io/name']] : peer.ipBlock)),
    [
      ['stacklight-collector', 'collector'],
      ['stacklight', 'grafana'],
      { cidr: '10.0.0.0/8', except: ['10.244.0.0/16', '10.96.0.0/12'] },
      { cidr: '192.168.1.0/24' },
    ],
  );
  // Grafana: its port, from the client ranges only (a pod range inside one is excepted), no pod by label
  const grafana = policies.find((policy) => policy.metadata.name === 'grafana-ingress');
  assert.ok(grafana?.kind === 'NetworkPolicy');
  assert.deepEqual(grafana.spec.podSelector?.matchLabels?.['app.kubernetes.io/name'], 'grafana');
  assert.deepEqual(grafana.spec.ingress, [
    {
      from: [{ ipBlock: { cidr: '172.16.0.0/12', except: ['172.16.0.0/16'] } }, { ipBlock: { cidr: '192.168.10.0/24' } }],
      ports: [{ protocol: 'TCP', port: 3000 }],
    },
  ]);
});

test("Grafana's NodePort keeps the client's address, so its policy's client ranges are the clients'", () => {
  const service = buildStack(stack, INPUTS).find((object) => object.kind === 'Service' && object.metadata.name === 'grafana');
  assert.ok(service?.kind === 'Service');
  assert.equal(service.spec?.type, 'NodePort');
  assert.equal(service.spec?.externalTrafficPolicy, 'Local');
});

test('Grafana runs anywhere unless pinned to the nodes its NodePort is reached at', () => {
  const podSpec = (config: StackConfig) => {
    const deployment = buildStack(config, INPUTS).find((object) => object.kind === 'Deployment' && object.metadata.name === 'grafana');
    assert.ok(deployment?.kind === 'Deployment');
    return deployment.spec!.template.spec!;
  };
  assert.equal(podSpec(stack).nodeSelector, undefined);
  const pinned = structuredClone(stack) as StackConfig;
  pinned.grafana.nodeSelector = { key: 'stacklight.ms/grafana', value: 'true' };
  assert.deepEqual(podSpec(pinned).nodeSelector, { 'stacklight.ms/grafana': 'true' });
});
