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
import { SnapPublisher } from './snap-publisher.ts';

const run = promisify(execFile);

interface Comparison {
  records: number;
  decoded: number;
  different: number;
  differences: { record: number; lua: string; c: string }[];
}

/** A seeded generator (mulberry32), so a failure can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uuid = Uint8Array.from({ length: 16 }, (_, i) => i * 11);

/** Messages that reach every branch of the decoder: all headers, every value type, limits. */
function craftedMessages(): Uint8Array[] {
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
  const messages: HekaMessage[] = [
    full,
    { uuid, timestamp: 0 },
    { uuid, timestamp: -1n },
    { uuid, timestamp: 2n ** 63n - 1n },
    { uuid, timestamp: -(2n ** 63n) },
    { uuid, timestamp: 1, severity: -7, pid: -1 },
    { uuid, timestamp: 1, severity: 2 ** 31 - 1, pid: -(2 ** 31) },
    { uuid, timestamp: 1, type: 'x'.repeat(300), payload: 'y'.repeat(70_000) },
    { timestamp: 1 }, // no uuid
    { uuid }, // no timestamp
    { uuid: uuid.subarray(0, 15), timestamp: 1 },
    { uuid, timestamp: 1, extra: Uint8Array.of(0x58, 1) }, // unknown tag 11
    { uuid, timestamp: 1, extra: Uint8Array.of(0x12, 1, 0) }, // timestamp with wiretype 2
    { uuid, timestamp: 1, fields: [{ ...stringField('x', 'y'), extra: Uint8Array.of(0x48, 1) }] }, // unknown field tag
    { uuid, timestamp: 1, fields: [{ name: 'no value' }] },
    { uuid, timestamp: 1, fields: [{ name: '' }] },
    { uuid, timestamp: 1, fields: [{ name: 'x', valueType: -1 }] },
  ];
  const bytes = messages.map(encodeMessage);
  // hand-made: unpacked values, a field record of length 0, a 10-byte varint that does not end
  bytes.push(Uint8Array.of(...encodeMessage({ uuid, timestamp: 1 }), 0x52, 5, 0x0a, 1, 0x78, 0x30, 0x07));
  bytes.push(Uint8Array.of(...encodeMessage({ uuid, timestamp: 1 }), 0x52, 11, 0x0a, 1, 0x78, 0x39, ...new Array(8).fill(1)));
  bytes.push(Uint8Array.of(...encodeMessage({ uuid, timestamp: 1 }), 0x52, 0));
  bytes.push(Uint8Array.of(0x10, ...new Array(10).fill(0xff)));
  bytes.push(Uint8Array.of(0x10, ...new Array(9).fill(0xff), 0x01));
  bytes.push(Uint8Array.of(0x0a, ...new Array(9).fill(0xff), 0x01, ...uuid));
  bytes.push(new Uint8Array(0));
  return bytes;
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
    const result = await compare(crafted);
    assert.equal(result.different, 0, JSON.stringify(result.differences, null, 1));
    // both outcomes are exercised: the first 8 are valid, the hand-made ones mostly are not
    assert.ok(result.decoded >= 8 && result.decoded < crafted.length, `${result.decoded} of ${crafted.length} decoded`);
  });

  it('agrees on every truncation, on seeded random mutations and on random bytes', async () => {
    const next = random(20261125);
    // (the 70 KB message is left out: its truncations alone would be gigabytes)
    const sample = [...craftedMessages().slice(0, 8), ...snapMessages().filter((_, i) => i % 40 === 0)].filter((m) => m.length < 4096);
    const records = [...truncations(sample), ...mutations(sample, 20_000, next), ...randomBytes(2000, next)];
    const result = await compare(records);
    assert.equal(result.different, 0, `${result.different} of ${result.records} differ: ${JSON.stringify(result.differences, null, 1)}`);
    assert.ok(result.decoded > 1000 && result.decoded < result.records - 10_000, `${result.decoded} of ${result.records} decoded`);
  });
});
