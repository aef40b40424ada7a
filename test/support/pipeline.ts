/**
 * The whole pipeline with real parts: a real influxd (test/support/influxdb.ts), the unmodified
 * plugins of lua/ in the Hindsight stage (real Lua 5.1), and the mock Snap publisher speaking
 * Snap's Heka wire format. Plus what the tests compare: the point InfluxDB must hold for each
 * metric Snap sent, and what InfluxDB holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StackConfig } from '../../compiler/config/types.ts';
import { SELF_MONITORING } from '../../compiler/collector/hindsight.ts';
import { startInfluxDB, type InfluxDBServer } from './influxdb.ts';
import { HINDSIGHT_NOT_BUILT, hindsightBuild, startRealHindsight } from './hindsight-real.ts';
import { influxdbWiring, readLuaTree, startHindsightStage, writeHindsightConfig, type HindsightStage, type HindsightStageOptions } from './hindsight-stage.ts';
import { PLUGIN_RUNNING_ON, SnapPublisher, type SnapMetric, type SnapPublisherOptions } from './snap-publisher.ts';
import type { LuaValue } from '../../compiler/render/lua.ts';

/** What the tests do to a Hindsight, the stage's or the real one. */
export interface HindsightProcess {
  hekaPort: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  errFile(): string | undefined;
  /** Bytes of heka_tcp's queue that reached the files (what a kill -9 cannot take back). */
  queueBytes(): number;
  logs(): string;
  dispose(): Promise<void>;
}

/** The Hindsights a pipeline test can run on: the stage always, the real one when it is built. */
export type Engine = 'stage' | 'real';

export interface Pipeline {
  influx: InfluxDBServer;
  /** The Hindsight the test runs on (the first stage, or the real Hindsight). */
  hindsight: HindsightProcess;
  /** The first (or only) stage. */
  stage: HindsightStage;
  /** One stage per `hostnames` entry, in that order (a collector pod's Hindsight per node). */
  stages: HindsightStage[];
  config: StackConfig;
  publisher(options?: Partial<SnapPublisherOptions>): SnapPublisher;
  dispose(): Promise<void>;
}

export interface PipelineOptions {
  config: StackConfig;
  /** Output cfg settings for the test (e.g. a short ticker_interval). */
  output?: Record<string, LuaValue>;
  stage?: Partial<HindsightStageOptions>;
  /** One stage per name, each with that Hostname, all writing to the one InfluxDB (default: one stage). */
  hostnames?: readonly string[];
  /** The retention policy's duration (default: the config's; `INF` keeps points of any age). */
  retention?: string;
}

export interface EnginePipeline {
  engine: Engine;
  influx: InfluxDBServer;
  hindsight: HindsightProcess;
  config: StackConfig;
  publisher(options?: Partial<SnapPublisherOptions>): SnapPublisher;
  dispose(): Promise<void>;
}

/** The engines available here, printing one line when the real Hindsight is not built. */
export function availableEngines(): Engine[] {
  if (hindsightBuild()) return ['stage', 'real'];
  console.log(`# skipped on the real Hindsight: ${HINDSIGHT_NOT_BUILT}`);
  return ['stage'];
}

/** The pipeline on either engine: the stage (startPipeline) or the real Hindsight, both with the compiled files. */
export async function startEnginePipeline(engine: Engine, options: PipelineOptions): Promise<EnginePipeline> {
  if (engine === 'stage') return { engine, ...(await startPipeline(options)) };
  const build = hindsightBuild();
  if (!build) throw new Error(HINDSIGHT_NOT_BUILT);
  return withBackend(options, async ({ influx, configDir, wiring, release }) => {
    const stageEnv = options.stage?.env && { env: { ...wiring.env, ...options.stage.env } };
    const hindsight = await startRealHindsight({ build, configDir, ...wiring, ...stageEnv });
    return {
      engine,
      influx,
      hindsight,
      config: options.config,
      publisher: (extra = {}) => new SnapPublisher({ port: hindsight.hekaPort, config: options.config, ...extra }),
      async dispose() {
        await hindsight.dispose().catch(() => undefined);
        await release();
      },
    };
  });
}

