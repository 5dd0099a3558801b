import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrames, encodeFrame, encodeFrames, FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from '../src/frame.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
// Plain Uint8Array (not Buffer) so deepStrictEqual compares like with like.
const cat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

test('frames have a known byte encoding: length, crc32 over length and payload, payload', () => {
  // Reference values from Python's zlib.crc32(struct.pack('>I', len(p)) + p).
  assert.equal(hex(encodeFrame(bytes('abc'))), '0000000345bce840616263');
  assert.equal(hex(encodeFrame(new Uint8Array(0))), '000000002144df1c');
});

test('frames round-trip, including a zero-length payload', () => {
  const payloads = [bytes('first'), new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff)];
  const buf = encodeFrames(payloads);
  assert.deepEqual(buf, cat(payloads.map(encodeFrame)));
  const decoded = decodeFrames(buf);
  assert.deepEqual(decoded.payloads, payloads);
  assert.equal(decoded.validBytes, buf.byteLength);
  assert.equal(decoded.tornTailBytes, 0);
  assert.equal(decoded.stoppedBy, 'end');
});

test('an empty buffer decodes to no frames and no torn tail', () => {
  assert.deepEqual(decodeFrames(new Uint8Array(0)), { payloads: [], validBytes: 0, tornTailBytes: 0, stoppedBy: 'end' });
});

test('a torn tail is dropped at every cut point of a 3-frame buffer', () => {
  const payloads = [bytes('alpha'), new Uint8Array(0), bytes('gamma-gamma')];
  const frames = payloads.map(encodeFrame);
  const buf = cat(frames);
  const boundaries = [0];
  for (const f of frames) boundaries.push((boundaries.at(-1) ?? 0) + f.byteLength);
  for (let cut = 0; cut <= buf.byteLength; cut++) {
    const whole = boundaries.filter((b) => b <= cut).length - 1;
    const validBytes = boundaries[whole] ?? -1;
    const decoded = decodeFrames(buf.subarray(0, cut));
    assert.deepEqual(decoded.payloads, payloads.slice(0, whole), `cut ${cut}`);
    assert.equal(decoded.validBytes, validBytes, `cut ${cut}`);
    assert.equal(decoded.tornTailBytes, cut - validBytes, `cut ${cut}`);
    assert.equal(decoded.stoppedBy, cut === validBytes ? 'end' : 'truncated', `cut ${cut}`);
  }
});

test('every single flipped bit stops decoding at the frame that holds it', () => {
  const payloads = [bytes('one'), bytes('two-two'), bytes('three')];
  const frames = payloads.map(encodeFrame);
  const buf = cat(frames);
  let frameStart = 0;
  for (const [index, frame] of frames.entries()) {
    for (let bit = 0; bit < frame.byteLength * 8; bit++) {
      const damaged = Uint8Array.from(buf);
      const at = frameStart + (bit >> 3);
      damaged[at] = (damaged[at] ?? 0) ^ (1 << (bit & 7));
      const decoded = decodeFrames(damaged);
      assert.deepEqual(decoded.payloads, payloads.slice(0, index), `frame ${index} bit ${bit}`);
      assert.equal(decoded.validBytes, frameStart);
      assert.equal(decoded.tornTailBytes, buf.byteLength - frameStart);
      assert.notEqual(decoded.stoppedBy, 'end');
    }
    frameStart += frame.byteLength;
  }
});

test('a zero-filled region is not mistaken for empty frames', () => {
  const buf = cat([encodeFrame(bytes('kept')), new Uint8Array(64)]);
  const decoded = decodeFrames(buf);
  assert.deepEqual(decoded.payloads, [bytes('kept')]);
  assert.equal(decoded.tornTailBytes, 64);
  assert.equal(decoded.stoppedBy, 'checksum');
});

test('an absurd length is treated as corruption, not as a frame to wait for', () => {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  const buf = cat([encodeFrame(bytes('kept')), header]);
  const decoded = decodeFrames(buf);
  assert.deepEqual(decoded.payloads, [bytes('kept')]);
  assert.equal(decoded.tornTailBytes, FRAME_HEADER_BYTES);
  assert.equal(decoded.stoppedBy, 'oversize');
});

test('decoding works on a view that does not start at offset 0 of its ArrayBuffer', () => {
  const inner = encodeFrames([bytes('x'), bytes('yz')]);
  const outer = new Uint8Array(inner.byteLength + 7);
  outer.set(inner, 7);
  assert.deepEqual(decodeFrames(outer.subarray(7)).payloads, [bytes('x'), bytes('yz')]);
});
