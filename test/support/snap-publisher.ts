/**
 * A mock of Snap with its Heka publisher (intelsdi-x/snap-plugin-publisher-heka), for tests:
 * fake nodes collect the metric families of a StackConfig (the typed catalogue in
 * compiler/collector/metrics.ts) and publish them as framed Heka messages over TCP, as the
 * publisher does (snapheka_client.go createHekaMessage/setHekaMessageFields):
 *
 * - Uuid random (v4), Timestamp = time of publishing (ns), Type "snap.heka", Logger
 *   "snap.heka.logger", Severity 6, Payload = the metric as Snap JSON, Pid = the plugin's pid,
 *   Hostname = os.Hostname() of the collector pod;
 * - Fields in order: one STRING per dynamic namespace element (cpuID, filesystem, disk,
 *   interface, device), one STRING per Snap tag (`plugin_running_on` = os.Hostname(), the
 *   compiler's node tag `hostname` = the node's name) in Go map order (random), `dimensions`
 *   (STRING array naming those fields, same order), `name` (static namespace parts joined
 *   with "."), `value` (DOUBLE/INTEGER/STRING/BOOL), `timestamp` (INTEGER, collection time, ns).
 *
 * Connections: the publisher dials once per Publish call (one call per task run, carrying every
 * metric of that run) and closes after the last message. A refused dial makes the real plugin
 * panic (the run's metrics are lost); here publish() resolves with ok=false and the records
 * say 'refused'.
 *
 * Everything sent is recorded in `sent`, so a test can compare InfluxDB's content with it.
 * `craft` builds bad input (garbage, truncated frames, missing uuid, wrong value types, NaN,
 * a 60 KiB string, nasty tag values...) for publishCrafted()/sendRaw().
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { MetricFamily, StackConfig } from '../../compiler/config/types.ts';
import {
  METRIC_FAMILIES,
  measurementName,
  type FamilyDefinition,
  type MetricDefinition,
} from '../../compiler/collector/metrics.ts';
import { SNAP } from '../../compiler/facts.ts';
import {
  concatBytes,
  doubleField,
  encodeField,
  encodeFramed,
  integerField,
  nowNs,
  randomUuid,
  stringField,
  boolField,
  uuidToString,
  type HekaField,
  type HekaMessage,
} from './heka.ts';

export const SNAP_HEKA_TYPE = 'snap.heka';
export const SNAP_HEKA_LOGGER = 'snap.heka.logger';
export const SNAP_HEKA_SEVERITY = 6;
/** The tag snapd adds to every metric: the host name of the machine snapd runs on. */
export const PLUGIN_RUNNING_ON = 'plugin_running_on';

/** The dynamic namespace element values each family reports on a fake node. */
export const DEFAULT_DYNAMIC_VALUES: Readonly<Partial<Record<MetricFamily, readonly string[]>>> = {
  cpu: ['all', '0', '1'],
  filesystem: ['rootfs'],
  disk: ['sda'],
  interface: ['eth0'],
  smart: ['sda'],
};

/**
 * Tags a collector adds to its metrics besides Snap's: the interface collector adds the
 * interface's MTU, and its MAC address as text when it has one (images/snap/patches/).
 */
export const FAMILY_TAGS: Readonly<Partial<Record<MetricFamily, (instance: string) => Record<string, string>>>> = {
  interface: (name): Record<string, string> =>
    name === 'lo' ? { mtu: '65536' } : { mtu: '1500', hardware_addr: `02:00:00:00:00:${(name.length % 256).toString(16).padStart(2, '0')}` },
};

export interface FakeNode {
  /** The Kubernetes node name: the value of the compiler's Snap tag (SNAP.nodeTag, `hostname`). */
  name: string;
  /**
   * os.Hostname() inside the collector pod: Message Hostname and the `plugin_running_on` tag.
   * The pod runs with hostNetwork (so it shares the node's UTS namespace): on a real cluster this
   * is the node's host name, which need not equal the node name. Defaults differ on purpose.
   */
  hostname: string;
  /** The heka publisher plugin's process id (Message Pid). */
  pid: number;
}

export type MetricValue = number | bigint | string | boolean;
export type SnapValueType = 'float' | 'integer' | 'string' | 'bool';

