/**
 * Grafana's side of a table panel, for checking the provisioned tables without Grafana: the
 * frames its InfluxDB datasource makes of InfluxQL results in table format (Time, the GROUP BY
 * tags, the value columns; one row per series), and the two transformations the dashboards use:
 * `organize` (excludeByName, renameByName) and `merge` (see merge below).
 */
import type { InfluxSeries } from './influxdb.ts';

export type Cell = string | number | boolean | null;

export interface Frame {
  fields: string[];
  rows: Cell[][];
}

export interface Transformation {
  id: string;
  options?: { excludeByName?: Record<string, boolean>; renameByName?: Record<string, string> };
}

/** One query's result as the datasource's table frame. */
export function tableFrame(series: readonly InfluxSeries[]): Frame {
  const tags = [...new Set(series.flatMap((s) => Object.keys(s.tags ?? {})))];
  const values = [...new Set(series.flatMap((s) => s.columns.slice(1)))];
  const rows = series.flatMap((s) =>
    s.values.map((row) => [
      row[0] as Cell,
      ...tags.map((tag) => s.tags?.[tag] ?? null),
      ...values.map((column) => (row[s.columns.indexOf(column)] ?? null) as Cell),
    ]),
  );
  return { fields: ['Time', ...tags, ...values], rows };
}

function organize(frame: Frame, options: NonNullable<Transformation['options']>): Frame {
  const kept = frame.fields.map((field, index) => ({ field, index })).filter(({ field }) => !options.excludeByName?.[field]);
  return {
    fields: kept.map(({ field }) => options.renameByName?.[field] ?? field),
    rows: frame.rows.map((row) => kept.map(({ index }) => row[index] ?? null)),
  };
}

/**
 * Grafana's merge (grafana-data's merge transformer): the key is the fields every frame has; a
 * row joins an earlier row of its key only if no field they both hold disagrees (a value already
 * there, null aside, must equal the incoming one, null included), else it is a row of its own.
 * One frame, or frames sharing no field, come back unchanged.
 */
function isMergeable(existing: ReadonlyMap<string, Cell>, incoming: ReadonlyMap<string, Cell>): boolean {
  return [...incoming].every(([field, value]) => !existing.has(field) || existing.get(field) === null || existing.get(field) === value);
}

function merge(frames: readonly Frame[]): Frame[] {
  if (frames.length <= 1) return [...frames];
  const fields = [...new Set(frames.flatMap((frame) => frame.fields))];
  const shared = fields.filter((field) => frames.every((frame) => frame.fields.includes(field)));
  if (shared.length === 0) return [...frames];
  const rowsByKey = new Map<string, Map<string, Cell>[]>();
  const ordered: Map<string, Cell>[] = [];
  for (const frame of frames) {
    for (const row of frame.rows) {
      const incoming = new Map(frame.fields.map((field, index) => [field, row[index] ?? null] as const));
      const key = JSON.stringify(shared.map((field) => incoming.get(field)));
      const candidates = rowsByKey.get(key) ?? [];
      const mergeable = candidates.find((existing) => isMergeable(existing, incoming));
      if (mergeable) {
        for (const [field, value] of incoming) mergeable.set(field, value);
      } else {
        candidates.push(incoming);
        ordered.push(incoming);
      }
      rowsByKey.set(key, candidates);
    }
  }
  return [{ fields, rows: ordered.map((cells) => fields.map((field) => cells.get(field) ?? null)) }];
}

/** A table panel's frames through its transformations; the result is one frame. */
export function transformTable(frames: readonly Frame[], transformations: readonly Transformation[]): Frame {
  let current = [...frames];
  for (const transformation of transformations) {
    if (transformation.id === 'organize') current = current.map((frame) => organize(frame, transformation.options ?? {}));
    else if (transformation.id === 'merge') current = merge(current);
    else throw new Error(`transformation ${transformation.id} is not emulated here`);
  }
  if (current.length !== 1) throw new Error(`a table panel ends with ${current.length} frames: Grafana would show one at a time`);
  return current[0]!;
}
