import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BgpProtocolError } from '../src/errors.js';
import { MessageFramer } from '../src/framer.js';
import { expectNotification, frame, hex, MARKER, toHex } from './codec-fixtures.js';

const KEEPALIVE = hex(`${MARKER} 0013 04`);
const NOTIFICATION = frame(3, '0602');
const BIG_NOTIFICATION = frame(3, new Uint8Array(4096 - 19).fill(7));

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

test('whole messages in one chunk come out one by one', () => {
  const framer = new MessageFramer();
  const out = framer.push(concat(KEEPALIVE, NOTIFICATION, KEEPALIVE));
  assert.deepEqual(out.map(toHex), [toHex(KEEPALIVE), toHex(NOTIFICATION), toHex(KEEPALIVE)]);
  assert.equal(framer.buffered, 0);
});

test('a stream fed one byte at a time reassembles into the same messages', () => {
  const stream = concat(NOTIFICATION, BIG_NOTIFICATION, KEEPALIVE);
  const framer = new MessageFramer();
  const out: Uint8Array[] = [];
  let maxBuffered = 0;
  for (const byte of stream) {
    out.push(...framer.push(Uint8Array.of(byte)));
    maxBuffered = Math.max(maxBuffered, framer.buffered);
  }
  assert.deepEqual(out.map(toHex), [NOTIFICATION, BIG_NOTIFICATION, KEEPALIVE].map(toHex));
  // Never more than one partial message is held.
  assert.equal(maxBuffered, 4095);
});

test('messages split across chunks at every point come out whole', () => {
  const stream = concat(NOTIFICATION, KEEPALIVE, NOTIFICATION);
  for (let cut = 0; cut <= stream.length; cut++) {
    const framer = new MessageFramer();
    const out = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
    assert.deepEqual(out.map(toHex), [NOTIFICATION, KEEPALIVE, NOTIFICATION].map(toHex), `cut at ${cut}`);
  }
});

test('returned messages are copies the caller may keep', () => {
  const chunk = concat(NOTIFICATION);
  const [message] = new MessageFramer().push(chunk);
  chunk.fill(0);
  assert.equal(toHex(message ?? new Uint8Array()), toHex(NOTIFICATION));
});

test('a bad marker byte is Connection Not Synchronized at that byte, not after a whole header', () => {
  const framer = new MessageFramer();
  assert.deepEqual(framer.push(hex('ffff')), []);
  expectNotification(() => framer.push(hex('00')), 1, 1);
  // HTTP instead of BGP: caught on the first byte.
  expectNotification(() => new MessageFramer().push(new TextEncoder().encode('G')), 1, 1);
});

test('a length outside 19..4096 is Bad Message Length with the length field, before the type arrives', () => {
  const tooLong = new MessageFramer();
  expectNotification(() => tooLong.push(hex(`${MARKER} 1001`)), 1, 2, '1001');
  const tooShort = new MessageFramer();
  expectNotification(() => tooShort.push(hex(`${MARKER} 0012`)), 1, 2, '0012');
  expectNotification(() => new MessageFramer().push(hex(`${MARKER} ffff`)), 1, 2, 'ffff');
});

test('a length wrong for the type, and an unknown type, are caught on the header', () => {
  expectNotification(() => new MessageFramer().push(hex(`${MARKER} 0014 04`)), 1, 2, '0014');
  expectNotification(() => new MessageFramer().push(hex(`${MARKER} 001c 01`)), 1, 2, '001c');
  expectNotification(() => new MessageFramer().push(hex(`${MARKER} 0016 02`)), 1, 2, '0016');
  expectNotification(() => new MessageFramer().push(hex(`${MARKER} 0014 03`)), 1, 2, '0014');
  expectNotification(() => new MessageFramer().push(hex(`${MARKER} 0013 07`)), 1, 3, '07');
  // A ROUTE-REFRESH of the wrong length passes the framer: the codec owns that error (RFC 7313 5).
  assert.equal(new MessageFramer().push(hex(`${MARKER} 0018 05 0001 00 01 00`)).length, 1);
});

test('after an error the framer stays failed', () => {
  const framer = new MessageFramer();
  const first = expectNotification(() => framer.push(hex(`${MARKER} 0013 09`)), 1, 3);
  let again: unknown;
  try {
    framer.push(KEEPALIVE);
  } catch (error) {
    again = error;
  }
  assert.equal(again, first);
});

test('an error after whole messages in the same chunk still throws at once', () => {
  assert.throws(() => new MessageFramer().push(concat(KEEPALIVE, hex('00'))), BgpProtocolError);
});
