/**
 * test/support/heka.ts: golden bytes computed by hand from the protobuf rules, round trips
 * through an independent decoder, and cross-checks against the Hindsight stage's Lua decoder
 * (a transcription of lua_sandbox's), including its framing and resynchronisation rules.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  boolField,
  concatBytes,
  decodeMessage,
  doubleField,
  encodeDouble,
  encodeFramed,
  encodeHeader,
  encodeMessage,
  frame,
  integerField,
  parseFrames,
  stringField,
  toHex,
  type HekaMessage,
} from './heka.ts';
import { LUA, STAGE_DIR } from './hindsight-stage.ts';
import { craft, snapHekaMessage, SnapPublisher } from './snap-publisher.ts';
import { stack } from '../../config/stack.ts';

interface ToolMessage {
  uuid: string;
  timestamp: number;
  timestamp_exact: string;
  type?: string;
  logger?: string;
  severity: number;
  payload?: string;
  env_version?: string;
  pid: number;
  hostname?: string;
  raw_hex: string;
  framed_hex: string;
  fields: { name: string; value_type: number; representation?: string; values: unknown[] }[];
  decoded?: {
    Fields?: { name: string; value: unknown[]; value_type?: number; representation?: string }[];
    Timestamp: number;
    Uuid: string;
  };
  decode_error?: string;
}

/** The stage's Lua decoder over a byte stream: the messages it finds and what it skipped. */
function luaDecode(
  stream: Uint8Array,
  maxMessageSize?: number,
): { messages: ToolMessage[]; summary: { found: number; discarded: number; unconsumed: number } } {
  const args = [path.join(STAGE_DIR, 'tool.lua'), 'decode', ...(maxMessageSize ? [String(maxMessageSize)] : [])];
  const result = spawnSync(LUA, args, { input: Buffer.from(stream), maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr.toString());
  const lines = result.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
  const summary = lines.pop().summary;
  return { messages: lines as ToolMessage[], summary };
}

const UUID = Uint8Array.from({ length: 16 }, (_, i) => i);

const small: HekaMessage = {
  uuid: UUID,
  timestamp: 1_000_000_000n,
  type: 't',
  logger: 'l',
  severity: 6,
  pid: -1,
  hostname: 'h',
  fields: [stringField('s', 'ab'), integerField('i', 1, -2), doubleField('d', 1.5), boolField('b', true)],
};

// computed by hand from the protobuf encoding rules, field by field
const SMALL_HEX = [
  '0a10', '000102030405060708090a0b0c0d0e0f', // 1 uuid: key 0x0a, length 16, bytes
  '10', '8094ebdc03', // 2 timestamp: 1e9 as a varint
  '1a0174', // 3 type "t"
  '22016c', // 4 logger "l"
  '2806', // 5 severity 6 (set, so written although proto2)
  '40', 'ffffffffffffffffff01', // 8 pid -1: 10-byte two's complement varint, no zigzag
  '4a0168', // 9 hostname "h"
  '520b', '0a0173', '1000', '1a00', '22026162', // 10 field s: name, value_type 0, representation "", "ab"
  '5214', '0a0169', '1002', '1a00', '320b', '01', 'feffffffffffffffff01', // field i: packed [1, -2]
  '5211', '0a0164', '1003', '1a00', '3a08', '000000000000f83f', // field d: packed [1.5] little endian
  '520a', '0a0162', '1004', '1a00', '420101', // field b: packed [true]
].join('');

describe('heka.ts encoding', () => {
  it('writes a message byte for byte as Go protobuf does', () => {
    assert.equal(toHex(encodeMessage(small)), SMALL_HEX);
    assert.equal(SMALL_HEX.length / 2, 112);
  });

  it('frames a message: 0x1E, header length, Header{message_length}, 0x1F, message', () => {
    const framed = encodeFramed(small);
    assert.equal(toHex(framed.subarray(0, 5)), '1e0208701f'); // header 08 70: message_length 112
    assert.equal(toHex(framed.subarray(5)), SMALL_HEX);
    assert.equal(toHex(encodeHeader(300)), '08ac02'); // a two-byte varint length
    assert.equal(toHex(frame(new Uint8Array(300)).subarray(0, 6)), '1e0308ac021f');
  });

  it('writes NaN with Go\'s bit pattern and doubles little endian', () => {
    assert.equal(toHex(encodeDouble(Number.NaN)), '010000000000f87f');
    assert.equal(toHex(encodeDouble(-0)), '0000000000000080');
    assert.equal(toHex(encodeDouble(0.1)), '9a9999999999b93f');
  });

  it('omits what is unset and keeps an empty representation', () => {
    const bare = encodeMessage({ uuid: UUID, timestamp: 0n });
    assert.equal(toHex(bare), `0a10${toHex(UUID)}1000`);
    assert.equal(toHex(encodeMessage({ fields: [{ name: 'x' }] })), '5203' + '0a0178');
  });

  it('round-trips through the independent TypeScript decoder', () => {
    const decoded = decodeMessage(encodeMessage(small));
    assert.deepEqual(decoded.uuid, UUID);
    assert.equal(decoded.timestamp, 1_000_000_000n);
    assert.equal(decoded.pid, -1);
    assert.deepEqual(decoded.fields[1]!.valueInteger, [1n, -2n]);
    assert.deepEqual(decoded.fields[2]!.valueDouble, [1.5]);
    assert.deepEqual(decoded.fields[3]!.valueBool, [true]);
    const stream = concatBytes([encodeFramed(small), encodeFramed({ ...small, type: 'u' })]);
    assert.deepEqual(parseFrames(stream).map((f) => decodeMessage(f.message).type), ['t', 'u']);
    assert.throws(() => parseFrames(stream.subarray(0, stream.length - 1)), /truncated/);
  });
});

describe('heka.ts against the stage\'s Lua decoder (lua_sandbox rules)', () => {
  const publisher = new SnapPublisher({ port: 1, config: stack, seed: 7, tagOrder: 'sorted' });
  const node = publisher.nodes[0]!;

  it('decodes a Snap message exactly as a plugin reads it', () => {
    const metric = publisher.collect(node, 1_700_000_000_123_456_789n)[0]!; // intel.procfs.cpu.*, cpuID "all"
    const message = snapHekaMessage(metric, { uuid: UUID, publishTimeNs: 1_700_000_000_987_654_321n, tagOrder: ['hostname', 'plugin_running_on'] });
    const { messages, summary } = luaDecode(encodeFramed(message));
    assert.deepEqual(summary, { found: 1, discarded: 0, unconsumed: 0 });
    const m = messages[0]!;
    assert.equal(m.uuid, toHex(UUID));
    assert.equal(m.timestamp_exact, '1700000000987654321');
    assert.equal(m.timestamp, Number(1_700_000_000_987_654_321n)); // a double: precision lost beyond 2^53
    assert.equal(m.type, 'snap.heka');
    assert.equal(m.logger, 'snap.heka.logger');
    assert.equal(m.severity, 6);
    assert.equal(m.pid, node.pid);
    assert.equal(m.hostname, node.hostname);
    assert.equal(m.payload, message.payload);
    assert.equal(m.env_version, undefined);
    assert.deepEqual(
      m.fields.map((f) => [f.name, f.value_type, f.representation, f.values]),
      [
        ['cpuID', 0, '', ['all']],
        ['hostname', 0, '', [node.name]],
        ['plugin_running_on', 0, '', [node.hostname]],
        ['dimensions', 0, '', ['cpuID', 'hostname', 'plugin_running_on']],
        ['name', 0, '', ['intel.procfs.cpu.idle_percentage']],
        ['value', 3, '', [metric.value]],
        ['timestamp', 2, '', [Number(1_700_000_000_123_456_789n)]],
      ],
    );
    assert.equal(m.raw_hex, toHex(encodeMessage(message)));
    assert.equal(m.framed_hex, toHex(encodeFramed(message)));
    assert.equal(m.decoded?.Fields?.length, 7);
    assert.equal(m.decoded?.Uuid, toHex(UUID));
  });

  it('reads the hand-checked message the same way (negative varints, packed arrays, bools)', () => {
    const { messages } = luaDecode(encodeFramed(small));
    const m = messages[0]!;
    assert.equal(m.pid, -1);
    assert.equal(m.timestamp_exact, '1000000000');
    assert.deepEqual(m.fields.map((f) => f.values), [['ab'], [1, -2], [1.5], [true]]);
    assert.deepEqual(m.decoded?.Fields?.map((f) => f.value), [['ab'], [1, -2], [1.5], [true]]);
  });

  it('keeps int64 extremes and casts like C', () => {
    const extremes: HekaMessage = {
      uuid: UUID,
      timestamp: -1n,
      severity: 2 ** 31, // (int) cast of the varint wraps to -2^31
      fields: [integerField('i', 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n)],
    };
    const m = luaDecode(encodeFramed(extremes)).messages[0]!;
    assert.equal(m.timestamp_exact, '-1');
    assert.equal(m.severity, -(2 ** 31));
    assert.deepEqual(m.fields[0]!.values, [2 ** 63, -(2 ** 63), 2 ** 53]); // doubles, rounded once
  });

  it('reads unpacked repeated integers wrong for array index > 0, as lua_sandbox does', () => {
    // value_integer written unpacked: key 0x30 before each value. read_message walks varints,
    // so index 1 is the key byte 0x30 = 48; decode_message handles it properly.
    const unpacked: HekaMessage = {
      uuid: UUID,
      timestamp: 1n,
      fields: [{ name: 'u', valueType: 2, extra: Uint8Array.of(0x30, 5, 0x30, 7) }],
    };
    const m = luaDecode(encodeFramed(unpacked)).messages[0]!;
    assert.deepEqual(m.fields[0]!.values.slice(0, 2), [5, 48]);
    assert.deepEqual(m.decoded?.Fields?.[0]?.value, [5, 7]);
  });

  it('drops invalid messages silently and keeps the valid ones of the same stream', () => {
    const valid = (n: number): HekaMessage => ({
      ...small,
      uuid: new Uint8Array(16).fill(0x40 + n),
      type: `valid-${n}`,
      fields: [...small.fields!, stringField('name', 'metric')],
    });
    const oversized = craft.paddedTo(valid(90), 70 * 1024);
    const stream = concatBytes([
      craft.garbage(100, { seed: 3 }),
      encodeFramed(valid(1)),
      encodeFramed(craft.withoutUuid(valid(91))),
      encodeFramed(valid(2)),
      encodeFramed(craft.withUuidBytes(valid(92), 15)),
      encodeFramed(craft.withoutTimestamp(valid(93))),
      encodeFramed(valid(3)),
      encodeFramed(craft.withUnknownField(valid(94))),
      encodeFramed(craft.withUnknownFieldInField(valid(95))),
      encodeFramed(craft.withUnknownFieldInField(valid(8), 'after-values')), // passes, as in lua_sandbox
      encodeFramed(valid(4)),
      encodeFramed(oversized), // message_length > max_message_size: the header is refused
      encodeFramed(valid(5)),
      Uint8Array.of(0x1e, 0x02, 0x09, 0x10, 0x1f), // header not starting with 0x08
      Uint8Array.of(0x1e, 0x02, 0x08, 0x10, 0x00), // no 0x1F after the header
      encodeFramed(valid(6)),
      craft.garbage(50, { seed: 4, recordSeparators: true }),
      encodeFramed(valid(7)),
    ]);
    const { messages, summary } = luaDecode(stream);
    assert.deepEqual(messages.map((m) => m.type), ['valid-1', 'valid-2', 'valid-3', 'valid-8', 'valid-4', 'valid-5', 'valid-6', 'valid-7']);
    assert.ok(summary.discarded > 70 * 1024, `discarded ${summary.discarded}`);
  });

  it('resynchronises after a truncated frame at the next decodable record', () => {
    const a: HekaMessage = { ...small, uuid: new Uint8Array(16).fill(0x41), type: 'a' };
    const b: HekaMessage = { ...small, uuid: new Uint8Array(16).fill(0x42), type: 'b' };
    const c: HekaMessage = { ...small, uuid: new Uint8Array(16).fill(0x43), type: 'c', payload: 'x'.repeat(200) };
    // the cut frame's header claims 112 bytes: the reader takes b's bytes into it, fails to
    // decode, then rescans one byte further and finds b, then c
    const stream = concatBytes([craft.truncated(encodeFramed(a), 40), encodeFramed(b), encodeFramed(c)]);
    const { messages, summary } = luaDecode(stream);
    assert.deepEqual(messages.map((m) => m.type), ['b', 'c']);
    assert.equal(summary.discarded, 40);
  });

  it('keeps an incomplete record at the end of the stream unconsumed (lost when the connection closes)', () => {
    const stream = concatBytes([encodeFramed(small), craft.truncated(encodeFramed(small), -1)]);
    const { messages, summary } = luaDecode(stream);
    assert.equal(messages.length, 1);
    assert.equal(summary.unconsumed, encodeFramed(small).length - 1);
  });

  it('honours a smaller max_message_size', () => {
    const big: HekaMessage = { ...small, payload: 'y'.repeat(2000) };
    assert.equal(luaDecode(encodeFramed(big), 1024).messages.length, 0);
    assert.equal(luaDecode(encodeFramed(big), 4096).messages.length, 1);
  });

  it('decodes the smallest valid message (uuid and timestamp: 20 bytes) with decode_message', () => {
    const m = luaDecode(encodeFramed({ uuid: UUID, timestamp: 5n })).messages[0]!;
    assert.equal(m.decode_error, undefined);
    assert.equal(m.decoded?.Timestamp, 5);
    assert.equal(m.decoded?.Fields, undefined);
    assert.equal(m.severity, 7); // lua_sandbox's default when absent
    assert.equal(m.pid, 0);
  });
});
