/**
 * The output plugin inside the real Hindsight (part of `npm run bench`, when
 * `bash images/hindsight/build-local.sh` has built it), with the compiled files, measured in one
 * run on this machine:
 * - backlog drain: Snap-shaped messages queued by Hindsight while InfluxDB is down, then the
 *   time from InfluxDB answering again until the first of them, and all of them, are in
 *   InfluxDB (points/s), with Hindsight's and influxd's CPU per point;
 * - the same backlog through a do-nothing output plugin (read_message("raw"), return 0) in the
 *   same Hindsight: the most any output plugin can drain here;
 * - the plugin's process_message timed on every call during a steady two-minute stream of one
 *   node's messages (mean and histogram), next to plugins.tsv's Process Message Avg, which
 *   Hindsight takes from one call every 6 s;
 * - InfluxDB's direct ingest of the same points in 5,000-point batches.
 * Targets: drain ≥ 50k points/s, first points ≤ 2 s after InfluxDB
 * answers again, Process Message Avg ≤ 15 µs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stack } from '../../config/stack.ts';
import { PLUGINS } from '../../compiler/collector/hindsight.ts';
import { encodeFramed } from '../support/heka.ts';
import { HINDSIGHT_NOT_BUILT, hindsightBuild, startRealHindsight, type RealHindsight } from '../support/hindsight-real.ts';
import { influxdbWiring, readLuaTree, writeHindsightConfig } from '../support/hindsight-stage.ts';
import { startInfluxDB, type InfluxDBServer } from '../support/influxdb.ts';
import { SnapPublisher, type SnapMetric } from '../support/snap-publisher.ts';
import { cpuSeconds, directIngest, isInfluxd, thousands } from './support.ts';

const NODES = 1;
const ROUNDS = 2400; // 1 × 2,400 × 89 = 213,600 messages: one node's backlog, as one collector pod's Hindsight holds it
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isHindsight = (args: string) => /\/usr\/bin\/hindsight /.test(args);
/** Hindsight's and influxd's CPU seconds so far. */
const cpu = async () => cpuSeconds({ hindsight: isHindsight, influxd: isInfluxd });

/** The messages of ROUNDS collections of NODES nodes, framed, one publish per node and round, and their metrics. */
function backlog(): { publishes: Uint8Array[][]; metrics: SnapMetric[] } {
  const publisher = new SnapPublisher({ port: 0, config: stack, nodes: NODES, seed: 41 });
  const base = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n;
  const publishes: Uint8Array[][] = [];
  const metrics: SnapMetric[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const node of publisher.nodes) {
      const collected = publisher.collect(node, base + BigInt(round) * 10_000_000_000n);
      metrics.push(...collected);
      publishes.push(collected.map((metric) => encodeFramed(publisher.message(metric))));
    }
  }
  return { publishes, metrics };
}

async function publishAll(port: number, publishes: readonly Uint8Array[][]): Promise<void> {
  const publisher = new SnapPublisher({ port, config: stack, nodes: 1 });
  for (const frames of publishes) {
    const result = await publisher.sendRaw(frames, { port, keep: false });
    if (!result.ok) throw new Error(`a publish failed: ${result.error}`);
  }
}

/** Waits until Hindsight's input has injected `count` messages (plugins.tsv, written every few seconds). */
async function queued(hindsight: RealHindsight, count: number): Promise<void> {
  const input = `input.${PLUGINS.input.name}`;
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(250)) {
    if ((hindsight.pluginStats().find((row) => row.plugin === input)?.inject_message_count ?? 0) >= count) return;
  }
  throw new Error(`Hindsight did not queue ${count} messages within 2 minutes`);
}

async function pointsWritten(influx: InfluxDBServer): Promise<number> {
  const rows = await influx.rows('SELECT last("points_written") FROM "hindsight_output"', 'reader').catch(() => []);
  return Number(rows[0]?.['last'] ?? 0);
}

async function configDir(lua: Map<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stacklight-bench-'));
  await writeHindsightConfig(dir, stack, lua);
  return dir;
}

interface Drain {
  messages: number;
  firstMs: number;
  seconds: number;
  hindsightCpu: number;
  influxdCpu: number;
  pluginStats: ReturnType<RealHindsight['pluginStats']>;
}

