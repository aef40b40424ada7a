/**
 * The dashboards' structure, checked on the JSON the compiler provisions: every collected family
 * is on a panel, no panel reads a measurement that is not written, counters are rates, units and
 * legends are set, the Node dashboard filters every query by host, the datasource is referenced
 * by uid, and Grafana's interpolation (as the proof test applies it) behaves as Grafana's does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stack } from '../../config/stack.ts';
import type { StackConfig } from '../../compiler/config/types.ts';
import { dashboardFiles } from '../../compiler/grafana/dashboards/index.ts';
import { METRIC_FAMILIES, measurementName } from '../../compiler/collector/metrics.ts';
import { SELF_MONITORING } from '../../compiler/collector/hindsight.ts';
import { durationSeconds } from '../../compiler/config/duration.ts';
import { grafanaInterval, interpolate, panelQueries, variableQueries } from '../support/grafana-queries.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a dashboard's JSON, read loosely: a wrong path fails the test
type Json = Record<string, any>;

function dashboards(config: StackConfig = stack): Json[] {
  return dashboardFiles(config).map((file) => JSON.parse(file.json) as Json);
}

const measurementOf = (query: string) => /FROM "((?:[^"\\]|\\.)*)"/.exec(query)?.[1];

function collectedMeasurements(config: StackConfig): Set<string> {
  return new Set(
    config.collector.families.flatMap((name) => {
      const family = METRIC_FAMILIES[name];
      return family.metrics.map((metric) => measurementName(family, metric));
    }),
  );
}

test('dashboards have fixed uids and reference the datasource by uid', () => {
  const all = dashboards();
  assert.deepEqual(all.map((dashboard) => dashboard.uid), ['stacklight-cluster', 'stacklight-node', 'stacklight-pipeline']);
  for (const dashboard of all) {
    for (const panel of dashboard.panels.filter((candidate: Json) => candidate.type !== 'row')) {
      assert.deepEqual(panel.datasource, { type: 'influxdb', uid: stack.grafana.datasource.uid }, `${dashboard.title}/${panel.title}`);
      for (const target of panel.targets) assert.equal(target.datasource.uid, stack.grafana.datasource.uid);
    }
  }
});

test('every collected family appears on some panel, and no panel reads what is not written', () => {
  const written = collectedMeasurements(stack);
  written.add(SELF_MONITORING.measurement).add(SELF_MONITORING.dropped.measurement);
  const queries = dashboards().flatMap((dashboard) => [...panelQueries(dashboard as never), ...variableQueries(dashboard as never)]);
  const queried = new Set(queries.map((query) => measurementOf(query.query)));
  for (const measurement of queried) assert.ok(measurement && written.has(measurement), `a panel reads ${measurement}, which is not written`);
  for (const family of stack.collector.families) {
    const prefix = `${METRIC_FAMILIES[family].prefix.join('.')}.`;
    assert.ok([...queried].some((measurement) => measurement?.startsWith(prefix)), `no panel shows the ${family} family`);
  }
});

test('panels for families that are not collected disappear', () => {
  const config = structuredClone(stack) as StackConfig;
  config.collector.families = ['cpu', 'meminfo'];
  const queried = dashboards(config).flatMap((dashboard) => panelQueries(dashboard as never)).map((query) => measurementOf(query.query)!);
  assert.ok(queried.every((measurement) => /^intel\.procfs\.(cpu|meminfo)\./.test(measurement) || measurement.startsWith('hindsight_output')), queried.join(', '));
});

test('counters are shown as non-negative rates, gauges as they are', () => {
  for (const query of dashboards().flatMap((dashboard) => panelQueries(dashboard as never))) {
    const measurement = measurementOf(query.query)!;
    const family = Object.values(METRIC_FAMILIES).find((candidate) => measurement.startsWith(`${candidate.prefix.join('.')}.`));
    const metric = family?.metrics.find((candidate) => measurementName(family, candidate) === measurement);
    const counter = metric ? metric.kind === 'counter' : Object.values(SELF_MONITORING.counters).some((field) => query.query.includes(`"${field}"`)) || measurement === SELF_MONITORING.dropped.measurement;
    if (query.resultFormat === 'table') continue;
    assert.equal(query.query.includes('non_negative_derivative('), counter, `${query.dashboard}/${query.panel}: ${query.query}`);
  }
});

test('units (per column in tables), visible legends and a minimum interval no finer than the collection interval on every panel', () => {
  const collection = durationSeconds(stack.collector.interval);
  for (const dashboard of dashboards()) {
    for (const panel of dashboard.panels.filter((candidate: Json) => candidate.type === 'timeseries')) {
      const where = `${dashboard.title}/${panel.title}`;
      assert.ok(panel.fieldConfig.defaults.unit, `${where}: no unit`);
      assert.equal(panel.options.legend.showLegend, true, `${where}: legend hidden`);
      assert.notEqual(panel.options.legend.displayMode, 'hidden', `${where}: legend hidden`);
      assert.ok(durationSeconds(panel.interval) >= collection, `${where}: interval ${panel.interval}`);
    }
    for (const panel of dashboard.panels.filter((candidate: Json) => candidate.type === 'table')) {
      const where = `${dashboard.title}/${panel.title}`;
      const columns = panel.targets.map((target: Json) => /AS "([^"]+)" FROM/.exec(target.query)?.[1]);
      const units = new Map(panel.fieldConfig.overrides.map((override: Json) => [override.matcher.options, override.properties.find((property: Json) => property.id === 'unit')?.value]));
      for (const column of columns) assert.ok(units.get(column), `${where}: column ${column} has no unit`);
      assert.ok(durationSeconds(panel.interval) >= collection, `${where}: interval ${panel.interval}`);
    }
  }
});

test('every query of the Node dashboard is filtered by the host, and its variables narrow by host too', () => {
  const node = dashboards().find((dashboard) => dashboard.uid === 'stacklight-node')!;
  for (const query of panelQueries(node as never)) assert.match(query.query, /"hostname" =~ \/\^\$host\$\//, query.panel);
  for (const variable of variableQueries(node as never).filter((candidate) => candidate.name !== 'host')) {
    assert.match(variable.query, /WHERE "hostname" =~ \/\^\$host\$\//, variable.name);
  }
});

test('swap in and out are labelled as what they are', () => {
  const node = dashboards().find((dashboard) => dashboard.uid === 'stacklight-node')!;
  const activity = node.panels.find((panel: Json) => panel.title === 'Swap activity');
  const legends = activity.targets.map((target: Json) => [measurementOf(target.query), target.alias]);
  assert.deepEqual(legends, [
    ['intel.procfs.swap.io.in_pages_per_sec', 'swapped in (pages/s)'],
    ['intel.procfs.swap.io.out_pages_per_sec', 'swapped out (pages/s)'],
  ]);
});

test('Grafana interpolation: time filter, interval and variables', () => {
  const from = 1_700_000_000_000;
  const to = from + 3_600_000;
  assert.equal(grafanaInterval(from, to, '10s'), '10s');
  assert.equal(grafanaInterval(from, from + 7 * 24 * 3_600_000, '10s'), '10m');
  const query = 'SELECT mean("value") FROM "m" WHERE "hostname" =~ /^$host$/ AND "disk" =~ /^$disk$/ AND $timeFilter GROUP BY time($__interval)';
  assert.equal(
    interpolate(query, {
      fromMs: from,
      toMs: to,
      minInterval: '10s',
      variables: {
        host: { values: ['node-1.example'], multi: false, includeAll: false },
        disk: { values: ['sda', 'nvme0n1p1'], multi: true, includeAll: true },
      },
    }),
    `SELECT mean("value") FROM "m" WHERE "hostname" =~ /^node-1.example$/ AND "disk" =~ /^(sda|nvme0n1p1)$/ AND time >= ${from}ms and time <= ${to}ms GROUP BY time(10s)`,
  );
  assert.equal(
    interpolate('"fs" =~ /^$filesystem$/', { fromMs: from, toMs: to, variables: { filesystem: { values: ['/var/lib'], multi: true, includeAll: true } } }),
    '"fs" =~ /^\\/var\\/lib$/',
  );
});
