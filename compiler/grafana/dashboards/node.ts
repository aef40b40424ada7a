/**
 * "Node": one node in detail. Every panel is filtered by the host variable; filesystem, disk and
 * interface panels also by their own variables. Sections exist only for collected families.
 */
import type { MetricFamily } from '../../config/types.ts';
import { SNAP } from '../../facts.ts';
import { METRIC_FAMILIES } from '../../collector/metrics.ts';
import { metricQuery, ref, refs, tagValuesQuery, type Condition, type MetricQuery } from '../influxql.ts';
import { layOut, queryVariable, stackDashboard, timeseriesPanel, type DashboardContext, type Section } from './panels.ts';

export const NODE_DASHBOARD_UID = 'stacklight-node';

const HOST: Condition = { tag: SNAP.nodeTag, variable: 'host' };

/** One query per metric of a family on the selected host, each with its own legend. */
function perMetric(family: MetricFamily, paths: readonly string[], legend: (path: string) => string, ...extra: Condition[]): MetricQuery[] {
  return refs(family, paths).map((metric) => metricQuery(metric).where(HOST, ...extra).alias(legend(metric.metric.path)));
}

/** One query of a metric split by the family's dynamic element (a disk, an interface...). */
function perInstance(family: MetricFamily, path: string, legend: string, variable: string): MetricQuery {
  const metric = ref(family, path);
  const tag = metric.definition.dynamic!;
  return metricQuery(metric).where(HOST, { tag, variable }).groupBy(tag).alias(`$tag_${tag} ${legend}`);
}

function cpu(context: DashboardContext): Section {
  const modes = ['user', 'system', 'nice', 'iowait', 'irq', 'softirq', 'steal'];
  return {
    title: 'CPU',
    panels: [
      timeseriesPanel(context, 'CPU usage by mode (all CPUs)', 'percent', perMetric('cpu', modes.map((mode) => `${mode}_percentage`), (path) => path.replace('_percentage', ''), { tag: 'cpuID', equals: 'all' }), {
        stacked: true,
        min: 0,
        description: 'Share of CPU time per mode, averaged over all CPUs; idle is the rest.',
      }),
    ],
  };
}

function load(context: DashboardContext): Section {
  return {
    title: 'Load',
    panels: [
      timeseriesPanel(context, 'Load average', 'short', perMetric('load', ['min1', 'min5', 'min15'], (path) => path.replace('min', '') + ' min')),
      timeseriesPanel(context, 'Load average per core', 'short', perMetric('load', ['min1_rel', 'min5_rel', 'min15_rel'], (path) => path.replace('min', '').replace('_rel', '') + ' min'), {
        description: 'Load divided by the number of CPUs: above 1, runnable work waits for a CPU.',
      }),
    ],
  };
}

function memory(context: DashboardContext): Section {
  return {
    title: 'Memory',
    panels: [
      timeseriesPanel(context, 'Memory', 'bytes', perMetric('meminfo', ['mem_used', 'cached', 'buffers', 'mem_free'], (path) => path.replace('mem_', '')), {
        stacked: true,
        min: 0,
      }),
    ],
  };
}

function processes(context: DashboardContext): Section {
  const states = ['running', 'sleeping', 'waiting', 'stopped', 'zombie', 'dead', 'parked', 'tracing', 'wakekill', 'waking'];
  return { title: 'Processes', panels: [timeseriesPanel(context, 'Processes by state', 'short', perMetric('processes', states, (path) => path), { min: 0 })] };
}

function filesystem(context: DashboardContext): Section {
  return {
    title: 'Filesystems',
    panels: [
      timeseriesPanel(context, 'Filesystem space used', 'percent', [perInstance('filesystem', 'space_percent_used', 'used', 'filesystem')], { min: 0, max: 100 }),
      timeseriesPanel(context, 'Filesystem inodes used', 'percent', [perInstance('filesystem', 'inodes_percent_used', 'used', 'filesystem')], { min: 0, max: 100 }),
    ],
  };
}

