/**
 * Heka messages in TypeScript, byte for byte as Go's protobuf encoder writes them in
 * snap-plugin-publisher-heka (heka/message/message.pb.go, a goprotobuf reflection encoder; the
 * publisher builds fields with message.NewField and frames with client.ProtobufEncoder):
 *
 * - fields in field-number order; an optional field is written when it is set (proto2 presence:
 *   Severity 6 is written, so is an empty Representation);
 * - int32/int64 as plain varints (no zigzag): a negative number takes 10 bytes (two's complement);
 * - repeated int64/double/bool packed (one length-delimited record), repeated strings/bytes one
 *   record each; doubles little endian (Go's NaN is 0x7FF8000000000001);
 * - NewField always sets value_type AND representation (""), so both are on the wire.
 *
 * Stream framing: 0x1E, header length (1 byte), Header{message_length = 1 (varint)}, 0x1F, message.
 * Reference: Heka's message.proto and Hindsight's framing (docs/pipeline.md).
 */

export const ValueType = { STRING: 0, BYTES: 1, INTEGER: 2, DOUBLE: 3, BOOL: 4 } as const;
export type ValueTypeName = keyof typeof ValueType;

export const RECORD_SEPARATOR = 0x1e;
export const UNIT_SEPARATOR = 0x1f;
export const UUID_SIZE = 16;
/** Hindsight's and Heka's default max_message_size. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024;

/** Text or raw bytes (Go strings are bytes: raw bytes let a test send invalid UTF-8). */
export type ProtoString = string | Uint8Array;

/**
 * A Field as Go's struct holds it. Undefined members are absent on the wire; set several value
 * arrays (or the wrong one for value_type) to craft bad input.
 */
export interface HekaField {
  name: ProtoString;
  valueType?: number;
  representation?: ProtoString;
  valueString?: ProtoString[];
  valueBytes?: Uint8Array[];
  valueInteger?: (bigint | number)[];
  valueDouble?: number[];
  valueBool?: boolean[];
  /** Raw bytes appended to the field record (e.g. an unknown field number). */
  extra?: Uint8Array;
}

/** A Message as Go's struct holds it; uuid and timestamp may be left out to craft bad input. */
export interface HekaMessage {
  uuid?: Uint8Array;
  timestamp?: bigint | number;
  type?: ProtoString;
  logger?: ProtoString;
  severity?: number;
  payload?: ProtoString;
  envVersion?: ProtoString;
  pid?: number;
  hostname?: ProtoString;
  fields?: HekaField[];
  /** Raw bytes appended to the message (e.g. an unknown field number). */
  extra?: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// field constructors: what message.NewField(name, value, "") produces for each Go type

export function stringField(name: string, ...values: ProtoString[]): HekaField {
  return { name, valueType: ValueType.STRING, representation: '', valueString: values };
}

export function bytesField(name: string, ...values: Uint8Array[]): HekaField {
  return { name, valueType: ValueType.BYTES, representation: '', valueBytes: values };
}

export function integerField(name: string, ...values: (bigint | number)[]): HekaField {
  return { name, valueType: ValueType.INTEGER, representation: '', valueInteger: values };
}

export function doubleField(name: string, ...values: number[]): HekaField {
  return { name, valueType: ValueType.DOUBLE, representation: '', valueDouble: values };
}

export function boolField(name: string, ...values: boolean[]): HekaField {
  return { name, valueType: ValueType.BOOL, representation: '', valueBool: values };
}

// ---------------------------------------------------------------------------------------------
// encoding

const encoder = new TextEncoder();
const MASK64 = (1n << 64n) - 1n;

function bytesOf(value: ProtoString): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  byte(b: number): void {
    this.push(Uint8Array.of(b));
  }