/** One collected metric, before publishing. */
export interface SnapMetric {
  node: FakeNode;
  family: MetricFamily;
  definition: MetricDefinition;
  /** The full namespace, with the dynamic element's value. */
  namespace: string[];
  /** The `name` field: the static namespace parts joined with "." (= measurementName()). */
  name: string;
  dynamic?: { name: string; value: string };
  /** Snap tags: plugin_running_on, the node tag, and the family's own (FAMILY_TAGS). */
  tags: Record<string, string>;
  value: MetricValue;
  valueType: SnapValueType;
  /** Collection time (ns): Fields[timestamp]. */
  timestampNs: bigint;
}

export interface SentMessage {
  /** Order of sending, from 0. */
  seq: number;
  /** The metric, for messages built from one (crafted variants keep it: check `crafted`). */
  metric?: SnapMetric;
  /** Set for publishCrafted()/sendRaw() items: the test's label. */
  crafted?: string;
  message?: HekaMessage;
  /** The framed bytes written. */
  bytes: Uint8Array;
  uuid?: string;
  publishedAtNs: bigint;
  /** Which TCP connection carried it (1, 2, ...). */
  connection: number;
  /** written: the socket accepted it; refused: the dial failed; failed: the write failed. */
  status: 'written' | 'refused' | 'failed';
  error?: string;
}

export interface PublishResult {
  ok: boolean;
  records: SentMessage[];
  error?: string;
}