function disk(context: DashboardContext): Section {
  const split = (path: string, legend: string) => perInstance('disk', path, legend, 'disk');
  return {
    title: 'Disks',
    panels: [
      timeseriesPanel(context, 'Disk operations', 'iops', [split('ops_read', 'read'), split('ops_write', 'write')]),
      timeseriesPanel(context, 'Disk throughput', 'Bps', [split('octets_read', 'read'), split('octets_write', 'write')]),
      timeseriesPanel(context, 'Disk time per operation', 'ms', [split('time_read', 'read'), split('time_write', 'write')]),
      timeseriesPanel(context, 'Disk merged operations', 'iops', [split('merged_read', 'read'), split('merged_write', 'write')]),
    ],
  };
}

function network(context: DashboardContext): Section {
  const split = (path: string, legend: string) => perInstance('interface', path, legend, 'interface');
  return {
    title: 'Network',
    panels: [
      timeseriesPanel(context, 'Network traffic', 'Bps', [split('bytes_recv', 'received'), split('bytes_sent', 'sent')]),
      timeseriesPanel(context, 'Network packets', 'pps', [split('packets_recv', 'received'), split('packets_sent', 'sent')]),
      timeseriesPanel(context, 'Network errors', 'pps', [split('errs_recv', 'received'), split('errs_sent', 'sent')]),
      timeseriesPanel(context, 'Network drops', 'pps', [split('drop_recv', 'received'), split('drop_sent', 'sent')]),
    ],
  };
}

function swap(context: DashboardContext): Section {
  return {
    title: 'Swap',
    panels: [
      timeseriesPanel(context, 'Swap usage', 'bytes', perMetric('swap', ['all/used_bytes', 'all/cached_bytes', 'all/free_bytes'], (path) => path.slice('all/'.length, -'_bytes'.length)), {
        stacked: true,
        min: 0,
      }),
      // "in" is pages read back from swap, "out" pages written to it.
      timeseriesPanel(context, 'Swap activity', 'short', perMetric('swap', ['io/in_pages_per_sec', 'io/out_pages_per_sec'], (path) => `swapped ${path.slice('io/'.length, -'_pages_per_sec'.length)} (pages/s)`)),
    ],
  };
}

const SECTIONS: readonly [MetricFamily, (context: DashboardContext) => Section][] = [
  ['cpu', cpu],
  ['load', load],
  ['meminfo', memory],
  ['processes', processes],
  ['filesystem', filesystem],
  ['disk', disk],
  ['interface', network],
  ['swap', swap],
];

/** The host list, from the first collected family's first metric (every metric carries the tag). */
function hostVariableQuery(context: DashboardContext): string {
  const family = [...context.collected][0]!;
  return tagValuesQuery(ref(family, METRIC_FAMILIES[family].metrics[0]!.path), SNAP.nodeTag);
}

export function nodeDashboard(context: DashboardContext) {
  const builder = stackDashboard('Node', NODE_DASHBOARD_UID, 'One node in detail: CPU, load, memory, processes, filesystems, disks, network, swap.');
  builder.withVariable(queryVariable(context, 'host', 'Host', hostVariableQuery(context), false));
  const instanceVariables: [MetricFamily, string, string, string][] = [
    ['filesystem', 'filesystem', 'Filesystem', 'space_percent_used'],
    ['disk', 'disk', 'Disk', 'ops_read'],
    ['interface', 'interface', 'Interface', 'bytes_recv'],
  ];
  for (const [family, variable, label, path] of instanceVariables) {
    if (!context.collected.has(family)) continue;
    builder.withVariable(queryVariable(context, variable, label, tagValuesQuery(ref(family, path), variable, HOST), true));
  }
  const sections = SECTIONS.filter(([family]) => context.collected.has(family)).map(([, section]) => section(context));
  return layOut(builder, sections).build();
}