async function pluginDrain(build: NonNullable<ReturnType<typeof hindsightBuild>>, publishes: Uint8Array[][]): Promise<Drain> {
  const influx = await startInfluxDB({ config: stack });
  const dir = await configDir(await readLuaTree());
  const hindsight = await startRealHindsight({ build, configDir: dir, ...influxdbWiring(influx, { ticker_interval: 1 }) });
  try {
    const messages = publishes.reduce((sum, frames) => sum + frames.length, 0);
    await influx.stop();
    await publishAll(hindsight.hekaPort, publishes);
    await queued(hindsight, messages);
    const before = await cpu();
    // the clock starts when InfluxDB answers again (start() resolves once it answers /ping)
    await influx.start();
    const started = performance.now();
    let firstMs = 0;
    for (;;) {
      const written = await pointsWritten(influx);
      if (written > 0 && firstMs === 0) firstMs = performance.now() - started;
      if (written >= messages) break;
      if (performance.now() - started > 300_000) throw new Error(`only ${written} of ${messages} points written in 5 minutes`);
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    const after = await cpu();
    await sleep(7000); // plugins.tsv is written every few seconds
    return { messages, firstMs, seconds, hindsightCpu: (after['hindsight'] ?? 0) - (before['hindsight'] ?? 0), influxdCpu: (after['influxd'] ?? 0) - (before['influxd'] ?? 0), pluginStats: hindsight.pluginStats() };
  } finally {
    await hindsight.dispose();
    await influx.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A do-nothing output: it waits (returning -3, so Hindsight offers the same message again every
 * second) until the bench says go, then reads each message and returns 0, and reports its count
 * every 10,000 messages.
 */
function noopPlugin(benchUrl: string): string {
  return `require "string"
local http = require "socket.http"
local go, n = false, 0
function process_message()
  if not go then
    if http.request("${benchUrl}go") ~= "go" then return -3 end
    go = true
  end
  local raw = read_message("raw")
  n = n + 1
  if n % 10000 == 0 then http.request("${benchUrl}count?n=" .. n) end
  return 0
end
function timer_event() end
`;
}

async function noopDrain(
  build: NonNullable<ReturnType<typeof hindsightBuild>>,
  publishes: Uint8Array[][],
): Promise<{ messages: number; seconds: number; hindsightCpu: number }> {
  const reports: { n: number; at: number }[] = [];
  let go = false;
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://bench');
    if (url.pathname === '/go') return response.end(go ? 'go' : 'wait');
    reports.push({ n: Number(url.searchParams.get('n')), at: performance.now() });
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lua = await readLuaTree();
  lua.set(`output/${PLUGINS.output.filename}`, noopPlugin(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`));
  const dir = await configDir(lua);
  const hindsight = await startRealHindsight({ build, configDir: dir, env: {} });
  try {
    const messages = publishes.reduce((sum, frames) => sum + frames.length, 0);
    await publishAll(hindsight.hekaPort, publishes);
    await queued(hindsight, messages);
    const cpuBefore = (await cpu())['hindsight'] ?? 0;
    go = true;
    const last = Math.floor(messages / 10000) * 10000;
    for (const deadline = Date.now() + 120_000; !reports.some((r) => r.n === last); await sleep(20)) {
      if (Date.now() > deadline) throw new Error('the do-nothing output did not finish within 2 minutes');
    }
    const hindsightCpu = ((await cpu())['hindsight'] ?? 0) - cpuBefore;
    const first = reports.find((r) => r.n === 10000)!;
    const end = reports.find((r) => r.n === last)!;
    return { messages: last - 10000, seconds: (end.at - first.at) / 1000, hindsightCpu: (hindsightCpu * last) / messages };
  } finally {
    await hindsight.dispose();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The plugin's own process_message timed on every call, for STEADY_SECONDS of one node's
 * messages streaming in: a wrapper appended to the plugin (for the bench only) takes
 * socket.gettime() around each call, writes included, and reports the mean and a histogram to
 * the bench over HTTP. Next to it, plugins.tsv's Process Message Avg, which Hindsight takes from
 * one call every 6 seconds (hs_checkpoint_writer.c sample_sec), its first call included.
 */
const STEADY_SECONDS = 120;
const BUCKETS_US = [5, 10, 20, 50, 100, 1000];
/**
 * A call this long after the previous one ended is the first after the output loop's idle
 * sleep(1) (hs_output_plugins.c sleeps a second whenever both queues are read to the end): the
 * calls plugins.tsv samples while the output keeps up, since the sample flag is set while it sleeps.
 */
const WOKEN_GAP_SECONDS = 0.5;

function timingWrapper(reportUrl: string): string {
  return `
local string = require "string"
local table = require "table"
local bench_socket = require "socket"
local bench_http = require "socket.http"
local bench_pm = process_message
local bench_buckets, bench_counts, bench_n, bench_sum = { ${BUCKETS_US.join(', ')} }, {}, 0, 0
local bench_last, bench_woken_n, bench_woken_sum = 0, 0, 0
process_message = function(...)
  local started = bench_socket.gettime()
  local a, b = bench_pm(...)
  local ended = bench_socket.gettime()
  local us = (ended - started) * 1e6
  bench_n, bench_sum = bench_n + 1, bench_sum + us
  if started - bench_last >= ${WOKEN_GAP_SECONDS} then bench_woken_n, bench_woken_sum = bench_woken_n + 1, bench_woken_sum + us end
  bench_last = ended
  local k = #bench_buckets + 1
  for i, limit in ipairs(bench_buckets) do if us < limit then k = i break end end
  bench_counts[k] = (bench_counts[k] or 0) + 1
  if bench_n % 20000 == 0 then
    local parts = {}
    for i = 1, #bench_buckets + 1 do parts[i] = tostring(bench_counts[i] or 0) end
    bench_http.request("${reportUrl}?n=" .. bench_n .. "&sum=" .. string.format("%.0f", bench_sum) .. "&counts=" .. table.concat(parts, ",") .. "&woken_n=" .. bench_woken_n .. "&woken_sum=" .. string.format("%.0f", bench_woken_sum))
  end
  return a, b
end
`;
}

interface CallTimes {
  messages: number;
  calls: number;
  meanUs: number;
  /** Calls that were the first after the output loop's idle sleep, and their mean. */
  woken: number;
  wokenMeanUs: number;
  counts: number[];
  tsvAvg: number;
  tsvSd: number;
}

/** The floor for plugins.tsv's sampled calls: an output that reads each message and returns 0. */
const READ_ONLY_PLUGIN = `require "string"
function process_message()
  local raw = read_message("raw")
  return 0
end
function timer_event() end
`;

/** The steady stream through the plugin, or through \`plugin\` (Lua source) in its place. */
async function steadyProcessMessage(build: NonNullable<ReturnType<typeof hindsightBuild>>, plugin?: string): Promise<CallTimes> {
  let last = { n: 0, sum: 0, counts: [] as number[], wokenN: 0, wokenSum: 0 };
  const server = http.createServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://bench').searchParams;
    last = { n: Number(query.get('n')), sum: Number(query.get('sum')), counts: (query.get('counts') ?? '').split(',').map(Number),
      wokenN: Number(query.get('woken_n')), wokenSum: Number(query.get('woken_sum')) };
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lua = await readLuaTree();
  const file = `output/${PLUGINS.output.filename}`;
  lua.set(file, (plugin ?? lua.get(file)!) + timingWrapper(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`));
  const influx = await startInfluxDB({ config: stack });
  const dir = await configDir(lua);
  const hindsight = await startRealHindsight({ build, configDir: dir, ...influxdbWiring(influx, {}) });
  try {
    const publisher = new SnapPublisher({ port: hindsight.hekaPort, config: stack, nodes: 1, seed: 43 });
    const base = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n;
    let messages = 0;
    for (let round = 0, started = Date.now(); Date.now() - started < STEADY_SECONDS * 1000; round++) {
      const metrics = publisher.collect(publisher.nodes[0]!, base + BigInt(round) * 10_000_000n);
      const frames = metrics.map((metric) => encodeFramed(publisher.message(metric)));
      await publisher.sendRaw(frames, { port: hindsight.hekaPort, keep: false });
      messages += frames.length;
    }
    await sleep(7000);
    const output = hindsight.pluginStats().find((row) => row.plugin === `output.${PLUGINS.output.name}`);
    return {
      messages,
      calls: last.n,
      meanUs: last.sum / last.n,
      woken: last.wokenN,
      wokenMeanUs: last.wokenSum / last.wokenN,
      counts: last.counts,
      tsvAvg: output?.process_message_avg ?? 0,
      tsvSd: output?.process_message_sd ?? 0,
    };
  } finally {
    await hindsight.dispose();
    await influx.dispose();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const build = hindsightBuild();
if (!build) {
  console.log(`real Hindsight: skipped (${HINDSIGHT_NOT_BUILT})`);
} else {
  const { publishes, metrics } = backlog();
  const drain = await pluginDrain(build, publishes);
  const output = drain.pluginStats.find((row) => row.plugin === `output.${PLUGINS.output.name}`);
  console.log(`real Hindsight, the plugin draining a backlog of ${drain.messages} Snap messages (${NODES} nodes × ${ROUNDS} collections) once InfluxDB answers again:`);
  console.log(`    first points in InfluxDB after ${(drain.firstMs / 1000).toFixed(2)} s   target ≤ 2 s`);
  console.log(`    all in ${drain.seconds.toFixed(2)} s: ${thousands(drain.messages / drain.seconds)} points/s; from the first point to the last: ${thousands(drain.messages / (drain.seconds - drain.firstMs / 1000))} points/s   target ≥ 50k`);
  console.log(`    CPU per point: hindsight ${((drain.hindsightCpu / drain.messages) * 1e6).toFixed(1)} µs, influxd ${((drain.influxdCpu / drain.messages) * 1e6).toFixed(1)} µs`);
  console.log(`    plugins.tsv after the drain (a few samples, the first call's included): Process Message Avg ${((output?.process_message_avg ?? 0) / 1000).toFixed(1)} µs (SD ${((output?.process_message_sd ?? 0) / 1000).toFixed(1)} µs), Message Matcher Avg ${((output?.message_matcher_avg ?? 0) / 1000).toFixed(1)} µs, Max Memory ${output?.max_memory} B`);
  const steady = await steadyProcessMessage(build);
  const limits = [...BUCKETS_US.map((limit) => `<${limit}`), `≥${BUCKETS_US.at(-1)}`];
  const share = steady.counts.map((count, i) => `${limits[i]} µs ${((100 * count) / steady.calls).toFixed(1)}%`).join(', ');
  console.log(`real Hindsight, one node's messages streaming in for ${STEADY_SECONDS} s (${steady.messages} messages, default cfg):`);
  console.log(`    process_message timed on every call (${steady.calls} calls, writes included): mean ${steady.meanUs.toFixed(1)} µs   target ≤ 15 µs`);
  console.log(`    calls by time: ${share}`);
  console.log(`    the first call after each of the output loop's idle 1 s sleeps: mean ${steady.wokenMeanUs.toFixed(1)} µs over ${steady.woken} calls`);
  console.log(`    plugins.tsv Process Message Avg (one call every 6 s, in practice such first calls): ${(steady.tsvAvg / 1000).toFixed(1)} µs (SD ${(steady.tsvSd / 1000).toFixed(1)} µs)`);
  const floor = await steadyProcessMessage(build, READ_ONLY_PLUGIN);
  console.log(`    the same stream through an output that only reads each message: plugins.tsv ${(floor.tsvAvg / 1000).toFixed(1)} µs (SD ${(floor.tsvSd / 1000).toFixed(1)} µs); its first calls after the idle sleep ${floor.wokenMeanUs.toFixed(1)} µs over ${floor.woken} calls, all calls ${floor.meanUs.toFixed(2)} µs`);
  const noop = await noopDrain(build, publishes);
  console.log(`real Hindsight, a do-nothing output draining the same backlog: ${thousands(noop.messages / noop.seconds)} messages/s (the most any output plugin can reach here), hindsight CPU ${((noop.hindsightCpu / noop.messages) * 1e6).toFixed(1)} µs per message`);
  console.log(`InfluxDB direct ingest of as many points in 5,000-point batches: ${thousands(await directIngest(metrics))} points/s`);
}
