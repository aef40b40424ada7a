/**
 * Pipeline figures, measured in one run on this machine (part of `npm run bench`):
 * - the Lua 5.1 benchmarks of test/bench/plugin.bench.lua (encoder points/s, process_message
 *   messages/s) and the plugin's heap peak, garbage included (test/lua/memory_probe.lua);
 * - end-to-end points/s: the mock Snap publisher → a Hindsight stage per fake node, with the
 *   plugins of lua/ → one real influxd, from the first publish until every stage's plugin reports
 *   all its node's points written, with each process's CPU time and the bound it implies;
 * - InfluxDB's own ingest of the same points posted directly in 5,000-point batches (the
 *   ceiling of any pipeline into it here), and the ratio of the two.
 * Targets: encoder ≥ 300k points/s, process_message ≥ 150k messages/s, end-to-end
 * ≥ 0.5 of the ceiling, the batch well under the sandbox's 8 MiB.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { stack } from '../../config/stack.ts';
import { REPO_ROOT } from '../../compiler/tools.ts';
import { influxdbOutputCfg } from '../../compiler/collector/hindsight.ts';
import { startPipeline, expectedPoint, storedPoints } from '../support/pipeline.ts';
import { startInfluxDB } from '../support/influxdb.ts';
import { SnapPublisher, type SnapMetric } from '../support/snap-publisher.ts';
import { encodeFramed, encodeMessage } from '../support/heka.ts';
import { cpuSeconds, directIngest, isInfluxd, thousands, type Roles } from './support.ts';

const run = promisify(execFile);
// several nodes, each with its own Hindsight stage as in the DaemonSet
const NODES = 4;
// 4 × 1,000 × 89 = 356,000 points: long enough that the end, where each stage's last batch waits
// for its ticker (1 s) and the bench polls every 50 ms, is a small part of the run
const ROUNDS = 1000;

interface LuaFigure {
  bench: string;
  per_second?: number;
  [key: string]: unknown;
}

/**
 * What one collector pod's Hindsight receives: the mock publisher's messages for the shipped
 * config (every collected family of one node, tags in Go's random map order), `rounds`
 * collections 10 s apart, as "<length>\n<bytes>" records for the Lua benchmarks.
 */
async function writeSnapMessages(dir: string, rounds: number): Promise<{ file: string; metrics: SnapMetric[] }> {
  const publisher = new SnapPublisher({ port: 0, config: stack, nodes: 1, seed: 3 });
  const base = (BigInt(Date.now()) - 2n * 3_600_000n) * 1_000_000n;
  const records: Buffer[] = [];
  const metrics: SnapMetric[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const metric of publisher.collect(publisher.nodes[0]!, base + BigInt(round) * 10_000_000_000n)) {
      const bytes = encodeMessage(publisher.message(metric));
      records.push(Buffer.from(`${bytes.length}\n`), Buffer.from(bytes));
      metrics.push(metric);
    }
  }
  const file = join(dir, `snap-messages-${rounds}.bin`);
  await writeFile(file, Buffer.concat(records));
  return { file, metrics };
}

async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'stacklight-bench-'));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function luaBenchmarks(): Promise<LuaFigure[]> {
  return withTempDir(async (dir) => {
    const { file: messages } = await writeSnapMessages(dir, 50);
    const { stdout } = await run('lua5.1', [join(REPO_ROOT, 'test/bench/plugin.bench.lua'), '300000', '100000', messages], { cwd: REPO_ROOT, maxBuffer: 1 << 20 });
    return stdout.trim().split('\n').map((line) => JSON.parse(line) as LuaFigure);
  });
}

/** test/lua/memory_probe.lua: the plugin's heap peak, garbage included, in a process of its own. */
async function memoryPeak(series: number): Promise<{ peak_kib: number; limit_kib: number }> {
  const { stdout } = await run('lua5.1', [join(REPO_ROOT, 'test/lua/memory_probe.lua'), String(series), '40000'], { cwd: REPO_ROOT });
  return JSON.parse(stdout) as { peak_kib: number; limit_kib: number };
}

