/**
 * The stage's C decoder (hindsight-stage/native/heka_native.c) against its reference, the Lua
 * transcription of lsb_decode_heka_message in hindsight-stage/lib/heka.lua: the same table for
 * every valid message and the same reason for every invalid one, on the mock publisher's
 * messages, crafted edge cases, every truncation of a sample of them, seeded random mutations
 * and random bytes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stack } from '../../config/stack.ts';
import {
  boolField,
  bytesField,
  doubleField,
  encodeMessage,
  integerField,
  stringField,
  type HekaMessage,
} from './heka.ts';
import { hekaNativeEnv } from './heka-native.ts';
import { LUA, STAGE_DIR } from './hindsight-stage.ts';
import { mulberry32, SnapPublisher } from './snap-publisher.ts';

const run = promisify(execFile);

interface Comparison {
  records: number;
  decoded: number;
  different: number;
  differences: { record: number; lua: string; c: string }[];
  /** Per record under the Lua decoder: "1" decoded, "0" refused. */
  outcomes: string;
}

const uuid = Uint8Array.from({ length: 16 }, (_, i) => i * 11);

interface Crafted {
  label: string;
  bytes: Uint8Array;
  /** What lua_sandbox does with it, hence what both decoders must do. */
  valid: boolean;
}

const withTail = (tail: number[]) => Uint8Array.of(...encodeMessage({ uuid, timestamp: 1 }), ...tail);
/** A message whose one field record is `record` (tag 10, its length, then the bytes). */
const withField = (record: number[]) => withTail([0x52, record.length, ...record]);

/** Messages that reach every branch of the decoder: all headers, every value type, limits. */
function craftedMessages(): Crafted[] {
  const full: HekaMessage = {
    uuid, timestamp: 1_700_000_000_123_456_789n, type: 'snap.heka', logger: 'snap.heka.logger', severity: 6,
    payload: 'a payload', envVersion: '0.8', pid: 4242, hostname: 'node-1',
    fields: [
      stringField('name', 'intel/procfs/cpu/all/user_percentage'),
      { ...stringField('unit', 'percent'), representation: '%' },
      integerField('integers', 0, 1, -1, 2n ** 62n, -(2n ** 63n)),
      doubleField('doubles', 0.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 5e-324),
      boolField('bools', true, false),
      bytesField('bytes', Uint8Array.of(0, 255, 30, 31)),
      stringField('empty'),
      stringField('ünïcode', 'ünïcode'),
    ],
  };
  const message = (label: string, m: HekaMessage, valid: boolean): Crafted => ({ label, bytes: encodeMessage(m), valid });
  return [
    message('every header and value type', full, true),
    message('timestamp 0', { uuid, timestamp: 0 }, true),
    message('timestamp -1', { uuid, timestamp: -1n }, true),
    message('timestamp 2^63-1', { uuid, timestamp: 2n ** 63n - 1n }, true),
    message('timestamp -2^63', { uuid, timestamp: -(2n ** 63n) }, true),
    message('negative severity and pid', { uuid, timestamp: 1, severity: -7, pid: -1 }, true),
    message('int32 limits', { uuid, timestamp: 1, severity: 2 ** 31 - 1, pid: -(2 ** 31) }, true),
    message('long type, 70 KB payload', { uuid, timestamp: 1, type: 'x'.repeat(300), payload: 'y'.repeat(70_000) }, true),
    // value_type is an int: the varint is cut to its low 32 bits
    { label: 'value_type 2^32 + 2', bytes: withField([0x0a, 1, 0x78, 0x10, 0x82, 0x80, 0x80, 0x80, 0x10]), valid: true },
    { label: 'value_type -2^31 - 1', bytes: withField([0x0a, 1, 0x78, 0x10, 0xff, 0xff, 0xff, 0xff, 0xf7, 0xff, 0xff, 0xff, 0xff, 0x01]), valid: true },
    { label: 'unpacked double value', bytes: withField([0x0a, 1, 0x78, 0x39, 1, 2, 3, 4, 5, 6, 7, 8]), valid: true },
    message('no uuid', { timestamp: 1 }, false),
    message('no timestamp', { uuid }, false),
    message('a 15-byte uuid', { uuid: uuid.subarray(0, 15), timestamp: 1 }, false),
    message('unknown tag 11', { uuid, timestamp: 1, extra: Uint8Array.of(0x58, 1) }, false),
    message('timestamp with wiretype 2', { uuid, timestamp: 1, extra: Uint8Array.of(0x12, 1, 0) }, false),
    // what follows a field's first value is not read, as in C
    message('an unknown field tag after the value', { uuid, timestamp: 1, fields: [{ ...stringField('x', 'y'), extra: Uint8Array.of(0x48, 1) }] }, true),
    { label: 'an unknown field tag before the value', bytes: withField([0x0a, 1, 0x78, 0x48, 1, 0x22, 1, 0x79]), valid: false },
    message('a field without a value', { uuid, timestamp: 1, fields: [{ name: 'no value' }] }, true),
    message('an empty field name', { uuid, timestamp: 1, fields: [{ name: '' }] }, true),
    { label: 'a representation without a name', bytes: withField([0x1a, 1, 0x25]), valid: false },
    { label: 'a field record of length 0', bytes: withTail([0x52, 0]), valid: false },
    { label: 'a field with wiretype 0', bytes: withTail([0x50, 0]), valid: false },
    { label: 'value_double with wiretype 0', bytes: withField([0x0a, 1, 0x78, 0x38, 0x00]), valid: false },
    { label: 'value_integer with wiretype 1', bytes: withField([0x0a, 1, 0x78, 0x31, 1, 2, 3, 4, 5, 6, 7, 8]), valid: false },
    { label: 'a packed length with bit 63 set', bytes: withField([0x0a, 1, 0x78, 0x32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), valid: false },
    { label: 'a 10-byte timestamp varint that does not end', bytes: Uint8Array.of(0x10, ...new Array(10).fill(0xff)), valid: false },
    { label: 'a 10-byte timestamp varint, no uuid', bytes: Uint8Array.of(0x10, ...new Array(9).fill(0xff), 0x01), valid: false },
    { label: 'a uuid length with bit 63 set', bytes: Uint8Array.of(0x0a, ...new Array(9).fill(0xff), 0x01, ...uuid), valid: false },
    { label: 'empty', bytes: new Uint8Array(0), valid: false },
  ];
}

function snapMessages(): Uint8Array[] {
  const publisher = new SnapPublisher({ port: 0, config: stack, nodes: 3, seed: 11 });
  return publisher.nodes.flatMap((node) =>
    publisher.collect(node, 1_700_000_000_000_000_000n).map((metric) => encodeMessage(publisher.message(metric))),
  );
}

function truncations(messages: readonly Uint8Array[]): Uint8Array[] {
  return messages.flatMap((message) => Array.from({ length: message.length }, (_, n) => message.subarray(0, n)));
}

function mutations(messages: readonly Uint8Array[], count: number, next: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const copy = Uint8Array.from(messages[Math.floor(next() * messages.length)]!);
    const changes = 1 + Math.floor(next() * 3);
    for (let c = 0; c < changes; c++) copy[Math.floor(next() * copy.length)] = Math.floor(next() * 256);
    out.push(copy);
  }
  return out;
}

