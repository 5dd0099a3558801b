/** Byte helpers shared by the codec tests: hex in, frames out, and the error a decode threw. */
import assert from 'node:assert/strict';

import { BgpProtocolError } from '../src/errors.js';
import type { CodecContext } from '../src/messages.js';

export const FOUR_OCTET: CodecContext = { fourOctetAs: true };
export const TWO_OCTET: CodecContext = { fourOctetAs: false };

/** `"ff 00 1d"` -> bytes; whitespace is ignored. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  assert.equal(clean.length % 2, 0, `odd hex: ${text}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export const MARKER = 'ff'.repeat(16);

/** A whole message: marker, the right length, the type, and `body`. */
export function frame(type: number, body: Uint8Array | string): Uint8Array {
  const payload = typeof body === 'string' ? hex(body) : body;
  const length = 19 + payload.length;
  return Uint8Array.from([...hex(MARKER), length >> 8, length & 0xff, type, ...payload]);
}

/** An UPDATE body from its three fields. */
export function updateBody(withdrawn: string, attributes: string, nlri: string): Uint8Array {
  const w = hex(withdrawn);
  const a = hex(attributes);
  return Uint8Array.from([w.length >> 8, w.length & 0xff, ...w, a.length >> 8, a.length & 0xff, ...a, ...hex(nlri)]);
}

/** Runs `fn`, asserts it threw a BgpProtocolError with this code/subcode (and data, if given). */
export function expectNotification(fn: () => unknown, code: number, subcode: number, data?: string): BgpProtocolError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof BgpProtocolError, `expected BgpProtocolError ${code}/${subcode}, got ${String(thrown)}`);
  assert.deepEqual([thrown.notificationCode, thrown.notificationSubcode], [code, subcode], thrown.message);
  if (data !== undefined) assert.equal(toHex(thrown.data), data.replace(/\s+/g, ''), 'NOTIFICATION data');
  return thrown;
}