/**
 * The plugin alone into a real influxd: one node's messages (500 collections) offered by the
 * replay driver, real HTTP; every point is then looked up in InfluxDB, so the rate is of points
 * stored. Returns points/s and the metrics, for the ceiling of the same points.
 */
async function pluginIntoInfluxDB(): Promise<{ rate: number; metrics: SnapMetric[] }> {
  return withTempDir(async (dir) => {
    const { file, metrics } = await writeSnapMessages(dir, 500);
    const influx = await startInfluxDB({ config: stack });
    try {
      // The compiler's cfg, pointed at the test InfluxDB and its writer's password file; batches
      // written by size, the rest at the stop.
      const passwordFile = join(dir, 'writer-password');
      await writeFile(passwordFile, influx.writer.password, { mode: 0o400 });
      const cfg = { ...influxdbOutputCfg(stack), influxdb_url: influx.url, password_file: passwordFile, ticker_interval: 0 };
      const { stdout } = await run(
        'lua5.1',
        [join(REPO_ROOT, 'test/bench/plugin-influxdb.bench.lua'), file, JSON.stringify(cfg)],
        { cwd: REPO_ROOT, maxBuffer: 1 << 20 },
      );
      const result = JSON.parse(stdout) as { points: number; written: number; per_second: number };
      const stored = await storedPoints(influx);
      const missing = metrics.filter((metric) => !stored.has(expectedPoint(metric, stack).key)).length;
      if (result.written !== metrics.length || missing > 0) {
        throw new Error(`the plugin wrote ${result.written} of ${metrics.length} points and ${missing} are not in InfluxDB`);
      }
      return { rate: result.per_second, metrics };
    } finally {
      await influx.dispose();
    }
  });
}

/** The processes of the end-to-end run whose CPU time is counted. */
const ROLES: Roles = {
  'stage input': (args) => /lua5\.1 .*input\.lua/.test(args),
  'stage output (with the plugin)': (args) => /lua5\.1 .*output\.lua/.test(args),
  influxd: isInfluxd,
};

/**
 * Shaped as the DaemonSet runs: each fake node's metrics go to a Hindsight stage of its own (a
 * collector pod's), and every stage writes to the one InfluxDB. The mock publisher's own encoding
 * (TypeScript) is not part of the pipeline: every message is built and framed first, then sent
 * the way Snap sends (a new connection per node and collection; the collections of all nodes in
 * turn), and the clock runs from the first byte sent until every stage's plugin reports all its
 * node's points written.
 */
async function endToEnd(): Promise<{ points: number; seconds: number; metrics: SnapMetric[]; cpu: Record<string, number> }> {
  const publisher = new SnapPublisher({ port: 0, config: stack, nodes: NODES, seed: 5 });
  const hostnames = publisher.nodes.map((node) => node.name);
  const pipeline = await startPipeline({ config: stack, output: { ticker_interval: 1 }, hostnames });
  try {
    const base = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n;
    const metrics: SnapMetric[] = [];
    const publishes: { port: number; frames: Uint8Array[] }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      publisher.nodes.forEach((node, index) => {
        const collected = publisher.collect(node, base + BigInt(round) * 10_000_000_000n);
        metrics.push(...collected);
        const frames = collected.map((metric) => encodeFramed(publisher.message(metric)));
        publishes.push({ port: pipeline.stages[index]!.hekaPort, frames });
      });
    }
    const cpuBefore = await cpuSeconds(ROLES);
    const publisherBefore = process.cpuUsage();
    const started = performance.now();
    // one write per message on a new connection per publish, as Snap's publisher writes
    for (const { port, frames } of publishes) {
      const result = await publisher.sendRaw(frames, { port, keep: false });
      if (!result.ok) throw new Error(`a publish failed: ${result.error}`);
    }
    for (;;) {
      const rows = await pipeline.influx.rows('SELECT last("points_written") FROM "hindsight_output" GROUP BY "hostname"', 'reader');
      if (rows.reduce((sum, row) => sum + Number(row['last'] ?? 0), 0) >= metrics.length) break;
      if (performance.now() - started > 300_000) throw new Error('the pipeline did not write every point within 5 minutes');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = await cpuSeconds(ROLES);
    const publisherCpu = process.cpuUsage(publisherBefore);
    const cpu: Record<string, number> = { 'mock publisher and the polling (this process)': (publisherCpu.user + publisherCpu.system) / 1e6 };
    for (const [role, total] of Object.entries(cpuAfter)) cpu[role] = total - (cpuBefore[role] ?? 0);
    return { points: metrics.length, seconds, metrics, cpu };
  } finally {
    await pipeline.dispose();
  }
}