export interface SnapPublisherOptions {
  /** Hindsight's heka_tcp port. */
  port: number;
  /** Defaults to 127.0.0.1 (Snap's config says localhost, which resolves to it). */
  host?: string;
  /** The config whose collector.families are collected. */
  config: StackConfig;
  /** Fake nodes: a count (node-1...) or the nodes themselves. Default 1. */
  nodes?: number | (Partial<FakeNode> & { name: string })[];
  /** Seed of the value generator, tag order and uuids (default: random). */
  seed?: number;
  /** Go map iteration order is random (default); 'sorted' for reproducible bytes. */
  tagOrder?: 'random' | 'sorted';
  dynamicValues?: Partial<Record<MetricFamily, readonly string[]>>;
  /** Only these families instead of config.collector.families. */
  families?: readonly MetricFamily[];
  /** Timeout of one dial+send, ms (default 5000). */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// deterministic randomness

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

// ---------------------------------------------------------------------------------------------
// the message Snap's publisher builds

export interface MessageOptions {
  uuid: Uint8Array;
  publishTimeNs: bigint;
  /** Order of the Snap tags (Go map iteration); default: as in metric.tags. */
  tagOrder?: readonly string[];
}

function goTime(ns: bigint): string {
  // RFC 3339 with nanoseconds, as Go's time.Time marshals to JSON
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso}${frac ? `.${frac}` : ''}Z`;
}


/** The metric as Snap JSON (plugin.MarshalMetricTypes of one metric): the message Payload. */
export function snapJson(metric: SnapMetric): string {
  // the dynamic element follows the family's static prefix and carries its name
  const dynamicIndex = metric.dynamic ? METRIC_FAMILIES[metric.family].prefix.length : -1;
  const namespace = metric.namespace.map((value, i) => ({
    Value: value,
    Description: '',
    Name: i === dynamicIndex && metric.dynamic ? metric.dynamic.name : '',
  }));
  const body = {
    namespace,
    last_advertised_time: '0001-01-01T00:00:00Z',
    version: 0,
    config: null,
    data: '__DATA__',
    tags: metric.tags,
    Unit_: '',
    description: '',
    timestamp: goTime(metric.timestampNs),
  };
  // bigints keep every digit in the JSON text, as Go's encoding/json writes int64
  const value = metric.value;
  const data =
    typeof value === 'bigint' ? value.toString() : typeof value === 'number' && !Number.isFinite(value) ? 'null' : JSON.stringify(value);
  return JSON.stringify([body]).replace('"__DATA__"', data);
}

function valueField(value: MetricValue, type: SnapValueType): HekaField {
  switch (type) {
    case 'float':
      return doubleField('value', Number(value));
    case 'integer':
      // Snap's publisher casts uint64 to int64: values >= 2^63 wrap to negative numbers
      return integerField('value', BigInt.asIntN(64, BigInt(value)));
    case 'string':
      return stringField('value', String(value));
    case 'bool':
      return boolField('value', Boolean(value));
  }
}

/** The Heka message Snap's publisher sends for one metric (pure: no I/O). */
export function snapHekaMessage(metric: SnapMetric, options: MessageOptions): HekaMessage {
  const fields: HekaField[] = [];
  const dimensions: string[] = [];
  if (metric.dynamic) {
    fields.push(stringField(metric.dynamic.name, metric.dynamic.value));
    dimensions.push(metric.dynamic.name);
  }
  for (const tag of options.tagOrder ?? Object.keys(metric.tags)) {
    const value = metric.tags[tag];
    if (value === undefined) continue;
    fields.push(stringField(tag, value));
    dimensions.push(tag);
  }
  if (dimensions.length > 0) fields.push(stringField('dimensions', ...dimensions));
  fields.push(stringField('name', metric.name));
  fields.push(valueField(metric.value, metric.valueType));
  fields.push(integerField('timestamp', metric.timestampNs));
  return {
    uuid: options.uuid,
    timestamp: options.publishTimeNs,
    type: SNAP_HEKA_TYPE,
    logger: SNAP_HEKA_LOGGER,
    severity: SNAP_HEKA_SEVERITY,
    payload: snapJson(metric),
    pid: metric.node.pid,
    hostname: metric.node.hostname,
    fields,
  };
}

// ---------------------------------------------------------------------------------------------
// plausible values

interface SeriesState {
  counter: bigint;
}

function plausibleValue(
  family: FamilyDefinition,
  metric: MetricDefinition,
  random: () => number,
  state: SeriesState,
): MetricValue {
  if (metric.type === 'string') {
    if (metric.path === 'device_name') return '/dev/sda1';
    if (metric.path === 'device_type') return 'ext4';
    return `value-${Math.floor(random() * 1000)}`;
  }
  if (metric.type === 'float') {
    switch (metric.unit) {
      case 'percent':
        return random() * 100;
      case 'ms':
        return random() * 20;
      case 'Bps':
        return random() * 50e6;
      case 'iops':
        return random() * 500;
      case 'bytes':
        return Math.floor(random() * 8e9);
      default:
        return family.prefix.includes('load') ? random() * 4 : random() * 1000;
    }
  }
  // integers
  if (metric.kind === 'counter') {
    state.counter += BigInt(Math.floor(random() * 1e6));
    return state.counter;
  }
  switch (metric.unit) {
    case 'bytes':
      return BigInt(Math.floor(random() * 16e9));
    case 'kbytes':
      return BigInt(Math.floor(random() * 500e6));
    default:
      return BigInt(Math.floor(random() * 100_000));
  }
}

// ---------------------------------------------------------------------------------------------
// the publisher

/** What a Publish call sends: a metric's message, or crafted input, built just before its write. */
interface PublishItem {
  metric?: SnapMetric;
  crafted?: string;
  build: () => HekaMessage | Uint8Array;
}

export class SnapPublisher {
  readonly nodes: FakeNode[];
  readonly sent: SentMessage[] = [];
  /** Publish calls whose dial was refused (the real plugin panics: Snap counts a failure). */
  failures = 0;
  private readonly random: () => number;
  private readonly series = new Map<string, SeriesState>();
  private connections = 0;
  private readonly families: readonly MetricFamily[];

  constructor(readonly options: SnapPublisherOptions) {
    const seed = options.seed ?? randomBytes(4).readUInt32LE(0);
    this.random = mulberry32(seed);
    const nodes = options.nodes ?? 1;
    const list: (Partial<FakeNode> & { name: string })[] =
      typeof nodes === 'number' ? Array.from({ length: nodes }, (_, i) => ({ name: `node-${i + 1}` })) : nodes;
    this.nodes = list.map((node) => ({
      name: node.name,
      hostname: node.hostname ?? `${node.name}.hosts.test`,
      pid: node.pid ?? 1000 + Math.floor(this.random() * 60000),
    }));
    this.families = options.families ?? options.config.collector.families;
  }

  private uuid(): Uint8Array {
    return randomUuid((n) => Uint8Array.from({ length: n }, () => Math.floor(this.random() * 256)));
  }

  private tagOrder(tags: Record<string, string>): string[] {
    const keys = Object.keys(tags);
    return this.options.tagOrder === 'sorted' ? keys.sort() : shuffle(keys, this.random);
  }

  /** One collection run on a node: every metric of every configured family. */
  collect(node: FakeNode, timestampNs: bigint = nowNs()): SnapMetric[] {
    const metrics: SnapMetric[] = [];
    for (const familyName of this.families) {
      const family = METRIC_FAMILIES[familyName];
      const dynamicValues = family.dynamic
        ? (this.options.dynamicValues?.[familyName] ?? DEFAULT_DYNAMIC_VALUES[familyName] ?? ['0'])
        : [undefined];
      for (const dynamicValue of dynamicValues) {
        for (const definition of family.metrics) {
          const namespace = [...family.prefix, ...(dynamicValue === undefined ? [] : [dynamicValue]), ...definition.path.split('/')];
          const key = `${node.name}\u0000${namespace.join('/')}`;
          let state = this.series.get(key);
          if (!state) {
            state = { counter: BigInt(Math.floor(this.random() * 1e12)) };
            this.series.set(key, state);
          }
          metrics.push({
            node,
            family: familyName,
            definition,
            namespace,
            name: measurementName(family, definition),
            ...(family.dynamic && dynamicValue !== undefined && { dynamic: { name: family.dynamic, value: dynamicValue } }),
            tags: {
              [PLUGIN_RUNNING_ON]: node.hostname,
              [SNAP.nodeTag]: node.name,
              ...(dynamicValue !== undefined && FAMILY_TAGS[familyName]?.(dynamicValue)),
            },
            value: plausibleValue(family, definition, this.random, state),
            valueType: definition.type,
            timestampNs,
          });
        }
      }
    }
    return metrics;
  }

  /** The message Snap would send for this metric now (a fresh uuid and publish time). */
  message(metric: SnapMetric, publishTimeNs: bigint = nowNs()): HekaMessage {
    return snapHekaMessage(metric, { uuid: this.uuid(), publishTimeNs, tagOrder: this.tagOrder(metric.tags) });
  }

  /**
   * Publishes metrics as one Publish call of Snap's publisher: one connection, closed after the last.
   * Each message gets its uuid and publish time when it is encoded, just before its write.
   */
  async publish(metrics: readonly SnapMetric[]): Promise<PublishResult> {
    return this.send(metrics.map((metric) => ({ metric, build: () => this.message(metric) })));
  }

  /** One collection run on every node, each node publishing its metrics (concurrently). */
  async tick(timestampNs: bigint = nowNs()): Promise<PublishResult[]> {
    return Promise.all(this.nodes.map((node) => this.publish(this.collect(node, timestampNs))));
  }

  /** `count` runs, `intervalMs` apart (like Snap's simple schedule). */
  async run(count: number, intervalMs: number): Promise<PublishResult[][]> {
    const results: PublishResult[][] = [];
    for (let i = 0; i < count; i++) {
      const started = Date.now();
      results.push(await this.tick());
      const wait = intervalMs - (Date.now() - started);
      if (i < count - 1 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    return results;
  }

  /**
   * Sends crafted input: messages (encoded and framed here) or raw bytes (sent as they are),
   * over one connection, each recorded with its label.
   */
  async publishCrafted(items: readonly CraftedItem[]): Promise<PublishResult> {
    return this.send(
      items.map((item) => ({
        crafted: item.label,
        ...(item.metric && { metric: item.metric }),
        build: () => item.message ?? item.bytes ?? new Uint8Array(),
      })),
    );
  }

  /**
   * Raw bytes on a new connection, e.g. a stream cut in pieces (`chunks`, with a pause between).
   * `port` sends to another Hindsight than the publisher's (each node's own, in a benchmark).
   * `keep: false` (a benchmark's load) records nothing in sent(): keeping every byte sent made
   * the sender's garbage collection cost more than the sending.
   */
  async sendRaw(
    chunks: readonly Uint8Array[],
    options: { label?: string; pauseMs?: number; port?: number; keep?: boolean } = {},
  ): Promise<PublishResult> {
    const connection = ++this.connections;
    const record: SentMessage = {
      seq: this.sent.length,
      crafted: options.label ?? 'raw',
      bytes: options.keep === false ? new Uint8Array(0) : concatBytes(chunks),
      publishedAtNs: nowNs(),
      connection,
      status: 'written',
    };
    if (options.keep !== false) this.sent.push(record);
    try {
      const socket = await this.dial(options.port);
      try {
        for (const chunk of chunks) {
          await writeAsync(socket, chunk);
          if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
        }
      } finally {
        await closeAsync(socket);
      }
      return { ok: true, records: [record] };
    } catch (error) {
      record.status = 'refused';
      record.error = String(error);
      return { ok: false, records: [record], error: String(error) };
    }
  }

  /** Metrics whose message the socket accepted (the ones InfluxDB should end up holding). */
  written(): SentMessage[] {
    return this.sent.filter((r) => r.status === 'written' && r.metric && !r.crafted);
  }

  // -------------------------------------------------------------------------------------------

  private dial(port = this.options.port): Promise<net.Socket> {
    const timeout = this.options.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.options.host ?? '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect timeout after ${timeout} ms`));
      }, timeout);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** One Publish call: one connection, every item written in order, closed after the last. */
  private async send(items: readonly PublishItem[]): Promise<PublishResult> {
    const records: SentMessage[] = [];
    let socket: net.Socket;
    try {
      socket = await this.dial();
    } catch (error) {
      // the real plugin panics before sending anything: the whole call is lost
      this.failures++;
      const connection = ++this.connections;
      for (const item of items) records.push(this.record(item, item.build(), connection, 'refused', String(error)));
      return { ok: false, records, error: String(error) };
    }
    const connection = ++this.connections;
    let failed: string | undefined;
    for (const item of items) {
      const record = this.record(item, item.build(), connection, 'written');
      records.push(record);
      if (failed === undefined) {
        try {
          await writeAsync(socket, record.bytes);
          continue;
        } catch (error) {
          // Go's publisher logs the error and goes on with the next metric (which fails too)
          failed = String(error);
        }
      }
      record.status = 'failed';
      record.error = failed;
    }
    await closeAsync(socket).catch(() => undefined);
    return { ok: failed === undefined, records, ...(failed !== undefined && { error: failed }) };
  }

  private record(
    item: Omit<PublishItem, 'build'>,
    built: HekaMessage | Uint8Array,
    connection: number,
    status: SentMessage['status'],
    error?: string,
  ): SentMessage {
    const isBytes = built instanceof Uint8Array;
    const record: SentMessage = {
      seq: this.sent.length,
      ...(item.metric && { metric: item.metric }),
      ...(item.crafted !== undefined && { crafted: item.crafted }),
      ...(!isBytes && { message: built }),
      bytes: isBytes ? built : encodeFramed(built),
      ...(!isBytes && built.uuid && { uuid: uuidToString(built.uuid) }),
      publishedAtNs: !isBytes && built.timestamp !== undefined ? BigInt(built.timestamp) : nowNs(),
      connection,
      status,
      ...(error !== undefined && { error }),
    };
    this.sent.push(record);
    return record;
  }
}

