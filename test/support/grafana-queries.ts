/**
 * Grafana's side of a dashboard query, for running the provisioned dashboards' queries against a
 * real InfluxDB without Grafana: the panel and variable queries of a dashboard JSON, and their
 * interpolation as Grafana's InfluxDB datasource does it ($timeFilter, $__interval / $interval,
 * template variables: raw for single-value variables, regex-escaped and `(a|b)` for multi-value
 * ones, every value for "All").
 */

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  query: string;
  resultFormat: string;
  /** The panel's minimum interval, e.g. "10s". */
  minInterval?: string;
}

export interface VariableQuery {
  dashboard: string;
  name: string;
  query: string;
  multi: boolean;
  includeAll: boolean;
}

interface DashboardJson {
  title?: string;
  panels?: { type?: string; title?: string; interval?: string; targets?: { refId?: string; query?: string; resultFormat?: string }[] }[];
  templating?: { list?: { name?: string; query?: string; multi?: boolean; includeAll?: boolean }[] };
}

export function panelQueries(dashboard: DashboardJson): PanelQuery[] {
  return (dashboard.panels ?? []).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      dashboard: dashboard.title ?? '?',
      panel: panel.title ?? '?',
      refId: target.refId ?? '?',
      query: target.query ?? '',
      resultFormat: target.resultFormat ?? 'time_series',
      ...(panel.interval !== undefined && { minInterval: panel.interval }),
    })),
  );
}

export function variableQueries(dashboard: DashboardJson): VariableQuery[] {
  return (dashboard.templating?.list ?? []).map((variable) => ({
    dashboard: dashboard.title ?? '?',
    name: variable.name ?? '?',
    query: variable.query ?? '',
    multi: variable.multi ?? false,
    includeAll: variable.includeAll ?? false,
  }));
}

const SECOND = 1000;
/** Grafana's interval rounding (kbn.roundInterval), the steps that matter for dashboards. */
const STEPS: [number, number][] = [
  [1.5 * SECOND, 1 * SECOND],
  [3.5 * SECOND, 2 * SECOND],
  [7.5 * SECOND, 5 * SECOND],
  [12.5 * SECOND, 10 * SECOND],
  [17.5 * SECOND, 15 * SECOND],
  [25 * SECOND, 20 * SECOND],
  [45 * SECOND, 30 * SECOND],
  [90 * SECOND, 60 * SECOND],
  [210 * SECOND, 120 * SECOND],
  [450 * SECOND, 300 * SECOND],
  [1050 * SECOND, 600 * SECOND],
  [2100 * SECOND, 1800 * SECOND],
  [6000 * SECOND, 3600 * SECOND],
];

function roundInterval(ms: number): number {
  for (const [limit, step] of STEPS) if (ms < limit) return step;
  return 3600 * SECOND;
}

function parseInterval(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`not an interval: ${text}`);
  const unit = { ms: 1, s: SECOND, m: 60 * SECOND, h: 3600 * SECOND }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

function formatInterval(ms: number): string {
  if (ms % (3600 * SECOND) === 0) return `${ms / (3600 * SECOND)}h`;
  if (ms % (60 * SECOND) === 0) return `${ms / (60 * SECOND)}m`;
  if (ms % SECOND === 0) return `${ms / SECOND}s`;
  return `${ms}ms`;
}

/** $__interval for a time range, as Grafana computes it: range / max data points, rounded, at least the minimum. */
export function grafanaInterval(fromMs: number, toMs: number, minInterval = '1ms', maxDataPoints = 1000): string {
  return formatInterval(Math.max(parseInterval(minInterval), roundInterval((toMs - fromMs) / maxDataPoints)));
}

const escapeRegex = (value: string) => value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');

export interface Variable {
  values: readonly string[];
  multi: boolean;
  includeAll: boolean;
}

function variableValue(variable: Variable): string {
  if (!variable.multi && !variable.includeAll) return variable.values[0] ?? '';
  if (variable.values.length === 1) return escapeRegex(variable.values[0]!);
  return `(${variable.values.map(escapeRegex).join('|')})`;
}

export interface Interpolation {
  fromMs: number;
  toMs: number;
  minInterval?: string;
  variables: Readonly<Record<string, Variable>>;
}

export function interpolate(query: string, context: Interpolation): string {
  const interval = grafanaInterval(context.fromMs, context.toMs, context.minInterval);
  return query
    .replaceAll('$timeFilter', `time >= ${context.fromMs}ms and time <= ${context.toMs}ms`)
    .replace(/\$__interval\b|\$interval\b/g, interval)
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      const variable = context.variables[name];
      return variable ? variableValue(variable) : whole;
    });
}