/**
 * The bound the run's CPU implies: every process of the run shares this machine's cores, so at
 * this CPU cost per point the rate can be at most cores / (CPU seconds per point, all processes
 * together), however well they overlap (the idle polling of the stages' outputs is counted too);
 * and a ratio of 0.5 needs the whole run to cost at most cores / (0.5 × ceiling).
 */
function printCpuBound(run: { points: number; cpu: Record<string, number> }, ceiling: number): void {
  const cores = availableParallelism();
  const perPoint = Object.values(run.cpu).reduce((sum, seconds) => sum + seconds, 0) / run.points;
  const bound = cores / perPoint;
  const allowed = cores / (0.5 * ceiling);
  console.log(`    all processes: ${(perPoint * 1e6).toFixed(1)} µs per point, which allows at most ${thousands(bound)} points/s on ${cores} cores (${(bound / ceiling).toFixed(3)} of the ceiling); 0.5 would allow ${(allowed * 1e6).toFixed(1)} µs per point`);
}

const lua = await luaBenchmarks();
const figure = (name: string) => lua.find((entry) => entry.bench === name)!;
console.log(`encoder (Lua 5.1, steady state): ${thousands(figure('encoder').per_second!)} points/s   target ≥ 300k`);
console.log(`encoder (a new tag set every point): ${thousands(figure('encoder_uncached_tags').per_second!)} points/s`);
console.log(`plugin process_message, one DOUBLE metric with distinct values (worst case): ${thousands(figure('process_message').per_second!)} messages/s   target ≥ 150k`);
const snap = figure('process_message_snap');
console.log(`plugin process_message, one node's Snap messages for the shipped config (${snap.distinct} distinct): ${thousands(snap.per_second!)} messages/s   target ≥ 150k`);
for (const series of [100, 1000]) {
  const peak = await memoryPeak(series);
  console.log(`plugin heap peak, garbage included (what lua_sandbox limits), ${series} long-tag series, default batch: ${peak.peak_kib} KiB of the sandbox's ${peak.limit_kib} KiB`);
}

const e2e = await endToEnd();
const endToEndRate = e2e.points / e2e.seconds;
const ceiling = await directIngest(e2e.metrics);
console.log(`end to end (${NODES} nodes, a stage each, × ${ROUNDS} collections, ${e2e.points} points): ${thousands(endToEndRate)} points/s`);
console.log(`InfluxDB direct ingest of the same points in 5,000-point batches: ${thousands(ceiling)} points/s`);
console.log(`end to end / direct ingest: ${(endToEndRate / ceiling).toFixed(3)}   target ≥ 0.5`);
console.log(`CPU during the end-to-end run (${e2e.seconds.toFixed(2)} s on ${availableParallelism()} cores), per message:`);
for (const [role, seconds] of Object.entries(e2e.cpu)) {
  console.log(`    ${role}: ${seconds.toFixed(2)} s, ${((seconds / e2e.points) * 1e6).toFixed(1)} µs`);
}
printCpuBound(e2e, ceiling);

const plugin = await pluginIntoInfluxDB();
const pluginCeiling = await directIngest(plugin.metrics);
console.log(`the plugin alone into InfluxDB (one node, ${plugin.metrics.length} points, no Hindsight stage): ${thousands(plugin.rate)} points/s`);
console.log(`InfluxDB direct ingest of the same points in 5,000-point batches: ${thousands(pluginCeiling)} points/s`);
console.log(`plugin into InfluxDB / direct ingest: ${(plugin.rate / pluginCeiling).toFixed(3)}`);
