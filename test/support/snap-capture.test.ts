/**
 * The mock publisher held to the real one: test/fixtures/snap/real-publish.heka.gz holds what the
 * real Snap (snapteld and the plugins built from images/snap) published for every family
 * (test/support/snap-capture.ts made it). The mock's messages must have the same layout, family
 * by family: header, field names, their order and types, dimensions, extra tags, the payload's
 * JSON shape; and the catalogue's value type of every metric must be what Snap sends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { METRIC_FAMILIES, measurementName, type FamilyDefinition } from '../../compiler/collector/metrics.ts';
import { SNAP } from '../../compiler/facts.ts';
import { decodeMessage, encodeMessage, type DecodedMessage } from './heka.ts';
import { CAPTURE_NODE, captureConfig, familyOf, readCapture } from './snap-capture.ts';
import { PLUGIN_RUNNING_ON, SnapPublisher } from './snap-publisher.ts';

const HEKA_TYPES = ['string', 'bytes', 'integer', 'double', 'bool'];

/** What a message looks like, values aside: comparable between the real and the mock publisher. */
function layoutOf(message: DecodedMessage, family: FamilyDefinition): string {
  const names = message.fields.map((field) => field.name);
  const dimensionsAt = names.indexOf('dimensions');
  const dimensions = message.fields[dimensionsAt]?.valueString ?? [];
  const leading = names.slice(0, Math.max(dimensionsAt, 0));
  return JSON.stringify({
    header: [
      message.type,
      message.logger,
      message.severity,
      typeof message.pid,
      typeof message.hostname,
      message.uuid?.length,
      typeof message.timestamp,
    ],
    // the dynamic element first, then the Snap tags in Go map order (any), then the fixed tail
    dynamic: family.dynamic ? leading[0] : null,
    tags: leading.slice(family.dynamic ? 1 : 0).sort(),
    dimensionsNameTheLeadingFields: JSON.stringify(dimensions) === JSON.stringify(leading),
    tail: names.slice(dimensionsAt),
    types: message.fields
      .filter((field) => field.name !== 'value')
      .map((field) => `${field.name}:${HEKA_TYPES[field.valueType ?? 0]}:${field.representation ?? ''}`)
      .sort(),
    payload: shapeOf(JSON.parse(message.payload ?? 'null')),
  });
}

/** The JSON's keys, in order, and the kinds of their values (the metric's own value aside). */
function shapeOf(value: unknown, key = ''): unknown {
  if (key === 'data' || key === 'tags') return key;
  if (Array.isArray(value)) return value.length ? [shapeOf(value[0])] : [];
  if (value && typeof value === 'object') return Object.entries(value).map(([k, v]) => [k, shapeOf(v, k)]);
  return value === null ? 'null' : typeof value;
}

const real = readCapture();
const byFamily = new Map<string, DecodedMessage[]>();
for (const message of real) {
  const name = familyOf(message)?.[0] ?? 'none';
  byFamily.set(name, [...(byFamily.get(name) ?? []), message]);
}
const mock = new SnapPublisher({ port: 1, config: captureConfig(), nodes: [{ name: CAPTURE_NODE }] });
const mockMessages = mock.collect(mock.nodes[0]!).map((metric) => decodeMessage(encodeMessage(mock.message(metric))));

describe('the mock publisher against the real Snap capture', () => {
  it('the capture holds every family, from the node the task was rendered for', () => {
    assert.deepEqual([...byFamily.keys()].sort(), [...captureConfig().collector.families].sort());
    for (const message of real) {
      const tag = message.fields.find((field) => field.name === SNAP.nodeTag);
      assert.equal(tag?.valueString[0], CAPTURE_NODE);
    }
  });

  for (const name of captureConfig().collector.families) {
    const family = METRIC_FAMILIES[name];
    it(`${name}: the mock's messages are laid out as Snap's`, () => {
      const realLayouts = new Set((byFamily.get(name) ?? []).map((message) => layoutOf(message, family)));
      const mocked = mockMessages.filter((message) => familyOf(message)?.[0] === name);
      assert.ok(mocked.length > 0);
      for (const message of mocked) {
        const layout = layoutOf(message, family);
        assert.ok(realLayouts.has(layout), `mock:\n${layout}\nreal (any of):\n${[...realLayouts].join('\n')}`);
      }
    });

    it(`${name}: every metric of the catalogue is sent, with the catalogue's value type`, () => {
      const sent = new Map<string, string>();
      for (const message of byFamily.get(name) ?? []) {
        const metric = message.fields.find((field) => field.name === 'name')!.valueString[0]!;
        const value = message.fields.find((field) => field.name === 'value')!;
        sent.set(metric, HEKA_TYPES[value.valueType ?? 0]!);
      }
      const catalogue = new Map(family.metrics.map((metric) => [measurementName(family, metric), { float: 'double', integer: 'integer', string: 'string' }[metric.type]]));
      assert.deepEqual(new Map([...sent].sort()), new Map([...catalogue].sort()));
    });
  }

  it('the interface collector\'s extra tags: its MTU, and its MAC as text when it has one', () => {
    const interfaces = byFamily.get('interface') ?? [];
    const tagsOf = (message: DecodedMessage) => Object.fromEntries(message.fields.map((field) => [field.name, field.valueString[0]]));
    const eth = interfaces.map(tagsOf).filter((tags) => tags['interface'] !== 'lo');
    assert.ok(eth.length > 0);
    for (const tags of eth) {
      assert.match(tags['hardware_addr'] ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.match(tags['mtu'] ?? '', /^\d+$/);
    }
    const lo = interfaces.map(tagsOf).filter((tags) => tags['interface'] === 'lo');
    for (const tags of lo) assert.equal(tags['hardware_addr'], undefined);
    assert.ok(interfaces.every((message) => message.fields[0]?.name === 'interface'), 'the element is named interface, not after the interface');
    assert.ok(real.every((message) => message.fields.some((field) => field.name === PLUGIN_RUNNING_ON)));
  });
});
