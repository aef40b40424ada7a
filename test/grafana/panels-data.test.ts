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
import { tableFrame, transformTable, type Transformation } from '../support/grafana-tables.ts';

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

test('every table panel shows one row per node with every column filled, after its transformations', () => {
  const tables = runs.flatMap((run) =>
    (run.dashboard.panels as { type: string; title: string; transformations?: Transformation[] }[])
      .filter((panel) => panel.type === 'table')
      .map((panel) => ({
        run,
        panel,
        frames: run.panels.filter((result) => result.query.panel === panel.title).map((result) => tableFrame(result.series)),
      })),
  );
  assert.ok(tables.length >= 2, `only ${tables.length} table panels`);
  for (const { run, panel, frames } of tables) {
    const table = transformTable(frames, panel.transformations ?? []);
    const where = `${run.title} / ${panel.title}`;
    assert.ok(!table.fields.includes('Time'), `${where}: Time is a column`);
    const nodeColumn = table.fields.findIndex((field) => field === 'node' || field === 'hostname');
    assert.ok(nodeColumn >= 0, `${where}: no node column in ${table.fields.join(', ')}`);
    const nodes = table.rows.map((row) => row[nodeColumn]);
    assert.equal(new Set(nodes).size, nodes.length, `${where}: a node has several rows:\n${JSON.stringify(table)}`);
    for (const row of table.rows) assert.ok(row.every((cell) => cell !== null), `${where}: an empty cell in ${JSON.stringify(row)} (${table.fields.join(', ')})`);
    if (run.uid === 'stacklight-cluster') assert.deepEqual([...nodes].sort(), [...filled.nodes].sort(), `${where}: every node, once`);
  }
});

test('the pipeline health panels show the drops the pipeline counted: a rate per reason, and the last error', () => {
  const pipeline = runs.find((run) => run.uid === 'stacklight-pipeline')!;
  const dropped = pipeline.panels.find((result) => result.query.panel === 'Points dropped, by reason')!;
  const peak = (reason: string) =>
    Math.max(0, ...dropped.series.filter((s) => s.tags?.['reason'] === reason).flatMap((s) => s.values.map((row) => Number(row[1] ?? 0))));
  assert.ok(peak('nan_inf') > 0, `no NaN drop rate:\n${dropped.text}\n${JSON.stringify(dropped.series)}`);
  assert.ok(peak('bad_message') > 0, 'no bad-message drop rate');
  assert.equal(peak('rejected_by_influxdb'), 0, 'InfluxDB refused nothing');
  const lastError = pipeline.panels.find((result) => result.query.panel === 'Last error per node' && result.query.refId === 'A')!;
  assert.match(JSON.stringify(lastError.series), /bad message/);
});
