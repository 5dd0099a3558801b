/**
 * The binary message codec: what travels inside a sealed packet or stream frame (see
 * security.ts for the envelope). Compact, big-endian, every field fixed-width or
 * length-prefixed. Decoding is defensive: every length is checked against what is left, every
 * field against its domain, trailing bytes are an error, and the only thing it throws is a
 * DecodeError. Nothing a peer sends can make it allocate more than the input's size.
 *
 *   string8  = u8 length, UTF-8 bytes          string16 = u16 length, UTF-8 bytes
 *   meta     = u8 count, count x (string8 key, string16 value)
 *   ping          1  u32 seq, string8 target (may be empty), string8 sourceAddress, u16 sourcePort, string8 sourceName
 *   indirect-ping 2  u32 seq, string8 target, string8 targetAddress, u16 targetPort, u8 nack, string8 sourceAddress, u16 sourcePort, string8 sourceName
 *   ack           3  u32 seq
 *   nack          4  u32 seq
 *   suspect       5  u32 incarnation, string8 node, string8 from
 *   alive         6  u32 incarnation, string8 node, string8 address, u16 port, meta
 *   dead          7  u32 incarnation, string8 node, string8 from
 *   push-pull     8  u8 join, u32 count, count x (string8 name, string8 address, u16 port, meta, u32 incarnation, u8 state)
 *   compound      9  u8 count, count x u16 length, then the messages (one level, no compounds inside)
 */
import { isIP } from 'node:net';
import { SwimError } from './errors.js';
import type { MemberState } from './types.js';

/** Longest node name, in UTF-8 bytes; bounds every packet so the worst case fits udpBufferSize. */
export const MAX_NAME_BYTES = 128;
/** Longest address string (an IPv6 literal is at most 45; room for a zone). */
export const MAX_ADDRESS_BYTES = 64;
/** Most messages in one compound (the count is a u8). */
export const MAX_COMPOUND_PARTS = 255;
/** Compound header: type byte + count byte. */
export const COMPOUND_HEADER_BYTES = 2;
/** Per message in a compound: its u16 length. */
export const COMPOUND_SLOT_BYTES = 2;

const T_PING = 1;
const T_INDIRECT_PING = 2;
const T_ACK = 3;
const T_NACK = 4;
const T_SUSPECT = 5;
const T_ALIVE = 6;
const T_DEAD = 7;
const T_PUSH_PULL = 8;
const T_COMPOUND = 9;

const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];
/** Smallest encoded push-pull entry: 1-byte name, "::", port, empty meta, incarnation, state. */
const MIN_PUSH_PULL_ENTRY = 2 + 3 + 2 + 1 + 4 + 1;

export type Meta = Readonly<Record<string, string>>;

export interface PingMessage { type: 'ping'; seq: number; target: string; sourceAddress: string; sourcePort: number; sourceName: string }
export interface IndirectPingMessage {
  type: 'indirect-ping';
  seq: number;
  target: string;
  targetAddress: string;
  targetPort: number;
  /** Ask the helper for a nack if the target does not answer (Lifeguard 4.1). */
  nack: boolean;
  sourceAddress: string;
  sourcePort: number;
  sourceName: string;
}
export interface AckMessage { type: 'ack'; seq: number }
export interface NackMessage { type: 'nack'; seq: number }
export interface SuspectMessage { type: 'suspect'; incarnation: number; node: string; from: string }
export interface AliveMessage { type: 'alive'; incarnation: number; node: string; address: string; port: number; meta: Meta }
export interface DeadMessage { type: 'dead'; incarnation: number; node: string; from: string }
export interface PushPullMember { name: string; address: string; port: number; meta: Meta; incarnation: number; state: MemberState }
export interface PushPullMessage { type: 'push-pull'; join: boolean; members: PushPullMember[] }

export type Message = PingMessage | IndirectPingMessage | AckMessage | NackMessage | SuspectMessage | AliveMessage | DeadMessage | PushPullMessage;

