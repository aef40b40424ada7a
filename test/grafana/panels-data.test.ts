/**
 * Proof that every panel shows data: a real InfluxDB filled by the real pipeline (mock Snap
 * publisher → Hindsight stage with the plugins of lua/ → influxd), then every variable query and
 * every panel query of every provisioned dashboard run as Grafana runs them ($timeFilter,
 * $__interval and the variables substituted), as the READ-only user Grafana uses.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stack } from '../../config/stack.ts';
import { fillFromPipeline, runDashboards, valuedPoints, type DashboardRun, type FilledRange } from '../support/dashboard-data.ts';

let filled: FilledRange;
let runs: DashboardRun[];

before(async () => {
  filled = await fillFromPipeline(stack);
  runs = await runDashboards(filled.pipeline.influx, stack, filled);
});
after(async () => {
  await filled?.pipeline.dispose();
});

test('every variable query returns values', () => {
  for (const run of runs) {
    for (const [name, variable] of Object.entries(run.variables)) {
      assert.ok(variable.values.length > 0, `${run.title}: variable ${name} has no value (${variable.query})`);
    }
  }
  const node = runs.find((run) => run.uid === 'stacklight-node')!;
  assert.deepEqual(node.variables.host!.values, [filled.nodes[0]]);
});

test('every panel query runs without error and returns data', () => {
  const panels = runs.flatMap((run) => run.panels);
  assert.ok(panels.length >= 30, `only ${panels.length} panel queries`);
  for (const result of panels) {
    const where = `${result.query.dashboard} / ${result.query.panel} / ${result.query.refId}`;
    assert.equal(result.error, undefined, `${where}: ${result.error}\n${result.text}`);
    assert.ok(valuedPoints(result) > 0, `${where} returned no data:\n${result.text}`);
  }
});

test('the Node dashboard shows only the selected host; the Cluster dashboard shows every node', () => {
  const node = runs.find((run) => run.uid === 'stacklight-node')!;
  for (const result of node.panels) {
    assert.ok(result.text.includes(`"hostname" =~ /^${filled.nodes[0]}$/`), result.text);
  }
  const cluster = runs.find((run) => run.uid === 'stacklight-cluster')!;
  const cpu = cluster.panels.find((result) => result.query.panel === 'CPU busy')!;
  assert.deepEqual(cpu.series.map((s) => s.tags?.hostname).sort(), [...filled.nodes].sort());
});