/**
 * What both engines start from: a real InfluxDB and the compiled Hindsight files in a temporary
 * directory; `start` brings up the Hindsight(s) on them, and everything is released if it fails.
 */
async function withBackend<T extends { dispose(): Promise<void> }>(
  options: PipelineOptions,
  start: (backend: {
    influx: InfluxDBServer;
    configDir: string;
    wiring: ReturnType<typeof influxdbWiring>;
    release(): Promise<void>;
  }) => Promise<T>,
): Promise<T> {
  const influx = await startInfluxDB({ config: options.config, ...(options.retention !== undefined && { retention: options.retention }) });
  const configDir = await mkdtemp(join(tmpdir(), 'stacklight-pipeline-'));
  const release = async () => {
    await influx.dispose().catch(() => undefined);
    await rm(configDir, { recursive: true, force: true });
  };
  try {
    await writeHindsightConfig(configDir, options.config, await readLuaTree());
    return await start({ influx, configDir, wiring: influxdbWiring(influx, options.output ?? {}), release });
  } catch (error) {
    await release();
    throw error;
  }
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  if (options.hostnames?.length === 0) throw new Error('startPipeline: hostnames is empty (leave it out for one stage)');
  return withBackend(options, async ({ influx, configDir, wiring, release }) => {
    const stages: HindsightStage[] = [];
    const disposeStages = () => Promise.all(stages.map((stage) => stage.dispose().catch(() => undefined)));
    try {
      for (const hostname of options.hostnames ?? [undefined]) {
        const named = hostname !== undefined && { hostname };
        stages.push(await startHindsightStage({ configDir, retryDelayMs: 200, ...wiring, ...options.stage, ...named }));
      }
    } catch (error) {
      await disposeStages();
      throw error;
    }
    const first = stages[0]!;
    return {
      influx,
      hindsight: first,
      stage: first,
      stages,
      config: options.config,
      publisher: (extra = {}) => new SnapPublisher({ port: first.hekaPort, config: options.config, ...extra }),
      async dispose() {
        await disposeStages();
        await release();
      },
    };
  });
}

/** The tests' Snap schedule: a collection every 10 s. */
export const SNAP_INTERVAL_NS = 10_000_000_000n;

/**
 * Collection times for a test file: round(i) is i Snap intervals (10 s) after a start 100 minutes
 * in the past, well inside the retention. The start is fixed when this is called, so a round
 * keeps its time however long the tests take (a start read again at each call moves when a
 * 10 s boundary passes, and round(11) then names another collection).
 */
export function collectionRounds(): (index: number) => bigint {
  const first = (BigInt(Date.now()) * 1_000_000n) / SNAP_INTERVAL_NS - 600n;
  return (index) => (first + BigInt(index)) * SNAP_INTERVAL_NS;
}

/** A point as the tests compare it: measurement, tags (sorted), time in ms, value and its type. */
export interface ExpectedPoint {
  key: string;
  measurement: string;
  tags: Record<string, string>;
  timeMs: number;
  value: number | string | boolean;
  type: 'integer' | 'float' | 'string' | 'boolean';
}

export function pointKey(measurement: string, tags: Record<string, string>, timeMs: number): string {
  const tagText = Object.keys(tags)
    .sort()
    .map((key) => `${key}=${tags[key]}`)
    .join(',');
  return `${measurement}|${tagText}|${timeMs}`;
}

/** What of a metric the plugin's contract reads: the mock's SnapMetric, or one decoded from Snap's message. */
export type PublishedMetric = Pick<SnapMetric, 'name' | 'dynamic' | 'tags' | 'value' | 'valueType' | 'timestampNs'>;