/** Bytes from a peer that are not a valid message. Never escapes the packet path. */
export class DecodeError extends SwimError {
  constructor(message: string) {
    super('E_DECODE', message);
    this.name = 'DecodeError';
  }
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------- encoding

class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.#room(1);
    this.#view.setUint8(this.#len, v);
    this.#len += 1;
    return this;
  }

  u16(v: number): this {
    this.#room(2);
    this.#view.setUint16(this.#len, v);
    this.#len += 2;
    return this;
  }

  u32(v: number): this {
    this.#room(4);
    this.#view.setUint32(this.#len, v >>> 0);
    this.#len += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  str8(s: string, max: number, what: string): this {
    const b = utf8.encode(s);
    if (b.length > Math.min(max, 255)) throw new RangeError(`${what} is ${b.length} bytes, more than ${Math.min(max, 255)}`);
    return this.u8(b.length).bytes(b);
  }

  str16(s: string, what: string): this {
    const b = utf8.encode(s);
    if (b.length > 0xffff) throw new RangeError(`${what} is ${b.length} bytes, more than 65535`);
    return this.u16(b.length).bytes(b);
  }

  meta(meta: Meta): this {
    const keys = Object.keys(meta).sort();
    if (keys.length > 255) throw new RangeError(`meta has ${keys.length} entries, more than 255`);
    this.u8(keys.length);
    for (const k of keys) this.str8(k, 255, 'meta key').str16(meta[k] ?? '', 'meta value');
    return this;
  }

  done(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** Encodes one message. Values come from this node and are trusted; a value out of range is a bug (RangeError). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  switch (m.type) {
    case 'ping':
      w.u8(T_PING).u32(m.seq).str8(m.target, MAX_NAME_BYTES, 'target').str8(m.sourceAddress, MAX_ADDRESS_BYTES, 'source address').u16(m.sourcePort).str8(m.sourceName, MAX_NAME_BYTES, 'source name');
      break;
    case 'indirect-ping':
      w.u8(T_INDIRECT_PING).u32(m.seq).str8(m.target, MAX_NAME_BYTES, 'target').str8(m.targetAddress, MAX_ADDRESS_BYTES, 'target address').u16(m.targetPort)
        .u8(m.nack ? 1 : 0).str8(m.sourceAddress, MAX_ADDRESS_BYTES, 'source address').u16(m.sourcePort).str8(m.sourceName, MAX_NAME_BYTES, 'source name');
      break;
    case 'ack':
      w.u8(T_ACK).u32(m.seq);
      break;
    case 'nack':
      w.u8(T_NACK).u32(m.seq);
      break;
    case 'suspect':
      w.u8(T_SUSPECT).u32(m.incarnation).str8(m.node, MAX_NAME_BYTES, 'node').str8(m.from, MAX_NAME_BYTES, 'from');
      break;
    case 'alive':
      w.u8(T_ALIVE).u32(m.incarnation).str8(m.node, MAX_NAME_BYTES, 'node').str8(m.address, MAX_ADDRESS_BYTES, 'address').u16(m.port).meta(m.meta);
      break;
    case 'dead':
      w.u8(T_DEAD).u32(m.incarnation).str8(m.node, MAX_NAME_BYTES, 'node').str8(m.from, MAX_NAME_BYTES, 'from');
      break;
    case 'push-pull':
      w.u8(T_PUSH_PULL).u8(m.join ? 1 : 0).u32(m.members.length);
      for (const p of m.members) {
        w.str8(p.name, MAX_NAME_BYTES, 'name').str8(p.address, MAX_ADDRESS_BYTES, 'address').u16(p.port).meta(p.meta).u32(p.incarnation).u8(STATES.indexOf(p.state));
      }
      break;
  }
  return w.done();
}

/** Several encoded messages in one packet (memberlist makeCompoundMessage). */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0 || parts.length > MAX_COMPOUND_PARTS) throw new RangeError(`compound of ${parts.length} parts`);
  const w = new Writer().u8(T_COMPOUND).u8(parts.length);
  for (const p of parts) {
    if (p.length > 0xffff) throw new RangeError(`compound part of ${p.length} bytes`);
    w.u16(p.length);
  }
  for (const p of parts) w.bytes(p);
  return w.done();
}

/** One message as is, several as a compound. */
export function encodePacketBody(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  return encodeCompound(parts);
}

/** Encoded size of a metadata map, the figure config.metaMaxBytes limits. */
export function encodedMetaSize(meta: Meta): number {
  let n = 1;
  for (const [k, v] of Object.entries(meta)) n += 1 + utf8.encode(k).length + 2 + utf8.encode(v).length;
  return n;
}

export function metaEquals(a: Meta, b: Meta): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

/** A frozen copy with own data properties only ("__proto__" is an ordinary key here). */
export function freezeMeta(entries: Iterable<readonly [string, string]>): Meta {
  return Object.freeze(Object.fromEntries(entries) as Record<string, string>);
}

// ---------------------------------------------------------------- decoding

