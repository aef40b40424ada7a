/**
 * What the benchmarks share: CPU time of processes by role from /proc, the mock's metrics as
 * line protocol, and InfluxDB's direct ingest of them (the ceiling of any pipeline into it).
 */
import { readdir, readFile } from 'node:fs/promises';
import { stack } from '../../config/stack.ts';
import { startInfluxDB } from '../support/influxdb.ts';
import { expectedPoint } from '../support/pipeline.ts';
import type { SnapMetric } from '../support/snap-publisher.ts';

/** /proc/<pid>/stat counts CPU time in clock ticks (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

export type Roles = Record<string, (args: string) => boolean>;

/** CPU seconds (user + system) used so far by the processes of each role (matched on their command line). */
export async function cpuSeconds(roles: Roles): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
      const role = Object.keys(roles).find((name) => roles[name]!(args));
      if (!role) continue;
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      totals[role] = (totals[role] ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      // the process ended meanwhile
    }
  }
  return totals;
}

export const isInfluxd = (args: string) => /(^|\/)influxd( |$)/.test(args);

const escapeKey = (text: string) => text.replace(/([,= ])/g, '\\$1');

/** A metric's point as line protocol (plain values and tags: the benches' data needs no more). */
export function lineOf(metric: SnapMetric): string {
  const point = expectedPoint(metric, stack);
  const tags = Object.keys(point.tags).sort().map((key) => `,${escapeKey(key)}=${escapeKey(point.tags[key]!)}`).join('');
  const value = point.type === 'integer' ? `${point.value}i` : point.type === 'string' ? JSON.stringify(point.value) : String(point.value);
  return `${point.measurement}${tags} value=${value} ${point.timeMs}`;
}

/** InfluxDB's ingest of the metrics' points written directly in 5,000-point batches, points/s. */
export async function directIngest(metrics: readonly SnapMetric[]): Promise<number> {
  const influx = await startInfluxDB({ config: stack });
  try {
    const lines = metrics.map(lineOf);
    const started = performance.now();
    for (let index = 0; index < lines.length; index += 5000) {
      await influx.writeLines(lines.slice(index, index + 5000), 'writer', { precision: 'ms' });
    }
    return lines.length / ((performance.now() - started) / 1000);
  } finally {
    await influx.dispose();
  }
}

export const thousands = (value: number) => `${(value / 1000).toFixed(1)}k`;