/** The point InfluxDB must hold for a metric Snap published (the plugin's contract). */
export function expectedPoint(metric: PublishedMetric, config: StackConfig): ExpectedPoint {
  const tags: Record<string, string> = {};
  if (metric.dynamic) tags[metric.dynamic.name] = metric.dynamic.value;
  for (const [key, value] of Object.entries(metric.tags)) {
    if (key === PLUGIN_RUNNING_ON || config.hindsight.output.excludedTags.includes(key)) continue;
    if (value !== '') tags[key] = value;
  }
  Object.assign(tags, config.hindsight.output.staticTags);
  const timeMs = Number(metric.timestampNs / 1_000_000n);
  const type = metric.valueType === 'bool' ? 'boolean' : metric.valueType;
  const value = typeof metric.value === 'bigint' ? Number(metric.value) : metric.value;
  return { key: pointKey(metric.name, tags, timeMs), measurement: metric.name, tags, timeMs, value, type };
}

/**
 * Every point InfluxDB holds in measurements matching `pattern`, by key. One statement per
 * measurement: a query over several measurements whose `value` differ in type (float, string)
 * leaves some of them out.
 */
export async function storedPoints(influx: InfluxDBServer, pattern = /^intel\./): Promise<Map<string, { value: unknown; count: number }>> {
  const measurements = (await influx.query('SHOW MEASUREMENTS', 'reader')).flatMap((s) => s.values.map((row) => String(row[0])));
  const selected = measurements.filter((name) => pattern.test(name));
  if (selected.length === 0) return new Map();
  const series = await influx.query(selected.map((name) => `SELECT * FROM ${JSON.stringify(name)}`).join('; '), 'reader', { epoch: 'ms' });
  const points = new Map<string, { value: unknown; count: number }>();
  for (const s of series) {
    const timeIndex = s.columns.indexOf('time');
    const valueIndex = s.columns.indexOf('value');
    for (const row of s.values) {
      const tags: Record<string, string> = {};
      s.columns.forEach((column, index) => {
        if (index !== timeIndex && index !== valueIndex && row[index] !== null) tags[column] = String(row[index]);
      });
      const key = pointKey(s.name, tags, Number(row[timeIndex]));
      const previous = points.get(key);
      points.set(key, { value: row[valueIndex], count: (previous?.count ?? 0) + 1 });
    }
  }
  return points;
}

/** The field type InfluxDB recorded per measurement (SHOW FIELD KEYS). */
export async function fieldTypes(influx: InfluxDBServer): Promise<Map<string, string>> {
  const series = await influx.query('SHOW FIELD KEYS', 'reader');
  return new Map(series.flatMap((s) => s.values.filter((row) => row[0] === 'value').map((row) => [s.name, String(row[1])] as [string, string])));
}

/** The output plugin's latest self-monitoring counters (summed over nodes' plugins; one here). */
export async function selfMonitoring(influx: InfluxDBServer): Promise<Record<string, unknown>> {
  const rows = await influx.rows(`SELECT last(*) FROM ${JSON.stringify(SELF_MONITORING.measurement)}`, 'reader');
  const row = rows[0] ?? {};
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key.replace(/^last_/, ''), value]));
}

/** Dropped points by reason, as the plugin counted them. */
export async function droppedByReason(influx: InfluxDBServer): Promise<Record<string, number>> {
  const { measurement, reasonTag, field } = SELF_MONITORING.dropped;
  const series = await influx.query(`SELECT last(${JSON.stringify(field)}) FROM ${JSON.stringify(measurement)} GROUP BY ${JSON.stringify(reasonTag)}`, 'reader');
  return Object.fromEntries(series.map((s) => [s.tags?.[reasonTag] ?? '?', Number(s.values[0]?.[1] ?? 0)]));
}

/** Polls until `condition` holds, or fails with what was last seen. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  condition: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (condition(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last, (_, v) => (typeof v === 'bigint' ? String(v) : v))?.slice(0, 500)}`);
}
