/**
 * The metric families Snap collects: one entry per collector plugin, listing every metric with
 * its kind and unit. The Snap task is generated from this list, and so are the dashboards'
 * queries, so a metric and its panel cannot drift apart.
 *
 * Facts from the plugins' sources (snap-plugin-collector-*): names, the dynamic namespace element
 * (written as a tag), the value types, and what each plugin reads from the host.
 */
import type { MetricFamily } from '../config/types.ts';

/**
 * gauge: a level at collection time; counter: a monotonically growing total (show its
 * non-negative derivative); rate: already a per-second rate computed by the plugin.
 */
export type MetricKind = 'gauge' | 'counter' | 'rate';

/** Units in Grafana's vocabulary, so dashboards can use them as they are. */
export type MetricUnit =
  | 'percent'
  | 'bytes'
  | 'kbytes'
  | 'short'
  | 'pps'
  | 'Bps'
  | 'iops'
  | 'ms'
  | 'none';

/** The value type the plugin publishes, which fixes the InfluxDB field type. */
export type ValueType = 'float' | 'integer' | 'string';

export interface MetricDefinition {
  /** The namespace after the family prefix (and after the dynamic element, if any). */
  readonly path: string;
  readonly kind: MetricKind;
  readonly unit: MetricUnit;
  readonly type: ValueType;
}

/**
 * ptrace: root with CAP_SYS_PTRACE, to read other processes' /proc entries;
 * privileged: a privileged container, for raw device access.
 */
export interface Privilege {
  readonly level: 'ptrace' | 'privileged';
  readonly why: string;
}

export type HostMountName = 'proc' | 'dev' | 'sys';

export interface FamilyDefinition {
  /** The plugin binary in the snap image. */
  readonly plugin: string;
  /** The static namespace before the dynamic element, e.g. ["intel", "procfs", "cpu"]. */
  readonly prefix: readonly string[];
  /** The dynamic element's name (a tag on every point), if the family has one. */
  readonly dynamic?: string;
  readonly metrics: readonly MetricDefinition[];
  /** Plugin settings that point at host mounts: setting name → which mount. */
  readonly hostPaths: Readonly<Record<string, HostMountName>>;
  /** More than reading world-readable /proc files, if the family needs it. */
  readonly privilege?: Privilege;
}

function metrics(kind: MetricKind, unit: MetricUnit, type: ValueType, paths: readonly string[]): MetricDefinition[] {
  return paths.map((path) => ({ path, kind, unit, type }));
}

function combine(left: readonly string[], right: readonly string[], join = '_'): string[] {
  return left.flatMap((a) => right.map((b) => `${a}${join}${b}`));
}

const CPU_MODES = ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'];
const PROCESS_STATES = ['dead', 'parked', 'running', 'sleeping', 'stopped', 'tracing', 'waiting', 'wakekill', 'waking', 'zombie'];
const READ_WRITE = ['read', 'write'];
const RECV_SENT = ['recv', 'sent'];
const FREE_RESERVED_USED = ['free', 'reserved', 'used'];

const PROC = { proc_path: 'proc' } as const;

