/**
 * A small typed InfluxQL query builder for Grafana's InfluxDB datasource (the foundation SDK has
 * none). Queries are built from the metric catalogue, so a panel can only name a metric Snap
 * collects, and a counter is always shown as a rate.
 *
 *   metricQuery(ref('interface', 'bytes_recv')).where(HOST).groupBy('interface').alias('$tag_interface rx')
 *   → SELECT non_negative_derivative(mean("value"), 1s) FROM "intel.procfs.iface.bytes_recv"
 *     WHERE "hostname" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "interface" fill(null)
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { MetricFamily } from '../config/types.ts';
import { METRIC_FAMILIES, measurementName, type FamilyDefinition, type MetricDefinition, type MetricKind } from '../collector/metrics.ts';

/** The field the output plugin writes a Snap metric's value to. */
export const VALUE_FIELD = 'value';

/** What a query reads: one field of one measurement, and whether it is a counter. */
export interface Series {
  measurement: string;
  field: string;
  kind: MetricKind;
}

/** A metric of the catalogue. */
export interface MetricRef extends Series {
  family: MetricFamily;
  definition: FamilyDefinition;
  metric: MetricDefinition;
  measurement: string;
}

export function ref(family: MetricFamily, path: string): MetricRef {
  const definition = METRIC_FAMILIES[family];
  const metric = definition.metrics.find((candidate) => candidate.path === path);
  if (!metric) throw new Error(`no metric ${path} in family ${family}`);
  return { family, definition, metric, measurement: measurementName(definition, metric), field: VALUE_FIELD, kind: metric.kind };
}

/** Every metric of a family, in catalogue order. */
export function refs(family: MetricFamily, paths: readonly string[]): MetricRef[] {
  return paths.map((path) => ref(family, path));
}

const quoteIdentifier = (name: string) => `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const quoteString = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** A WHERE condition on a tag. */
export type Condition =
  | { tag: string; equals: string }
  /** Matches a Grafana variable, which may hold several values (`$host` → `(a|b)`). */
  | { tag: string; variable: string };

export function renderCondition(condition: Condition): string {
  return 'equals' in condition
    ? `${quoteIdentifier(condition.tag)} = ${quoteString(condition.equals)}`
    : `${quoteIdentifier(condition.tag)} =~ /^$${condition.variable}$/`;
}

export type Aggregate = 'mean' | 'max' | 'min' | 'last' | 'sum';

/** The datasource a query runs against, by uid. */
export interface DatasourceRef {
  type: 'influxdb';
  uid: string;
}

/** Grafana's InfluxDB query model (the `raw query` mode). */
export interface InfluxQLTarget extends cog.Dataquery {
  refId: string;
  datasource: DatasourceRef;
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table';
  alias?: string;
}

/** A query of one series (a metric of the catalogue, or one of the pipeline's own). */
export class MetricQuery implements cog.Builder<cog.Dataquery> {
  private conditions: Condition[] = [];
  private tags: string[] = [];
  private aggregate: Aggregate = 'mean';
  private legend?: string;
  private expression?: (select: string) => string;
  private format: 'time_series' | 'table' = 'time_series';
  private overTime = true;
  private refIdValue = 'A';
  private datasourceUid = '';
  private columnName = VALUE_FIELD;
  private summedTag?: string;

  constructor(readonly series: Series) {}

  where(...conditions: Condition[]): this {
    this.conditions.push(...conditions);
    return this;
  }

  groupBy(...tags: string[]): this {
    this.tags.push(...tags);
    return this;
  }

  aggregateWith(aggregate: Aggregate): this {
    this.aggregate = aggregate;
    return this;
  }

  /** Arithmetic on the selected value, e.g. (v) => `100 - ${v}`. */
  map(expression: (select: string) => string): this {
    this.expression = expression;
    return this;
  }

  /** The result column's name (tables merge queries by column). */
  column(name: string): this {
    this.columnName = name;
    return this;
  }

  columnLabel(): string {
    return this.columnName;
  }

  /** Adds up the per-`tag` series into one per group (e.g. every interface of a host). */
  sumAcross(tag: string): this {
    this.summedTag = tag;
    return this;
  }

  alias(alias: string): this {
    this.legend = alias;
    return this;
  }

  /** One row per group over the whole time range (for tables), instead of a series over time. */
  asTable(): this {
    this.format = 'table';
    this.overTime = false;
    return this;
  }

  refId(refId: string): this {
    this.refIdValue = refId;
    return this;
  }

  datasource(uid: string): this {
    this.datasourceUid = uid;
    return this;
  }

  /** The InfluxQL text, with Grafana's macros ($timeFilter, $__interval) and variables unexpanded. */
  text(): string {
    const value = `${this.aggregate}(${quoteIdentifier(this.series.field)})`;
    // Counters only grow: their per-second rate is what a reader wants, and resets are not drops.
    const rate = this.series.kind === 'counter' && this.overTime ? `non_negative_derivative(${value}, 1s)` : value;
    const where = [...this.conditions.map(renderCondition), '$timeFilter'].join(' AND ');
    const time = this.overTime ? ['time($__interval)'] : [];
    const groups = [...time, ...this.tags.map(quoteIdentifier)];
    const fill = this.overTime ? ' fill(null)' : '';
    const column = quoteIdentifier(this.columnName);
    const select = (expression: string) => (this.expression ? this.expression(expression) : expression);
    if (this.summedTag) {
      const inner = `SELECT ${rate} AS ${quoteIdentifier(VALUE_FIELD)} FROM ${quoteIdentifier(this.series.measurement)} WHERE ${where} GROUP BY ${[...groups, quoteIdentifier(this.summedTag)].join(', ')}`;
      return `SELECT ${select(`sum(${quoteIdentifier(VALUE_FIELD)})`)} AS ${column} FROM (${inner}) WHERE $timeFilter${groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : ''}${fill}`;
    }
    const groupBy = groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '';
    return `SELECT ${select(rate)} AS ${column} FROM ${quoteIdentifier(this.series.measurement)} WHERE ${where}${groupBy}${fill}`;
  }

  build(): InfluxQLTarget {
    return {
      refId: this.refIdValue,
      datasource: { type: 'influxdb', uid: this.datasourceUid },
      query: this.text(),
      rawQuery: true,
      resultFormat: this.format,
      ...(this.legend !== undefined && { alias: this.legend }),
      _implementsDataqueryVariant() {},
    };
  }
}

export function metricQuery(series: Series): MetricQuery {
  return new MetricQuery(series);
}

/** A template variable's query: the values of a tag on a measurement, optionally narrowed. */
export function tagValuesQuery(metric: Series, tag: string, ...conditions: Condition[]): string {
  const where = conditions.length > 0 ? ` WHERE ${conditions.map(renderCondition).join(' AND ')}` : '';
  return `SHOW TAG VALUES FROM ${quoteIdentifier(metric.measurement)} WITH KEY = ${quoteIdentifier(tag)}${where}`;
}
