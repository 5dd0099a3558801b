/**
 * struct nlattr (linux/netlink.h): u16 nla_len (header + value, unpadded), u16 nla_type, the
 * value, then padding to 4 bytes. Pure encode/decode; no I/O.
 */
import { NLA_ALIGNTO, NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';
import { NetlinkDecodeError } from './errors.js';

/** An attribute to send: a value, or children (encoded with NLA_F_NESTED). */
export type NlAttrSpec = { readonly type: number; readonly value: Buffer } | { readonly type: number; readonly nested: readonly NlAttrSpec[] };

/** A received attribute; `type` has the flag bits removed. */
export interface NlAttr {
  readonly type: number;
  readonly nested: boolean;
  readonly value: Buffer;
}

export function align4(n: number): number {
  return (n + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
}

export function attrBytes(type: number, value: Buffer): NlAttrSpec {
  return { type, value };
}

export function attrU8(type: number, v: number): NlAttrSpec {
  const b = Buffer.alloc(1);
  b.writeUInt8(v);
  return { type, value: b };
}

/** Host byte order (x86 and arm64 are little-endian; the kernel's NLA_U16 is host order). */
export function attrU16(type: number, v: number): NlAttrSpec {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return { type, value: b };
}

/** Network byte order (__be16: ports). */
export function attrBe16(type: number, v: number): NlAttrSpec {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return { type, value: b };
}

export function attrU32(type: number, v: number): NlAttrSpec {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return { type, value: b };
}

export function attrBe32(type: number, v: number): NlAttrSpec {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return { type, value: b };
}

/** NLA_NUL_STRING / NLA_STRING as the kernel's own tools send them: NUL-terminated. */
export function attrString(type: number, s: string): NlAttrSpec {
  return { type, value: Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]) };
}

export function attrNested(type: number, children: readonly NlAttrSpec[]): NlAttrSpec {
  return { type, nested: children };
}

function encodedLength(a: NlAttrSpec): number {
  return 'value' in a ? NLA_HDRLEN + a.value.length : NLA_HDRLEN + a.nested.reduce((n, c) => n + align4(encodedLength(c)), 0);
}

/** Encodes attributes back to back, each padded to 4 bytes (the last one too, as the kernel does). */
export function encodeAttrs(attrs: readonly NlAttrSpec[]): Buffer {
  const total = attrs.reduce((n, a) => n + align4(encodedLength(a)), 0);
  const out = Buffer.alloc(total);
  let off = 0;
  for (const a of attrs) off = writeAttr(out, off, a);
  return out;
}

function writeAttr(out: Buffer, off: number, a: NlAttrSpec): number {
  const len = encodedLength(a);
  if (len > 0xffff) throw new RangeError(`netlink attribute ${a.type} is ${len} bytes; nla_len is a u16`);
  out.writeUInt16LE(len, off);
  if ('value' in a) {
    out.writeUInt16LE(a.type & NLA_TYPE_MASK, off + 2);
    a.value.copy(out, off + NLA_HDRLEN);
  } else {
    out.writeUInt16LE((a.type & NLA_TYPE_MASK) | NLA_F_NESTED, off + 2);
    let inner = off + NLA_HDRLEN;
    for (const c of a.nested) inner = writeAttr(out, inner, c);
  }
  return off + align4(len);
}

/** Decodes a run of attributes; a truncated or overlong attribute is an error, not ignored. */
export function decodeAttrs(buf: Buffer): NlAttr[] {
  const out: NlAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) throw new NetlinkDecodeError(`attribute at offset ${off} has length ${len}, ${buf.length - off} bytes left`);
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, value: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** The attributes by type (a repeated type keeps the last, as nla_parse does). */
export function attrMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of decodeAttrs(buf)) m.set(a.type, a.value);
  return m;
}

export function readU8(v: Buffer | undefined): number | undefined {
  return v !== undefined && v.length >= 1 ? v.readUInt8(0) : undefined;
}
export function readU16(v: Buffer | undefined): number | undefined {
  return v !== undefined && v.length >= 2 ? v.readUInt16LE(0) : undefined;
}
export function readBe16(v: Buffer | undefined): number | undefined {
  return v !== undefined && v.length >= 2 ? v.readUInt16BE(0) : undefined;
}
export function readU32(v: Buffer | undefined): number | undefined {
  return v !== undefined && v.length >= 4 ? v.readUInt32LE(0) : undefined;
}
export function readBe32(v: Buffer | undefined): number | undefined {
  return v !== undefined && v.length >= 4 ? v.readUInt32BE(0) : undefined;
}
/** A string attribute without its NUL terminator. */
export function readString(v: Buffer | undefined): string | undefined {
  if (v === undefined) return undefined;
  const nul = v.indexOf(0);
  return v.subarray(0, nul < 0 ? v.length : nul).toString('utf8');
}