  /** Unsigned varint of the low 64 bits (negative numbers: two's complement, 10 bytes). */
  varint(value: bigint | number): void {
    let v = BigInt.asUintN(64, typeof value === 'bigint' ? value : BigInt(value)) & MASK64;
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      out.push(b);
    } while (v !== 0n);
    this.push(Uint8Array.from(out));
  }

  key(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  lengthDelimited(field: number, bytes: Uint8Array): void {
    this.key(field, 2);
    this.varint(bytes.length);
    this.push(bytes);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** 8 bytes little endian; NaN with Go's bit pattern (math.NaN() is 0x7FF8000000000001). */
export function encodeDouble(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  if (Number.isNaN(value)) view.setBigUint64(0, 0x7ff8000000000001n, true);
  else view.setFloat64(0, value, true);
  return out;
}

function int32(value: number): bigint {
  if (!Number.isInteger(value)) throw new Error(`not an integer: ${value}`);
  return BigInt(value | 0);
}

export function encodeField(field: HekaField): Uint8Array {
  const w = new Writer();
  w.lengthDelimited(1, bytesOf(field.name));
  if (field.valueType !== undefined) {
    w.key(2, 0);
    w.varint(int32(field.valueType));
  }
  if (field.representation !== undefined) w.lengthDelimited(3, bytesOf(field.representation));
  for (const s of field.valueString ?? []) w.lengthDelimited(4, bytesOf(s));
  for (const b of field.valueBytes ?? []) w.lengthDelimited(5, b);
  if (field.valueInteger && field.valueInteger.length > 0) {
    const packed = new Writer();
    for (const v of field.valueInteger) packed.varint(v);
    w.lengthDelimited(6, packed.finish());
  }
  if (field.valueDouble && field.valueDouble.length > 0) {
    const packed = new Writer();
    for (const v of field.valueDouble) packed.push(encodeDouble(v));
    w.lengthDelimited(7, packed.finish());
  }
  if (field.valueBool && field.valueBool.length > 0) {
    w.lengthDelimited(8, Uint8Array.from(field.valueBool.map((b) => (b ? 1 : 0))));
  }
  if (field.extra) w.push(field.extra);
  return w.finish();
}

/** The Message protobuf (no framing). */
export function encodeMessage(message: HekaMessage): Uint8Array {
  const w = new Writer();
  if (message.uuid !== undefined) w.lengthDelimited(1, message.uuid);
  if (message.timestamp !== undefined) {
    w.key(2, 0);
    w.varint(message.timestamp);
  }
  if (message.type !== undefined) w.lengthDelimited(3, bytesOf(message.type));
  if (message.logger !== undefined) w.lengthDelimited(4, bytesOf(message.logger));
  if (message.severity !== undefined) {
    w.key(5, 0);
    w.varint(int32(message.severity));
  }
  if (message.payload !== undefined) w.lengthDelimited(6, bytesOf(message.payload));
  if (message.envVersion !== undefined) w.lengthDelimited(7, bytesOf(message.envVersion));
  if (message.pid !== undefined) {
    w.key(8, 0);
    w.varint(int32(message.pid));
  }
  if (message.hostname !== undefined) w.lengthDelimited(9, bytesOf(message.hostname));
  for (const field of message.fields ?? []) w.lengthDelimited(10, encodeField(field));
  if (message.extra) w.push(message.extra);
  return w.finish();
}

/** The Header protobuf: message_length (field 1, varint), as client.ProtobufEncoder writes it. */
export function encodeHeader(messageLength: number): Uint8Array {
  const w = new Writer();
  w.key(1, 0);
  w.varint(messageLength);
  return w.finish();
}

/** One framed record: 0x1E, header length, header, 0x1F, message. */
export function frame(messageBytes: Uint8Array): Uint8Array {
  const header = encodeHeader(messageBytes.length);
  if (header.length > 255) throw new Error('header too long');
  const out = new Uint8Array(3 + header.length + messageBytes.length);
  out[0] = RECORD_SEPARATOR;
  out[1] = header.length;
  out.set(header, 2);
  out[2 + header.length] = UNIT_SEPARATOR;
  out.set(messageBytes, 3 + header.length);
  return out;
}

/** encodeMessage + frame: what Snap's Heka publisher writes on the socket for one metric. */
export function encodeFramed(message: HekaMessage): Uint8Array {
  return frame(encodeMessage(message));
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const w = new Writer();
  for (const p of parts) w.push(p);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// decoding: a generic, independent protobuf reader (not lua_sandbox's rules: it accepts any valid
// protobuf and throws on malformed bytes); used to record and check what was sent.

export interface DecodedField {
  name: string;
  valueType?: number;
  representation?: string;
  valueString: string[];
  valueBytes: Uint8Array[];
  valueInteger: bigint[];
  valueDouble: number[];
  valueBool: boolean[];
}

export interface DecodedMessage {
  uuid?: Uint8Array;
  timestamp?: bigint;
  type?: string;
  logger?: string;
  severity?: number;
  payload?: string;
  envVersion?: string;
  pid?: number;
  hostname?: string;
  fields: DecodedField[];
}

const decoder = new TextDecoder();

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result & MASK64;
      shift += 7n;
    }
    throw new Error('varint longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  fixed64(): Uint8Array {
    if (this.pos + 8 > this.end) throw new Error('truncated fixed64');
    const out = this.buf.subarray(this.pos, this.pos + 8);
    this.pos += 8;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.fixed64();
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) {
      if (this.pos + 4 > this.end) throw new Error('truncated fixed32');
      this.pos += 4;
    } else throw new Error(`unsupported wire type ${wireType}`);
  }
}

function signed64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

function decodeDouble(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
}