function writeAsync(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}

function closeAsync(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, 2000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}

// ---------------------------------------------------------------------------------------------
// crafting bad input

export interface CraftedItem {
  label: string;
  /** A message to encode and frame... */
  message?: HekaMessage;
  /** ...or bytes sent as they are. */
  bytes?: Uint8Array;
  /** The metric it derives from, if any (for the test's bookkeeping). */
  metric?: SnapMetric;
}

/** Tag values that need escaping in line protocol, or are otherwise awkward. */
export const NASTY_TAG_VALUES: readonly string[] = [
  'with space',
  'with,comma',
  'with=equals',
  'with"double"quotes',
  "with'single'quotes",
  'back\\slash',
  'trailing backslash\\',
  'ünïcødé-名前-🚀',
  'a, b=c "d" \\e',
  ' leading and trailing ',
  '',
];

function replaceField(message: HekaMessage, name: string, field: HekaField | undefined): HekaMessage {
  const fields = (message.fields ?? []).flatMap((f) => (f.name === name ? (field ? [field] : []) : [f]));
  return { ...message, fields };
}

export const craft = {
  /** Random bytes; without record separators unless asked (with them, resync is exercised). */
  garbage(length: number, options: { recordSeparators?: boolean; seed?: number } = {}): Uint8Array {
    const random = mulberry32(options.seed ?? 1);
    return Uint8Array.from({ length }, () => {
      let b = Math.floor(random() * 256);
      if (!options.recordSeparators && b === 0x1e) b = 0x1d;
      return b;
    });
  },

  /** The first `keep` bytes of a framed record (negative: all but the last -keep bytes). */
  truncated(framed: Uint8Array, keep: number): Uint8Array {
    return framed.slice(0, keep >= 0 ? keep : framed.length + keep);
  },

  withoutUuid(message: HekaMessage): HekaMessage {
    const { uuid: _uuid, ...rest } = message;
    return rest;
  },

  /** A uuid of another length than 16 bytes. */
  withUuidBytes(message: HekaMessage, length: number): HekaMessage {
    return { ...message, uuid: new Uint8Array(length).fill(7) };
  },

  withoutTimestamp(message: HekaMessage): HekaMessage {
    const { timestamp: _timestamp, ...rest } = message;
    return rest;
  },

  /** An unknown message field number (11, varint): lua_sandbox drops the whole message. */
  withUnknownField(message: HekaMessage): HekaMessage {
    return { ...message, extra: Uint8Array.of((11 << 3) | 0, 1) };
  },

  /**
   * An unknown field number (9) inside the `name` field record, before its value: lua_sandbox
   * drops the message. (After the values it would pass: the reader stops at the first value.)
   */
  withUnknownFieldInField(message: HekaMessage, position: 'before-values' | 'after-values' = 'before-values'): HekaMessage {
    const unknown = Uint8Array.of((9 << 3) | 0, 1);
    const fields = (message.fields ?? []).map((f) => {
      if (f.name !== 'name') return f;
      if (position === 'after-values') return { ...f, extra: unknown };
      const values = (f.valueString ?? []).map((v) => encodeField({ name: '', valueString: [v] }).subarray(2));
      const { valueString: _values, ...rest } = f;
      return { ...rest, extra: concatBytes([unknown, ...values]) };
    });
    return { ...message, fields };
  },

  /** Replaces the `value` field, e.g. stringField('value', '12.5') for a float metric. */
  withValueField(message: HekaMessage, field: HekaField): HekaMessage {
    return replaceField(message, 'value', { ...field, name: 'value' });
  },

  withoutField(message: HekaMessage, name: string): HekaMessage {
    return replaceField(message, name, undefined);
  },

  /** A string value of `bytes` bytes (60 KiB by default: below the 64 KiB message limit). */
  hugeStringValue(message: HekaMessage, bytes = 60 * 1024): HekaMessage {
    return replaceField(message, 'value', stringField('value', 'x'.repeat(bytes)));
  },

  /** A payload that makes the message `bytes` long in all (e.g. > max_message_size). */
  paddedTo(message: HekaMessage, bytes: number): HekaMessage {
    const base = encodeFramed({ ...message, payload: '' }).length;
    return { ...message, payload: 'p'.repeat(Math.max(0, bytes - base - 4)) };
  },

  /**
   * Sets a tag (a STRING field listed in `dimensions`), replacing one of that name before
   * `dimensions`. Use it with NASTY_TAG_VALUES, or to add a tag named like a field ("name"...).
   */
  withTag(message: HekaMessage, name: string, value: string): HekaMessage {
    const fields = [...(message.fields ?? [])];
    const dimensionsIndex = fields.findIndex((f) => f.name === 'dimensions');
    const end = dimensionsIndex >= 0 ? dimensionsIndex : fields.length;
    const existing = fields.slice(0, end).findIndex((f) => f.name === name);
    if (existing >= 0) {
      fields[existing] = stringField(name, value);
      return { ...message, fields };
    }
    fields.splice(end, 0, stringField(name, value));
    if (dimensionsIndex >= 0) {
      const dimensions = fields[end + 1]!;
      fields[end + 1] = stringField('dimensions', ...(dimensions.valueString ?? []), name);
    } else {
      fields.splice(end + 1, 0, stringField('dimensions', name));
    }
    return { ...message, fields };
  },
};
