/**
 * Runs the provisioned dashboards' queries against a real InfluxDB filled by the real pipeline,
 * the way Grafana would: variables resolved from their own queries (the first host; every
 * filesystem, disk and interface), then every panel query interpolated and run as the READ-only
 * user. Shared by the dashboard proof test and `npm run preview`.
 */
import type { StackConfig } from '../../compiler/config/types.ts';
import { dashboardFiles } from '../../compiler/grafana/dashboards/index.ts';
import type { InfluxDBServer, InfluxSeries } from './influxdb.ts';
import { droppedByReason, eventually, SNAP_INTERVAL_NS, startPipeline, type Pipeline } from './pipeline.ts';
import { craft } from './snap-publisher.ts';
import { doubleField } from './heka.ts';
import { interpolate, panelQueries, variableQueries, type PanelQuery, type Variable } from './grafana-queries.ts';

export interface FilledRange {
  pipeline: Pipeline;
  fromMs: number;
  toMs: number;
  nodes: string[];
}

/**
 * Starts the pipeline and publishes `rounds` collections 10 s apart for `nodes` fake nodes, ending
 * now, then one NaN value and one message without a value, which the plugin drops and counts.
 */
export async function fillFromPipeline(config: StackConfig, nodes = 3, rounds = 12): Promise<FilledRange> {
  const pipeline = await startPipeline({ config, output: { ticker_interval: 1 } });
  const publisher = pipeline.publisher({ nodes, seed: 99 });
  const last = (BigInt(Date.now()) * 1_000_000n / SNAP_INTERVAL_NS) * SNAP_INTERVAL_NS;
  const first = last - BigInt(rounds - 1) * SNAP_INTERVAL_NS;
  for (let index = 0; index < rounds; index++) await publisher.tick(first + BigInt(index) * SNAP_INTERVAL_NS);
  const expected = publisher.sent.filter((record) => record.metric).length;
  const deadline = Date.now() + 60_000;
  const written = async () => Number((await pipeline.influx.rows('SELECT last("points_written") FROM "hindsight_output"', 'reader'))[0]?.last ?? 0);
  await eventually(`the pipeline to write all ${expected} points`, written, (count) => count >= expected, deadline - Date.now());
  // Self-monitoring points in three 10 s buckets at least, so its counters have rates too.
  const buckets = async () =>
    (await pipeline.influx.query(`SELECT count("points_written") FROM "hindsight_output" WHERE time > now() - 5m GROUP BY time(10s) fill(none)`, 'reader'))[0]?.values.length ?? 0;
  await eventually('self-monitoring points in three 10 s buckets', buckets, (count) => count >= 3, deadline - Date.now());
  // Then a NaN value and a message without a value: the dropped-by-reason counters rise after
  // buckets in which they were zero (so their panel shows a rate), and the last error is set.
  const metric = publisher.collect(publisher.nodes[0]!, last).find((candidate) => candidate.valueType === 'float')!;
  await publisher.publishCrafted([
    { label: 'NaN', message: craft.withValueField(publisher.message(metric), doubleField('value', Number.NaN)) },
    { label: 'no value', message: craft.withoutField(publisher.message(metric), 'value') },
  ]);
  await eventually(
    'the NaN and the message without a value to be counted',
    () => droppedByReason(pipeline.influx),
    (reasons) => (reasons['nan_inf'] ?? 0) >= 1 && (reasons['bad_message'] ?? 0) >= 1,
    60_000,
  );
  const names = publisher.nodes.map((node) => node.name);
  return { pipeline, fromMs: Number(first / 1_000_000n) - 60_000, toMs: Date.now() + 1000, nodes: names };
}

export interface PanelResult {
  query: PanelQuery;
  text: string;
  series: InfluxSeries[];
  error?: string;
}

export interface DashboardRun {
  uid: string;
  title: string;
  dashboard: Record<string, unknown>;
  variables: Record<string, Variable & { query: string }>;
  panels: PanelResult[];
}

function valuesOf(series: readonly InfluxSeries[]): string[] {
  return [...new Set(series.flatMap((s) => s.values.map((row) => String(row[1] ?? row[0]))))].sort();
}

export async function runDashboards(
  influx: InfluxDBServer,
  config: StackConfig,
  range: { fromMs: number; toMs: number },
): Promise<DashboardRun[]> {
  const runs: DashboardRun[] = [];
  for (const file of dashboardFiles(config)) {
    const dashboard = JSON.parse(file.json) as Record<string, unknown> & { title: string };
    const variables: DashboardRun['variables'] = {};
    for (const variable of variableQueries(dashboard as never)) {
      const text = interpolate(variable.query, { ...range, variables });
      const values = valuesOf(await influx.query(text, 'reader'));
      // Grafana's default: the first value, or every value for a multi-value variable with "All".
      variables[variable.name] = {
        query: text,
        multi: variable.multi,
        includeAll: variable.includeAll,
        values: variable.includeAll ? values : values.slice(0, 1),
      };
    }
    const panels: PanelResult[] = [];
    for (const query of panelQueries(dashboard as never)) {
      const minInterval = query.minInterval !== undefined && { minInterval: query.minInterval };
      const text = interpolate(query.query, { ...range, ...minInterval, variables });
      try {
        panels.push({ query, text, series: await influx.query(text, 'reader', { epoch: 'ms' }) });
      } catch (error) {
        panels.push({ query, text, series: [], error: (error as Error).message });
      }
    }
    runs.push({ uid: file.uid, title: dashboard.title, dashboard, variables, panels });
  }
  return runs;
}

/** Points with a value (not null) in a query's result. */
export function valuedPoints(result: PanelResult): number {
  return result.series.reduce((total, s) => total + s.values.filter((row) => row.slice(1).some((value) => value !== null)).length, 0);
}