function randomBytes(count: number, next: () => number): Uint8Array[] {
  return Array.from({ length: count }, () => Uint8Array.from({ length: 1 + Math.floor(next() * 64) }, () => Math.floor(next() * 256)));
}

describe('the stage\'s C decoder', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stacklight-heka-native-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function compare(records: readonly Uint8Array[]): Promise<Comparison> {
    const file = path.join(dir, 'records.bin');
    await writeFile(file, Buffer.concat(records.flatMap((record) => [Buffer.from(`${record.length}\n`), Buffer.from(record)])));
    const { stdout } = await run(LUA, [path.join(STAGE_DIR, 'native/compare.lua'), file], {
      env: { ...process.env, ...(await hekaNativeEnv()) },
      maxBuffer: 1 << 24,
    });
    return JSON.parse(stdout) as Comparison;
  }

  it('decodes the mock publisher\'s messages as the Lua decoder does', async () => {
    const messages = snapMessages();
    const result = await compare(messages);
    assert.equal(result.different, 0, JSON.stringify(result.differences, null, 1));
    assert.equal(result.records, messages.length);
    assert.equal(result.decoded, messages.length, 'every Snap message decodes');
  });

  it('gives the same table or the same reason on crafted edge cases', async () => {
    const crafted = craftedMessages();
    const result = await compare(crafted.map((c) => c.bytes));
    assert.equal(result.different, 0, JSON.stringify(result.differences, null, 1));
    // each case is the one it says it is: accepted or refused as lua_sandbox does
    const outcomes = crafted.map((c, i) => `${c.label}: ${result.outcomes[i] === '1' ? 'valid' : 'refused'}`);
    assert.deepEqual(outcomes, crafted.map((c) => `${c.label}: ${c.valid ? 'valid' : 'refused'}`));
  });

  it('agrees on every truncation, on seeded random mutations and on random bytes', async () => {
    const next = mulberry32(20261125); // seeded, so a failure can be reproduced
    // (the 70 KB message is left out: its truncations alone would be gigabytes)
    const valid = craftedMessages().filter((c) => c.valid).map((c) => c.bytes);
    const sample = [...valid, ...snapMessages().filter((_, i) => i % 40 === 0)].filter((m) => m.length < 4096);
    const records = [...truncations(sample), ...mutations(sample, 20_000, next), ...randomBytes(2000, next)];
    const result = await compare(records);
    assert.equal(result.different, 0, `${result.different} of ${result.records} differ: ${JSON.stringify(result.differences, null, 1)}`);
    assert.ok(result.decoded > 1000 && result.decoded < result.records - 10_000, `${result.decoded} of ${result.records} decoded`);
  });
});
