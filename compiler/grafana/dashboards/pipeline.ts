/**
 * "Pipeline health": the output plugin's own counters (SELF_MONITORING), per collector node:
 * points written and dropped (by reason), retries and failed requests, write latency, the
 * backlog held in memory, and the last error.
 */
import { SELF_MONITORING } from '../../collector/hindsight.ts';
import { metricQuery, type MetricQuery, type Series } from '../influxql.ts';
import { layOut, stackDashboard, tablePanel, timeseriesPanel, type DashboardContext } from './panels.ts';

export const PIPELINE_DASHBOARD_UID = 'stacklight-pipeline';

const { measurement, counters, gauges, dropped, tags } = SELF_MONITORING;

const counter = (field: string): Series => ({ measurement, field, kind: 'counter' });
const gauge = (field: string): Series => ({ measurement, field, kind: 'gauge' });
/** A counter as a per-second rate, one line per node. */
const perNode = (series: Series, legend: string): MetricQuery =>
  metricQuery(series).aggregateWith('last').groupBy(tags.host).alias(`$tag_${tags.host} ${legend}`);

export function pipelineDashboard(context: DashboardContext) {
  const builder = stackDashboard('Pipeline health', PIPELINE_DASHBOARD_UID, 'Hindsight → InfluxDB delivery, from the output plugin\'s own counters.');
  const droppedByReason = metricQuery({ measurement: dropped.measurement, field: dropped.field, kind: 'counter' })
    .aggregateWith('last')
    .groupBy(tags.host, dropped.reasonTag)
    .alias(`$tag_${tags.host} $tag_${dropped.reasonTag}`);
  const lastError = metricQuery(gauge(gauges.lastError)).aggregateWith('last').asTable().groupBy(tags.host).column('last error');
  const lastStatus = metricQuery(gauge(gauges.lastStatus)).aggregateWith('last').asTable().groupBy(tags.host).column('last HTTP status');
  return layOut(builder, [
    {
      title: 'Delivery',
      panels: [
        timeseriesPanel(context, 'Points written', 'pps', [perNode(counter(counters.pointsWritten), 'written')], { min: 0 }),
        timeseriesPanel(context, 'Points dropped, by reason', 'pps', [droppedByReason], {
          min: 0,
          description: 'nan_inf: NaN/Inf values skipped; rejected_by_influxdb: points InfluxDB refused; bad_message: messages that were not metrics.',
        }),
        timeseriesPanel(context, 'Retries and failed requests', 'cps', [
          perNode(counter(counters.retries), 'retries'),
          perNode(counter(counters.requestFailures), 'failed requests'),
          perNode(counter(counters.authFailures), 'auth failures'),
        ], { min: 0 }),
        timeseriesPanel(context, 'Messages batched', 'pps', [perNode(counter(counters.messagesBatched), 'batched')], { min: 0 }),
      ],
    },
    {
      title: 'Latency and backlog',
      panels: [
        timeseriesPanel(context, 'Write latency (last successful batch)', 'ms', [metricQuery(gauge(gauges.batchLatencyMs)).groupBy(tags.host).alias(`$tag_${tags.host}`)], { min: 0 }),
        timeseriesPanel(context, 'Backlog held in memory', 'short', [metricQuery(gauge(gauges.backlogPoints)).aggregateWith('max').groupBy(tags.host).alias(`$tag_${tags.host}`)], { min: 0 }),
        timeseriesPanel(context, 'Retry back-off', 's', [metricQuery(gauge(gauges.backoffSeconds)).aggregateWith('max').groupBy(tags.host).alias(`$tag_${tags.host}`)], { min: 0 }),
      ],
    },
    { title: 'Errors', panels: [tablePanel(context, 'Last error per node', [{ query: lastError, unit: 'string' }, { query: lastStatus, unit: 'none' }], 'last error')] },
  ]).build();
}