export const METRIC_FAMILIES: Readonly<Record<MetricFamily, FamilyDefinition>> = {
  cpu: {
    plugin: 'snap-plugin-collector-cpu',
    prefix: ['intel', 'procfs', 'cpu'],
    dynamic: 'cpuID',
    metrics: metrics('gauge', 'percent', 'float', CPU_MODES.map((mode) => `${mode}_percentage`)),
    hostPaths: PROC,
  },
  filesystem: {
    plugin: 'snap-plugin-collector-df',
    prefix: ['intel', 'procfs', 'filesystem'],
    dynamic: 'filesystem',
    metrics: [
      // The plugin reports space in KiB (statfs blocks × block size / 1024).
      ...metrics('gauge', 'kbytes', 'integer', combine(['space'], FREE_RESERVED_USED)),
      ...metrics('gauge', 'short', 'integer', combine(['inodes'], FREE_RESERVED_USED)),
      ...metrics('gauge', 'percent', 'float', combine(['space_percent', 'inodes_percent'], FREE_RESERVED_USED)),
      ...metrics('gauge', 'none', 'string', ['device_name', 'device_type']),
    ],
    // The plugin lists the host's mounts from <proc_path>/1/mountinfo but calls statfs on those
    // paths in its own mount namespace: only mount points that exist in the container (its root,
    // on the node's root filesystem) report; see docs/known-limits.md.
    hostPaths: PROC,
  },
  disk: {
    plugin: 'snap-plugin-collector-disk',
    prefix: ['intel', 'procfs', 'disk'],
    dynamic: 'disk',
    metrics: [
      ...metrics('rate', 'iops', 'float', combine(['ops'], READ_WRITE)),
      ...metrics('rate', 'Bps', 'float', combine(['octets'], READ_WRITE)),
      ...metrics('rate', 'iops', 'float', combine(['merged'], READ_WRITE)),
      // Average milliseconds per operation over the interval.
      ...metrics('gauge', 'ms', 'float', combine(['time'], READ_WRITE)),
    ],
    hostPaths: PROC,
  },
  interface: {
    plugin: 'snap-plugin-collector-interface',
    prefix: ['intel', 'procfs', 'iface'],
    dynamic: 'interface',
    metrics: [
      ...metrics('counter', 'bytes', 'integer', combine(['bytes'], RECV_SENT)),
      ...metrics('counter', 'short', 'integer', combine(['packets', 'errs', 'drop', 'fifo', 'frame', 'compressed', 'multicast'], RECV_SENT)),
    ],
    hostPaths: PROC,
  },
  load: {
    plugin: 'snap-plugin-collector-load',
    prefix: ['intel', 'procfs', 'load'],
    metrics: [
      ...metrics('gauge', 'short', 'float', ['min1', 'min5', 'min15', 'min1_rel', 'min5_rel', 'min15_rel']),
      ...metrics('gauge', 'short', 'integer', ['runnable_scheduling', 'existing_scheduling']),
    ],
    hostPaths: PROC,
  },
  meminfo: {
    plugin: 'snap-plugin-collector-meminfo',
    prefix: ['intel', 'procfs', 'meminfo'],
    metrics: metrics('gauge', 'bytes', 'integer', ['buffers', 'cached', 'mem_free', 'mem_used']),
    hostPaths: PROC,
  },
  processes: {
    plugin: 'snap-plugin-collector-processes',
    prefix: ['intel', 'procfs', 'processes'],
    metrics: metrics('gauge', 'short', 'integer', PROCESS_STATES),
    hostPaths: PROC,
    privilege: { level: 'ptrace', why: 'per-process counters are read from other users\' /proc/<pid>/io' },
  },
  swap: {
    plugin: 'snap-plugin-collector-swap',
    prefix: ['intel', 'procfs', 'swap'],
    metrics: [
      ...metrics('gauge', 'bytes', 'float', combine(['all'], ['cached_bytes', 'free_bytes', 'used_bytes'], '/')),
      ...metrics('rate', 'short', 'float', combine(['io'], ['in_pages_per_sec', 'out_pages_per_sec'], '/')),
    ],
    hostPaths: PROC,
  },
  smart: {
    plugin: 'snap-plugin-collector-smart',
    prefix: ['intel', 'disk'],
    dynamic: 'device',
    metrics: metrics('gauge', 'short', 'integer', [
      'smart/reallocatedsectors',
      'smart/poweronhours',
      'smart/powercyclecount',
      'smart/pendingsectors',
      'smart/uncorrectablesectors',
    ]),
    hostPaths: { proc_path: 'proc', dev_path: 'dev' },
    privilege: { level: 'privileged', why: 'SMART commands go to raw disk devices' },
  },
};

/** The Snap namespace of a metric, with `*` for the dynamic element. */
export function snapNamespace(family: FamilyDefinition, metric: MetricDefinition): string {
  const dynamic = family.dynamic ? ['*'] : [];
  return '/' + [...family.prefix, ...dynamic, metric.path].join('/');
}

/** The InfluxDB measurement of a metric: the static namespace parts joined with ".". */
export function measurementName(family: FamilyDefinition, metric: MetricDefinition): string {
  return [...family.prefix, ...metric.path.split('/')].join('.');
}