class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #need(n: number, what: string): void {
    if (this.remaining < n) throw new DecodeError(`truncated ${what}: need ${n} bytes, have ${this.remaining}`);
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#view.getUint8(this.#pos++);
  }

  u16(what: string): number {
    this.#need(2, what);
    const v = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return v;
  }

  u32(what: string): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }

  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const b = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  #text(n: number, what: string): string {
    try {
      return strictUtf8.decode(this.bytes(n, what));
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
  }

  str8(what: string, min: number, max: number): string {
    const n = this.u8(`${what} length`);
    if (n < min || n > max) throw new DecodeError(`${what} length ${n} outside ${min}..${max}`);
    return this.#text(n, what);
  }

  str16(what: string): string {
    return this.#text(this.u16(`${what} length`), what);
  }

  name(what: string, allowEmpty = false): string {
    return this.str8(what, allowEmpty ? 0 : 1, MAX_NAME_BYTES);
  }

  address(what: string): string {
    const a = this.str8(what, 2, MAX_ADDRESS_BYTES);
    if (isIP(a) === 0) throw new DecodeError(`${what} ${JSON.stringify(a)} is not an IP address`);
    return a;
  }

  port(what: string): number {
    const p = this.u16(what);
    if (p === 0) throw new DecodeError(`${what} is 0`);
    return p;
  }

  flag(what: string): boolean {
    const f = this.u8(what);
    if (f > 1) throw new DecodeError(`${what} is ${f}, not 0 or 1`);
    return f === 1;
  }

  meta(): Meta {
    const count = this.u8('meta count');
    const entries: [string, string][] = [];
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const k = this.str8('meta key', 0, 255);
      const v = this.str16('meta value');
      if (seen.has(k)) throw new DecodeError(`duplicate meta key ${JSON.stringify(k)}`);
      seen.add(k);
      entries.push([k, v]);
    }
    return freezeMeta(entries);
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} trailing bytes after ${what}`);
  }
}

/** Decodes exactly one (non-compound) message. Throws only DecodeError. */
export function decodeMessage(buf: Uint8Array): Message {
  const r = new Reader(buf);
  const type = r.u8('message type');
  let m: Message;
  switch (type) {
    case T_PING:
      m = { type: 'ping', seq: r.u32('seq'), target: r.name('target', true), sourceAddress: r.address('source address'), sourcePort: r.port('source port'), sourceName: r.name('source name') };
      break;
    case T_INDIRECT_PING:
      m = {
        type: 'indirect-ping', seq: r.u32('seq'), target: r.name('target'), targetAddress: r.address('target address'), targetPort: r.port('target port'),
        nack: r.flag('nack flag'), sourceAddress: r.address('source address'), sourcePort: r.port('source port'), sourceName: r.name('source name'),
      };
      break;
    case T_ACK:
      m = { type: 'ack', seq: r.u32('seq') };
      break;
    case T_NACK:
      m = { type: 'nack', seq: r.u32('seq') };
      break;
    case T_SUSPECT:
      m = { type: 'suspect', incarnation: r.u32('incarnation'), node: r.name('node'), from: r.name('from') };
      break;
    case T_ALIVE:
      m = { type: 'alive', incarnation: r.u32('incarnation'), node: r.name('node'), address: r.address('address'), port: r.port('port'), meta: r.meta() };
      break;
    case T_DEAD:
      m = { type: 'dead', incarnation: r.u32('incarnation'), node: r.name('node'), from: r.name('from') };
      break;
    case T_PUSH_PULL: {
      const join = r.flag('join flag');
      const count = r.u32('member count');
      // Refuse before allocating: a count the remaining bytes cannot hold is a lie.
      if (count * MIN_PUSH_PULL_ENTRY > r.remaining) throw new DecodeError(`push-pull claims ${count} members in ${r.remaining} bytes`);
      const members: PushPullMember[] = [];
      for (let i = 0; i < count; i++) {
        const name = r.name('name');
        const address = r.address('address');
        const port = r.port('port');
        const meta = r.meta();
        const incarnation = r.u32('incarnation');
        const stateByte = r.u8('state');
        const state = STATES[stateByte];
        if (state === undefined) throw new DecodeError(`member state ${stateByte} unknown`);
        members.push({ name, address, port, meta, incarnation, state });
      }
      m = { type: 'push-pull', join, members };
      break;
    }
    case T_COMPOUND:
      throw new DecodeError('compound message where a single message was expected');
    default:
      throw new DecodeError(`unknown message type ${type}`);
  }
  r.end(m.type);
  return m;
}

/** Decodes a packet body: one message, or a compound of them. Throws only DecodeError. */
export function decodePacketBody(buf: Uint8Array): Message[] {
  if (buf.length === 0) throw new DecodeError('empty packet');
  if (buf[0] !== T_COMPOUND) return [decodeMessage(buf)];
  const r = new Reader(buf);
  r.u8('message type');
  const count = r.u8('compound count');
  if (count === 0) throw new DecodeError('empty compound');
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push(r.u16('compound length'));
  const out: Message[] = [];
  for (const len of lengths) out.push(decodeMessage(r.bytes(len, 'compound part')));
  r.end('compound');
  return out;
}
