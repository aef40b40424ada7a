/**
 * Draws a panel's query results as an SVG picture, then a PNG (resvg): a time-series panel as
 * lines with its unit and a legend, a table panel as rows. A reviewer's look at what a dashboard
 * will show, not Grafana's rendering.
 */
import { Resvg } from '@resvg/resvg-js';
import type { PanelResult } from '../support/dashboard-data.ts';
import { tableFrame, transformTable, type Cell, type Transformation } from '../support/grafana-tables.ts';

const WIDTH = 900;
const HEIGHT = 360;
const PLOT = { left: 70, right: 20, top: 40, bottom: 110 };
const COLORS = ['#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9', '#705da0', '#508642', '#cca300'];

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Line {
  label: string;
  points: [number, number][];
}

/** A legend as Grafana's alias would give it: $tag_x replaced by the series' tags. */
function label(alias: string | undefined, series: PanelResult['series'][number], column: string): string {
  if (!alias) return [series.name, ...Object.values(series.tags ?? {})].join(' ');
  return alias.replace(/\$tag_(\w+)/g, (_, tag: string) => series.tags?.[tag] ?? '').replace('$col', column);
}

function linesOf(results: readonly PanelResult[], aliases: readonly (string | undefined)[]): Line[] {
  return results.flatMap((result, index) =>
    result.series.map((series) => ({
      label: label(aliases[index], series, series.columns[1] ?? ''),
      points: series.values.filter((row) => typeof row[1] === 'number').map((row) => [Number(row[0]), Number(row[1])] as [number, number]),
    })),
  );
}

function formatValue(value: number, unit: string): string {
  const abs = Math.abs(value);
  const scaled = (divisor: number, suffix: string) => `${(value / divisor).toFixed(1)}${suffix}`;
  if (unit === 'percent') return `${value.toFixed(0)}%`;
  if (unit === 'bytes' || unit === 'Bps' || unit === 'kbytes') {
    const base = unit === 'kbytes' ? 1024 : 1;
    const bytes = value * base;
    const tail = unit === 'Bps' ? '/s' : '';
    if (Math.abs(bytes) >= 1 << 30) return scaled(2 ** 30 / base, ` GiB${tail}`);
    if (Math.abs(bytes) >= 1 << 20) return scaled(2 ** 20 / base, ` MiB${tail}`);
    if (Math.abs(bytes) >= 1 << 10) return scaled(2 ** 10 / base, ` KiB${tail}`);
    return `${bytes.toFixed(0)} B${tail}`;
  }
  if (abs >= 1e6) return scaled(1e6, 'M');
  if (abs >= 1e3) return scaled(1e3, 'k');
  return `${Number(value.toPrecision(3))}${unit === 'ms' ? ' ms' : unit === 's' ? ' s' : ''}`;
}

