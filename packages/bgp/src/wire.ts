/**
 * Bounds-checked big-endian reads and range-checked writes: the only place the codec touches
 * bytes by index. Every read checks what is left first and reports a shortfall through the
 * caller's `malformed` function, so a hostile frame produces the NOTIFICATION its region calls
 * for (never a RangeError); every write checks its value fits the field and throws
 * `E_BGP_ENCODE` naming the field.
 */
import { BgpError } from './errors.js';

/** Builds the error a truncated or inconsistent region means; the reader throws what it returns. */
export type MalformedError = (reason: string) => Error;

export class WireReader {
  readonly #bytes: Uint8Array;
  readonly #end: number;
  readonly #malformed: MalformedError;
  #offset: number;

  /** Reads `bytes[start, end)`; a read past `end` throws `malformed(reason)`. */
  constructor(bytes: Uint8Array, malformed: MalformedError, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#malformed = malformed;
    this.#offset = Math.max(0, Math.min(start, bytes.length));
    this.#end = Math.max(this.#offset, Math.min(end, bytes.length));
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#end - this.#offset;
  }

  u8(field: string): number {
    this.#need(1, field);
    const value = this.#bytes[this.#offset] ?? 0;
    this.#offset += 1;
    return value;
  }

  u16(field: string): number {
    this.#need(2, field);
    const at = this.#offset;
    this.#offset += 2;
    return ((this.#bytes[at] ?? 0) << 8) | (this.#bytes[at + 1] ?? 0);
  }

  u32(field: string): number {
    this.#need(4, field);
    const at = this.#offset;
    this.#offset += 4;
    // `>>> 0` keeps the value unsigned: a leading 0x80 byte must not turn it negative.
    return (((this.#bytes[at] ?? 0) << 24) | ((this.#bytes[at + 1] ?? 0) << 16) | ((this.#bytes[at + 2] ?? 0) << 8) | (this.#bytes[at + 3] ?? 0)) >>> 0;
  }

  /** A view of the next `length` bytes (not a copy: copy before keeping it in a decoded value). */
  bytes(length: number, field: string): Uint8Array {
    this.#need(length, field);
    const view = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return view;
  }

  /** Everything left, as a view. */
  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }

  #need(length: number, field: string): void {
    if (length < 0 || this.#offset + length > this.#end) {
      throw this.#malformed(`${field}: needs ${length} byte(s), ${this.remaining} left`);
    }
  }
}

/** A plain Uint8Array copy (a Buffer's `slice` is a view, and decoded values must not alias frames). */
export function copyBytes(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

/** Appends big-endian fields to a growing buffer, checking each value fits its field. */
export class WireWriter {
  #buffer = new Uint8Array(256);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  u8(value: number, field: string): this {
    checkRange(value, 0xff, field);
    this.#grow(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  u16(value: number, field: string): this {
    checkRange(value, 0xffff, field);
    this.#grow(2);
    this.#buffer[this.#length++] = value >>> 8;
    this.#buffer[this.#length++] = value & 0xff;
    return this;
  }

  u32(value: number, field: string): this {
    checkRange(value, 0xffffffff, field);
    this.#grow(4);
    this.#buffer[this.#length++] = (value >>> 24) & 0xff;
    this.#buffer[this.#length++] = (value >>> 16) & 0xff;
    this.#buffer[this.#length++] = (value >>> 8) & 0xff;
    this.#buffer[this.#length++] = value & 0xff;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.#grow(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
    return this;
  }

  /** Overwrites a 16-bit field written earlier (a length known only once its contents are). */
  setU16(at: number, value: number, field: string): void {
    checkRange(value, 0xffff, field);
    if (at < 0 || at + 2 > this.#length) throw new BgpError('E_BGP_ENCODE', `${field}: no 16-bit field at offset ${at}`);
    this.#buffer[at] = value >>> 8;
    this.#buffer[at + 1] = value & 0xff;
  }

  /** The bytes written so far, as a plain Uint8Array copy. */
  toBytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #grow(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
  }
}

function checkRange(value: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new BgpError('E_BGP_ENCODE', `${field} ${String(value)} is out of range 0..${max}`);
  }
}
