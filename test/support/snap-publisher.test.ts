/**
 * The mock Snap publisher: metrics from the typed catalogue, messages shaped like
 * snap-plugin-publisher-heka's, one TCP connection per Publish call, records of what was sent,
 * and the crafting helpers.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { METRIC_FAMILIES, measurementName, snapNamespace } from '../../compiler/collector/metrics.ts';
import { SNAP } from '../../compiler/facts.ts';
import { stack } from '../../config/stack.ts';
import { decodeMessage, encodeFramed, parseFrames, stringField, uuidToString, ValueType } from './heka.ts';
import { FAMILY_TAGS, craft, DEFAULT_DYNAMIC_VALUES, NASTY_TAG_VALUES, PLUGIN_RUNNING_ON, SnapPublisher } from './snap-publisher.ts';

/** A TCP server recording each connection's bytes. */
function recorder(): Promise<{ port: number; connections: Buffer[][]; close: () => Promise<void> }> {
  const connections: Buffer[][] = [];
  const server = net.createServer((socket) => {
    const chunks: Buffer[] = [];
    connections.push(chunks);
    socket.on('data', (d) => chunks.push(d));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      resolve({ port: address.port, connections, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

async function until(condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the mock Snap publisher: metrics', () => {
  const publisher = new SnapPublisher({ port: 1, config: stack, nodes: 2, seed: 5 });

  it('collects every metric of the configured families, with the catalogue\'s types', () => {
    const node = publisher.nodes[0]!;
    const metrics = publisher.collect(node, 123n);
    const expected = stack.collector.families.reduce((sum, name) => {
      const family = METRIC_FAMILIES[name];
      return sum + family.metrics.length * (family.dynamic ? DEFAULT_DYNAMIC_VALUES[name]!.length : 1);
    }, 0);
    assert.equal(metrics.length, expected);
    for (const m of metrics) {
      const family = METRIC_FAMILIES[m.family];
      assert.equal(m.name, measurementName(family, m.definition));
      assert.equal(m.namespace.join('/'), snapNamespace(family, m.definition).slice(1).replace('*', m.dynamic?.value ?? '*'));
      assert.equal(m.valueType, m.definition.type);
      const jsType = { float: 'number', integer: 'bigint', string: 'string', bool: 'boolean' }[m.valueType];
      assert.equal(typeof m.value, jsType, m.name);
      const own = m.dynamic ? (FAMILY_TAGS[m.family]?.(m.dynamic.value) ?? {}) : {};
      assert.deepEqual(m.tags, { [PLUGIN_RUNNING_ON]: node.hostname, [SNAP.nodeTag]: node.name, ...own });
      if (m.family === 'interface') assert.deepEqual(Object.keys(own).sort(), ['hardware_addr', 'mtu'], 'eth0 has a MAC');
      assert.equal(m.timestampNs, 123n);
    }
    const cpuIds = metrics.filter((m) => m.family === 'cpu').map((m) => m.dynamic?.value);
    assert.deepEqual([...new Set(cpuIds)], ['all', '0', '1']);
    assert.ok(metrics.some((m) => m.dynamic?.name === 'filesystem' && m.dynamic.value === 'rootfs'));
    assert.ok(metrics.some((m) => m.dynamic?.name === 'disk' && m.dynamic.value === 'sda'));
    assert.ok(metrics.some((m) => m.dynamic?.name === 'interface' && m.dynamic.value === 'eth0'));
  });

  it('keeps counters growing from one collection to the next', () => {
    const node = publisher.nodes[1]!;
    const first = publisher.collect(node).filter((m) => m.definition.kind === 'counter');
    const second = publisher.collect(node).filter((m) => m.definition.kind === 'counter');
    assert.ok(first.length > 0);
    first.forEach((m, i) => assert.ok((second[i]!.value as bigint) >= (m.value as bigint), m.name));
  });
});

describe('the mock Snap publisher: messages', () => {
  const publisher = new SnapPublisher({ port: 1, config: stack, nodes: 1, seed: 11 });
  const node = publisher.nodes[0]!;
  const metrics = publisher.collect(node, 1_700_000_000_000_000_000n);

  it('builds each message as snap-plugin-publisher-heka does', () => {
    for (const metric of metrics) {
      const message = decodeMessage(parseFrames(encodeFramed(publisher.message(metric)))[0]!.message);
      assert.equal(message.type, 'snap.heka');
      assert.equal(message.logger, 'snap.heka.logger');
      assert.equal(message.severity, 6);
      assert.equal(message.hostname, node.hostname);
      assert.equal(message.pid, node.pid);
      assert.equal(message.uuid!.length, 16);
      assert.equal(message.uuid![6]! >> 4, 4); // version 4
      assert.ok(message.timestamp! > metric.timestampNs); // published after it was collected
      const names = message.fields.map((f) => f.name);
      const tagNames = names.slice(metric.dynamic ? 1 : 0, names.indexOf('dimensions'));
      assert.deepEqual([...tagNames].sort(), Object.keys(metric.tags).sort());
      assert.ok(tagNames.includes('hostname') && tagNames.includes('plugin_running_on'));
      assert.deepEqual(names, [...(metric.dynamic ? [metric.dynamic.name] : []), ...tagNames, 'dimensions', 'name', 'value', 'timestamp']);
      const byName = (n: string) => message.fields.find((f) => f.name === n)!;
      assert.deepEqual(byName('dimensions').valueString, names.slice(0, names.indexOf('dimensions')));
      assert.deepEqual(byName('name').valueString, [metric.name]);
      assert.deepEqual(byName('timestamp').valueInteger, [metric.timestampNs]);
      const value = byName('value');
      const valueTypes = { float: ValueType.DOUBLE, integer: ValueType.INTEGER, string: ValueType.STRING, bool: ValueType.BOOL };
      assert.equal(value.valueType, valueTypes[metric.valueType], metric.name);
      for (const f of message.fields) assert.equal(f.representation, ''); // NewField sets it
      const payload = JSON.parse(message.payload!);
      assert.equal(payload.length, 1);
      assert.deepEqual(payload[0].namespace.map((e: { Value: string }) => e.Value), metric.namespace);
      assert.deepEqual(payload[0].tags, metric.tags);
    }
  });

  it('orders the tags like Go map iteration (random) unless asked for sorted', () => {
    const orders = new Set(metrics.slice(0, 40).map((m) => publisher.message(m).fields!.filter((f) => f.name === 'hostname' || f.name === 'plugin_running_on').map((f) => f.name).join(',')));
    assert.equal(orders.size, 2);
    const sorted = new SnapPublisher({ port: 1, config: stack, tagOrder: 'sorted' });
    const m = sorted.collect(sorted.nodes[0]!)[0]!;
    assert.deepEqual(sorted.message(m).fields!.find((f) => f.name === 'dimensions')!.valueString, ['cpuID', 'hostname', 'plugin_running_on']);
  });

  it('casts uint64 values to int64 as the publisher does', () => {
    const metric = { ...metrics.find((m) => m.valueType === 'integer')!, value: 2n ** 64n - 1n };
    assert.deepEqual(publisher.message(metric).fields!.find((f) => f.name === 'value')!.valueInteger, [-1n]);
  });
});

describe('the mock Snap publisher: connections and records', () => {
  let server: Awaited<ReturnType<typeof recorder>>;
  before(async () => {
    server = await recorder();
  });
  after(async () => {
    await server.close();
  });

  it('dials once per Publish call (per node per run) and records every message it wrote', async () => {
    const publisher = new SnapPublisher({ port: server.port, config: stack, nodes: 2, families: ['load', 'meminfo'] });
    const before = server.connections.length;
    const results = await publisher.tick();
    assert.ok(results.every((r) => r.ok));
    await until(() => server.connections.length === before + 2);
    const records = results.flatMap((r) => r.records);
    assert.equal(records.length, 2 * (8 + 4));
    assert.ok(records.every((r) => r.status === 'written' && r.metric && r.uuid));
    assert.deepEqual(new Set(records.map((r) => r.connection)).size, 2);
    await until(() => server.connections.slice(before).every((c) => Buffer.concat(c).length > 0));
    const received = server.connections
      .slice(before)
      .flatMap((c) => parseFrames(Buffer.concat(c)).map((f) => uuidToString(decodeMessage(f.message).uuid!)));
    assert.deepEqual(new Set(received), new Set(records.map((r) => r.uuid)));
    assert.deepEqual(publisher.written(), records.sort((a, b) => a.seq - b.seq));
  });

  it('reports a refused dial as Snap\'s panic: nothing of that call is sent', async () => {
    const closed = await recorder();
    await closed.close();
    const publisher = new SnapPublisher({ port: closed.port, config: stack, families: ['load'] });
    const result = await publisher.publish(publisher.collect(publisher.nodes[0]!));
    assert.equal(result.ok, false);
    assert.match(result.error!, /ECONNREFUSED/);
    assert.ok(result.records.every((r) => r.status === 'refused'));
    assert.equal(publisher.failures, 1);
    assert.deepEqual(publisher.written(), []);
  });

  it('sends crafted input, labelled, and raw bytes in pieces', async () => {
    const publisher = new SnapPublisher({ port: server.port, config: stack, families: ['cpu'] });
    const metric = publisher.collect(publisher.nodes[0]!)[0]!;
    const base = publisher.message(metric);
    const before = server.connections.length;
    const result = await publisher.publishCrafted([
      { label: 'no uuid', message: craft.withoutUuid(base), metric },
      { label: 'wrong type', message: craft.withValueField(base, stringField('value', '12.5')) },
      { label: 'nasty tag', message: craft.withTag(base, 'hostname', NASTY_TAG_VALUES[3]!) },
      { label: 'huge', message: craft.hugeStringValue(base) },
    ]);
    assert.ok(result.ok);
    assert.deepEqual(result.records.map((r) => r.crafted), ['no uuid', 'wrong type', 'nasty tag', 'huge']);
    assert.deepEqual(publisher.written(), []); // crafted records are not expected in InfluxDB
    await publisher.sendRaw([craft.garbage(10), encodeFramed(base)], { pauseMs: 10 });
    await until(() => server.connections.length === before + 2);
    await until(() => Buffer.concat(server.connections.at(-1)!).length === 10 + encodeFramed(base).length);
    const frames = parseFrames(Buffer.concat(server.connections[before]!));
    assert.equal(frames.length, 4);
    assert.equal(decodeMessage(frames[0]!.message).uuid, undefined);
    const tagged = decodeMessage(frames[2]!.message);
    assert.deepEqual(tagged.fields.find((f) => f.name === 'hostname')!.valueString, ['with"double"quotes']);
    assert.ok(frames[3]!.message.length > 60 * 1024 && frames[3]!.message.length < 64 * 1024);
  });

  it('crafts what it says', () => {
    const publisher = new SnapPublisher({ port: 1, config: stack, families: ['load'], tagOrder: 'sorted' });
    const base = publisher.message(publisher.collect(publisher.nodes[0]!)[0]!);
    assert.ok(!craft.garbage(5000).includes(0x1e));
    assert.ok(craft.garbage(5000, { recordSeparators: true }).includes(0x1e));
    assert.equal(craft.truncated(encodeFramed(base), -3).length, encodeFramed(base).length - 3);
    const tagged = craft.withTag(base, 'cluster', 'a b');
    assert.deepEqual(tagged.fields!.find((f) => f.name === 'dimensions')!.valueString, ['hostname', 'plugin_running_on', 'cluster']);
    assert.ok(Math.abs(encodeFramed(craft.paddedTo(base, 70 * 1024)).length - 70 * 1024) <= 8);
    assert.equal(craft.withoutField(base, 'timestamp').fields!.some((f) => f.name === 'timestamp'), false);
  });
});
