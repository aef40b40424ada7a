/**
 * "Cluster": every node at a glance (CPU, memory, filesystem fill, network), one line per node,
 * and a table of the busiest nodes over the selected time range.
 */
import { SNAP } from '../../facts.ts';
import { metricQuery, ref, type MetricQuery } from '../influxql.ts';
import { layOut, stackDashboard, tablePanel, timeseriesPanel, type DashboardContext, type Section, type TableColumn } from './panels.ts';

export const CLUSTER_DASHBOARD_UID = 'stacklight-cluster';

const HOST = SNAP.nodeTag;
const ALL_CPUS = { tag: 'cpuID', equals: 'all' } as const;
const byHost = (query: MetricQuery) => query.groupBy(HOST).alias(`$tag_${HOST}`);

const cpuBusy = () => metricQuery(ref('cpu', 'idle_percentage')).where(ALL_CPUS).map((idle) => `100 - ${idle}`);
const memoryUsed = () => metricQuery(ref('meminfo', 'mem_used'));
/** The fullest filesystem of each node. */
const filesystemFill = () => metricQuery(ref('filesystem', 'space_percent_used')).aggregateWith('max');

function glance(context: DashboardContext): Section {
  const has = (family: Parameters<typeof context.collected.has>[0]) => context.collected.has(family);
  return {
    title: 'Every node',
    panels: [
      ...(has('cpu') ? [timeseriesPanel(context, 'CPU busy', 'percent', [byHost(cpuBusy())], { min: 0, max: 100 })] : []),
      ...(has('meminfo') ? [timeseriesPanel(context, 'Memory used', 'bytes', [byHost(memoryUsed())], { min: 0 })] : []),
      ...(has('filesystem')
        ? [timeseriesPanel(context, 'Fullest filesystem', 'percent', [byHost(filesystemFill())], { min: 0, max: 100, description: 'The highest space usage among each node\'s filesystems.' })]
        : []),
      ...(has('interface')
        ? [
            timeseriesPanel(
              context,
              'Network traffic (all interfaces)',
              'Bps',
              [
                byHost(metricQuery(ref('interface', 'bytes_recv')).sumAcross('interface')).alias(`$tag_${HOST} received`),
                byHost(metricQuery(ref('interface', 'bytes_sent')).sumAcross('interface')).alias(`$tag_${HOST} sent`),
              ],
            ),
          ]
        : []),
    ],
  };
}

function busiest(context: DashboardContext): Section {
  const columns: TableColumn[] = [
    ...(context.collected.has('cpu') ? [{ query: cpuBusy().asTable().groupBy(HOST).column('CPU busy %'), unit: 'percent' }] : []),
    ...(context.collected.has('meminfo') ? [{ query: memoryUsed().asTable().groupBy(HOST).column('memory used'), unit: 'bytes' }] : []),
    ...(context.collected.has('filesystem') ? [{ query: filesystemFill().asTable().groupBy(HOST).column('fullest filesystem %'), unit: 'percent' }] : []),
  ];
  if (columns.length === 0) return { title: 'Busiest nodes', panels: [] };
  const panel = tablePanel(context, 'Busiest nodes (over the time range)', columns, columns[0]!.query.columnLabel()).withTransformation({
    id: 'organize',
    options: { renameByName: { [HOST]: 'node' } },
  });
  return { title: 'Busiest nodes', panels: [panel] };
}

export function clusterDashboard(context: DashboardContext) {
  const builder = stackDashboard('Cluster', CLUSTER_DASHBOARD_UID, 'Every node at a glance, and the busiest nodes.');
  return layOut(builder, [glance(context), busiest(context)]).build();
}
