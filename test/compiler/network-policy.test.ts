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
  config.networkPolicy = { nodeCidrs: ['10.0.0.0/8', '192.168.1.0/24'], podCidrs: ['10.244.0.0/16', '172.16.0.0/12', '10.96.0.0/12'] };
  const policy = buildStack(config, INPUTS).find((object) => object.kind === 'NetworkPolicy');
  assert.ok(policy?.kind === 'NetworkPolicy');
  const [rule] = policy.spec.ingress!;
  assert.deepEqual(rule!.ports, [{ protocol: 'TCP', port: 8086 }]);
  assert.deepEqual(rule!.from!.map((peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] ?? peer.ipBlock), [
    'collector',
    'grafana',
    { cidr: '10.0.0.0/8', except: ['10.244.0.0/16', '10.96.0.0/12'] },
    { cidr: '192.168.1.0/24' },
  ]);
});