function timeseriesSvg(title: string, unit: string, lines: readonly Line[]): string {
  const all = lines.flatMap((line) => line.points);
  const [xMin, xMax] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  const [yLow, yHigh] = [Math.min(0, ...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  const yMax = yHigh === yLow ? yLow + 1 : yHigh;
  const width = WIDTH - PLOT.left - PLOT.right;
  const height = HEIGHT - PLOT.top - PLOT.bottom;
  const x = (t: number) => PLOT.left + (xMax === xMin ? width / 2 : ((t - xMin) / (xMax - xMin)) * width);
  const y = (v: number) => PLOT.top + height - ((v - yLow) / (yMax - yLow)) * height;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const value = yLow + f * (yMax - yLow);
    return `<line x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${y(value)}" y2="${y(value)}" stroke="#333"/><text x="${PLOT.left - 6}" y="${y(value) + 4}" fill="#aaa" font-size="11" text-anchor="end">${escape(formatValue(value, unit))}</text>`;
  });
  const times = [xMin, (xMin + xMax) / 2, xMax].map(
    (t) => `<text x="${x(t)}" y="${PLOT.top + height + 16}" fill="#aaa" font-size="11" text-anchor="middle">${new Date(t).toISOString().slice(11, 19)}</text>`,
  );
  const paths = lines.map((line, index) => {
    const color = COLORS[index % COLORS.length];
    const points = line.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const marks = line.points.length === 1 ? `<circle cx="${x(line.points[0]![0])}" cy="${y(line.points[0]![1])}" r="3" fill="${color}"/>` : '';
    return `<polyline points="${points}" fill="none" stroke="${color}" stroke-width="1.5"/>${marks}`;
  });
  const legend = lines.slice(0, 12).map((line, index) => {
    const column = index % 3;
    const row = Math.floor(index / 3);
    const last = line.points.at(-1)?.[1];
    const text = `${line.label}${last === undefined ? '' : ` (last ${formatValue(last, unit)})`}`;
    return `<rect x="${PLOT.left + column * 280}" y="${HEIGHT - PLOT.bottom + 30 + row * 16}" width="10" height="3" fill="${COLORS[index % COLORS.length]}"/><text x="${PLOT.left + column * 280 + 14}" y="${HEIGHT - PLOT.bottom + 35 + row * 16}" fill="#ddd" font-size="11">${escape(text.slice(0, 42))}</text>`;
  });
  return frame(title, [...grid, ...times, ...paths, ...legend].join(''));
}

/** How a table panel is shown: each column's unit (its field override) and the column it sorts by, descending. */
export interface TableLook {
  transformations: readonly Transformation[];
  units: Readonly<Record<string, string>>;
  sortBy?: string;
}

/** A table panel as Grafana shows it: its queries' frames through the panel's transformations, sorted, with units. */
function tableSvg(title: string, results: readonly PanelResult[], look: TableLook): string {
  const table = transformTable(results.map((result) => tableFrame(result.series)), look.transformations);
  const sortColumn = look.sortBy === undefined ? -1 : table.fields.indexOf(look.sortBy);
  const descending = (a: readonly Cell[], b: readonly Cell[]) => Number(b[sortColumn] ?? -Infinity) - Number(a[sortColumn] ?? -Infinity);
  const rows = sortColumn < 0 ? table.rows : [...table.rows].sort(descending);
  const show = (cell: Cell, field: string) => {
    const unit = look.units[field];
    if (typeof cell !== 'number') return String(cell ?? '');
    return unit && unit !== 'none' && unit !== 'string' ? formatValue(cell, unit) : String(Number(cell.toPrecision(4)));
  };
  const cells = [table.fields, ...rows.map((row) => row.map((cell, index) => show(cell, table.fields[index]!)))];
  const text = cells
    .slice(0, 16)
    .map((row, index) =>
      row.map((cell, column) => `<text x="${20 + column * 210}" y="${70 + index * 18}" fill="${index === 0 ? '#fff' : '#ccc'}" font-size="12" font-weight="${index === 0 ? 'bold' : 'normal'}">${escape(cell.slice(0, 30))}</text>`).join(''),
    )
    .join('');
  return frame(title, text);
}

function frame(title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}"><rect width="${WIDTH}" height="${HEIGHT}" fill="#181b1f"/><text x="14" y="24" fill="#fff" font-size="14" font-family="DejaVu Sans, sans-serif">${escape(title)}</text><g font-family="DejaVu Sans, sans-serif">${body}</g></svg>`;
}

/** One panel (its queries' results) as a PNG. */
export function renderPanel(
  panel: { type: string; title: string; unit: string; aliases: readonly (string | undefined)[]; table: TableLook },
  results: readonly PanelResult[],
): Buffer {
  const svg = panel.type === 'table' ? tableSvg(panel.title, results, panel.table) : timeseriesSvg(`${panel.title} [${panel.unit}]`, panel.unit, linesOf(results, panel.aliases));
  return Buffer.from(new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
}
