/**
 * What every dashboard shares: the context (datasource, minimum interval, collected families),
 * time-series and table panels wired to that datasource with visible legends and units, and a
 * grid layout that places panels two per row under their row headers.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { MetricFamily, StackConfig } from '../../config/types.ts';
import { durationSeconds } from '../../config/duration.ts';
import { MetricQuery, type DatasourceRef } from '../influxql.ts';

export interface DashboardContext {
  datasource: DatasourceRef;
  /** No panel asks for points finer than Snap collects them. */
  minInterval: string;
  collected: ReadonlySet<MetricFamily>;
  config: StackConfig;
}

export function dashboardContext(config: StackConfig): DashboardContext {
  return {
    datasource: { type: 'influxdb', uid: config.grafana.datasource.uid },
    minInterval: `${durationSeconds(config.collector.interval)}s`,
    collected: new Set(config.collector.families),
    config,
  };
}

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function targets(context: DashboardContext, queries: readonly MetricQuery[]): MetricQuery[] {
  return queries.map((query, index) => query.refId(REF_IDS[index]!).datasource(context.datasource.uid));
}

export interface TimeseriesOptions {
  description?: string;
  stacked?: boolean;
  min?: number;
  max?: number;
}

export function timeseriesPanel(
  context: DashboardContext,
  title: string,
  unit: string,
  queries: readonly MetricQuery[],
  options: TimeseriesOptions = {},
): timeseries.PanelBuilder {
  const panel = new timeseries.PanelBuilder()
    .title(title)
    .datasource(context.datasource)
    .interval(context.minInterval)
    .unit(unit)
    .targets(targets(context, queries))
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .lineWidth(1)
    .fillOpacity(options.stacked ? 30 : 10)
    .spanNulls(false);
  if (options.description) panel.description(options.description);
  if (options.stacked) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (options.min !== undefined) panel.min(options.min);
  if (options.max !== undefined) panel.max(options.max);
  return panel;
}

/** A column of a table panel: a query in table form (named with MetricQuery.column) and its unit. */
export interface TableColumn {
  query: MetricQuery;
  unit: string;
}

/**
 * A table of one row per group (e.g. per host), several queries merged into columns. Grafana's
 * merge joins rows on every field they share, Time included, and InfluxDB stamps a row with its
 * range's start for an aggregate (mean) but with its point's time for a selector (max, last):
 * Time is dropped first, so rows join on the group's tags alone.
 */
export function tablePanel(context: DashboardContext, title: string, columns: readonly TableColumn[], sortBy: string): table.PanelBuilder {
  const panel = new table.PanelBuilder()
    .title(title)
    .datasource(context.datasource)
    .interval(context.minInterval)
    .targets(targets(context, columns.map((column) => column.query)))
    .withTransformation({ id: 'organize', options: { excludeByName: { Time: true } } })
    .withTransformation({ id: 'merge', options: {} })
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(sortBy).desc(true)]);
  for (const { query, unit } of columns) panel.overrideByName(query.columnLabel(), [{ id: 'unit', value: unit }]);
  return panel;
}

/** A section of a dashboard: a row header and its panels. */
export interface Section {
  title: string;
  panels: readonly (timeseries.PanelBuilder | table.PanelBuilder)[];
}

const PANEL_WIDTH = 12;
const PANEL_HEIGHT = 8;

/** Places sections top to bottom, two panels per line, numbers them, and adds them to the dashboard. */
export function layOut(builder: dashboard.DashboardBuilder, sections: readonly Section[]): dashboard.DashboardBuilder {
  let y = 0;
  let id = 1;
  for (const section of sections) {
    if (section.panels.length === 0) continue;
    builder.withRow(new dashboard.RowBuilder(section.title).id(id++).gridPos({ x: 0, y, w: 24, h: 1 }));
    y += 1;
    section.panels.forEach((panel, index) => {
      const wide = section.panels.length === 1;
      panel.id(id++).gridPos({
        x: wide ? 0 : (index % 2) * PANEL_WIDTH,
        y: y + Math.floor(index / 2) * PANEL_HEIGHT,
        w: wide ? 24 : PANEL_WIDTH,
        h: PANEL_HEIGHT,
      });
      builder.withPanel(panel);
    });
    y += Math.ceil(section.panels.length / 2) * PANEL_HEIGHT;
  }
  return builder;
}

/** The common frame of the stack's dashboards. */
export function stackDashboard(title: string, uid: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['stacklight'])
    .readonly()
    .timezone('browser')
    .time({ from: 'now-1h', to: 'now' })
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair);
}

export function queryVariable(
  context: DashboardContext,
  name: string,
  label: string,
  query: string,
  multi: boolean,
): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(context.datasource)
    .query(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(multi)
    .includeAll(multi);
}