function decodeField(bytes: Uint8Array): DecodedField {
  const r = new Reader(bytes);
  const field: DecodedField = { name: '', valueString: [], valueBytes: [], valueInteger: [], valueDouble: [], valueBool: [] };
  while (!r.done()) {
    const key = Number(r.varint());
    const number = key >>> 3;
    const wireType = key & 7;
    if (number === 1 && wireType === 2) field.name = decoder.decode(r.bytes());
    else if (number === 2 && wireType === 0) field.valueType = Number(BigInt.asIntN(32, r.varint()));
    else if (number === 3 && wireType === 2) field.representation = decoder.decode(r.bytes());
    else if (number === 4 && wireType === 2) field.valueString.push(decoder.decode(r.bytes()));
    else if (number === 5 && wireType === 2) field.valueBytes.push(Uint8Array.from(r.bytes()));
    else if (number === 6 && wireType === 2) {
      const packed = r.bytes();
      const pr = new Reader(packed);
      while (!pr.done()) field.valueInteger.push(signed64(pr.varint()));
    } else if (number === 6 && wireType === 0) field.valueInteger.push(signed64(r.varint()));
    else if (number === 7 && wireType === 2) {
      const packed = r.bytes();
      if (packed.length % 8 !== 0) throw new Error('packed doubles not a multiple of 8 bytes');
      for (let i = 0; i < packed.length; i += 8) field.valueDouble.push(decodeDouble(packed.subarray(i, i + 8)));
    } else if (number === 7 && wireType === 1) field.valueDouble.push(decodeDouble(r.fixed64()));
    else if (number === 8 && wireType === 2) {
      const packed = r.bytes();
      const pr = new Reader(packed);
      while (!pr.done()) field.valueBool.push(pr.varint() !== 0n);
    } else if (number === 8 && wireType === 0) field.valueBool.push(r.varint() !== 0n);
    else r.skip(wireType);
  }
  return field;
}

/** Decodes a Message protobuf (throws on malformed protobuf; unknown fields are skipped). */
export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  const r = new Reader(bytes);
  const message: DecodedMessage = { fields: [] };
  while (!r.done()) {
    const key = Number(r.varint());
    const number = key >>> 3;
    const wireType = key & 7;
    if (number === 1 && wireType === 2) message.uuid = Uint8Array.from(r.bytes());
    else if (number === 2 && wireType === 0) message.timestamp = signed64(r.varint());
    else if (number === 3 && wireType === 2) message.type = decoder.decode(r.bytes());
    else if (number === 4 && wireType === 2) message.logger = decoder.decode(r.bytes());
    else if (number === 5 && wireType === 0) message.severity = Number(BigInt.asIntN(32, r.varint()));
    else if (number === 6 && wireType === 2) message.payload = decoder.decode(r.bytes());
    else if (number === 7 && wireType === 2) message.envVersion = decoder.decode(r.bytes());
    else if (number === 8 && wireType === 0) message.pid = Number(BigInt.asIntN(32, r.varint()));
    else if (number === 9 && wireType === 2) message.hostname = decoder.decode(r.bytes());
    else if (number === 10 && wireType === 2) message.fields.push(decodeField(r.bytes()));
    else r.skip(wireType);
  }
  return message;
}

export interface Frame {
  /** Byte offset of the record separator in the stream. */
  offset: number;
  header: Uint8Array;
  message: Uint8Array;
}

/**
 * Splits a stream of well-formed framed records (throws on anything else: this is the checking
 * side, not a resynchronising reader like lua_sandbox's).
 */
export function parseFrames(stream: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < stream.length) {
    if (stream[pos] !== RECORD_SEPARATOR) throw new Error(`no record separator at ${pos}`);
    const hlen = stream[pos + 1];
    if (hlen === undefined) throw new Error(`truncated header length at ${pos}`);
    const header = stream.subarray(pos + 2, pos + 2 + hlen);
    if (stream[pos + 2 + hlen] !== UNIT_SEPARATOR) throw new Error(`no unit separator after the header at ${pos}`);
    const hr = new Reader(header);
    let length: number | undefined;
    while (!hr.done()) {
      const key = Number(hr.varint());
      if (key === 0x08) length = Number(hr.varint());
      else hr.skip(key & 7);
    }
    if (length === undefined) throw new Error(`header without message_length at ${pos}`);
    const start = pos + 3 + hlen;
    if (start + length > stream.length) throw new Error(`truncated message at ${pos}`);
    frames.push({ offset: pos, header, message: stream.subarray(start, start + length) });
    pos = start + length;
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// helpers

export function uuidToString(uuid: Uint8Array): string {
  const hex = Buffer.from(uuid).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Version 4 random UUID bytes, as pborman/uuid.NewRandom() makes them. */
export function randomUuid(random: (n: number) => Uint8Array): Uint8Array {
  const b = random(UUID_SIZE);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

/** Nanoseconds since the epoch, from the wall clock with sub-millisecond resolution. */
const hrBase = process.hrtime.bigint();
const wallBase = BigInt(Date.now()) * 1_000_000n;
export function nowNs(): bigint {
  return wallBase + (process.hrtime.bigint() - hrBase);
}
