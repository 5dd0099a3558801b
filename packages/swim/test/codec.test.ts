import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecodeError, MAX_NAME_BYTES, decodeMessage, decodePacketBody, encodeCompound, encodeMessage, encodedMetaSize, freezeMeta, metaEquals, type Message,
} from '../src/codec.js';
import { seededRandom, randomInt, type Random } from '../src/random.js';

const samples: Message[] = [
  { type: 'ping', seq: 1, target: 'node-b', sourceAddress: '10.0.0.1', sourcePort: 7946, sourceName: 'node-a' },
  { type: 'ping', seq: 0xffffffff, target: '', sourceAddress: '::1', sourcePort: 1, sourceName: 'ä' },
  { type: 'indirect-ping', seq: 42, target: 'node-c', targetAddress: '10.0.0.3', targetPort: 7946, nack: true, sourceAddress: '10.0.0.1', sourcePort: 7946, sourceName: 'node-a' },
  { type: 'indirect-ping', seq: 43, target: 'node-c', targetAddress: 'fe80::1', targetPort: 65535, nack: false, sourceAddress: '2001:db8::1', sourcePort: 7946, sourceName: 'node-a' },
  { type: 'ack', seq: 7 },
  { type: 'nack', seq: 8 },
  { type: 'suspect', incarnation: 3, node: 'node-b', from: 'node-a' },
  { type: 'alive', incarnation: 4, node: 'node-b', address: '10.0.0.2', port: 7946, meta: freezeMeta([['role', 'director'], ['zone', 'eu-1'], ['__proto__', 'plain key'], ['', '']]) },
  { type: 'alive', incarnation: 0xffffffff, node: 'n'.repeat(MAX_NAME_BYTES), address: '10.0.0.2', port: 7946, meta: freezeMeta([]) },
  { type: 'dead', incarnation: 5, node: 'node-b', from: 'node-b' },
  {
    type: 'push-pull', join: true, members: [
      { name: 'node-a', address: '10.0.0.1', port: 7946, meta: freezeMeta([['k', 'v']]), incarnation: 1, state: 'alive' },
      { name: 'node-b', address: '10.0.0.2', port: 7946, meta: freezeMeta([]), incarnation: 9, state: 'suspect' },
      { name: 'node-c', address: '::', port: 7946, meta: freezeMeta([]), incarnation: 2, state: 'dead' },
      { name: 'node-d', address: '10.0.0.4', port: 7, meta: freezeMeta([]), incarnation: 3, state: 'left' },
    ],
  },
  { type: 'push-pull', join: false, members: [] },
];

test('every message type round-trips through the codec', () => {
  for (const m of samples) {
    const back = decodeMessage(encodeMessage(m));
    assert.deepEqual(back, m);
    assert.deepEqual(decodePacketBody(encodeMessage(m)), [m]);
  }
});

test('a "__proto__" metadata key is an ordinary key, not a prototype change', () => {
  const alive = samples[7];
  assert.ok(alive?.type === 'alive');
  const back = decodeMessage(encodeMessage(alive));
  assert.ok(back.type === 'alive');
  assert.equal(Object.getPrototypeOf(back.meta), Object.prototype);
  assert.equal(back.meta.__proto__, 'plain key');
  assert.ok(Object.isFrozen(back.meta));
});

test('a compound packet carries several messages and decodes in order', () => {
  const parts = samples.filter((m) => m.type !== 'push-pull').map(encodeMessage);
  const decoded = decodePacketBody(encodeCompound(parts));
  assert.deepEqual(decoded, samples.filter((m) => m.type !== 'push-pull'));
});

test('metadata size is the encoded size and equality ignores key order', () => {
  assert.equal(encodedMetaSize(freezeMeta([])), 1);
  // count + (len, "role", u16 len, "director")
  assert.equal(encodedMetaSize(freezeMeta([['role', 'director']])), 1 + 1 + 4 + 2 + 8);
  assert.equal(encodedMetaSize(freezeMeta([['é', 'ü']])), 1 + 1 + 2 + 2 + 2);
  assert.ok(metaEquals(freezeMeta([['a', '1'], ['b', '2']]), freezeMeta([['b', '2'], ['a', '1']])));
  assert.ok(!metaEquals(freezeMeta([['a', '1']]), freezeMeta([['a', '2']])));
  assert.ok(!metaEquals(freezeMeta([['a', '1']]), freezeMeta([['a', '1'], ['b', '']])));
});

const enc = (bytes: number[]) => Uint8Array.from(bytes);
const str = (s: string) => [Buffer.byteLength(s), ...Buffer.from(s)];

test('malformed input is refused with a DecodeError that says why', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty packet', enc([]), /empty packet/],
    ['unknown type', enc([0x7f]), /unknown message type 127/],
    ['truncated seq', enc([3, 0, 0]), /truncated seq/],
    ['trailing bytes', enc([3, 0, 0, 0, 1, 9]), /1 trailing bytes after ack/],
    ['bad UTF-8 in a name', enc([5, 0, 0, 0, 1, 2, 0xc3, 0x28, ...str('a')]), /node is not valid UTF-8/],
    ['empty node name', enc([5, 0, 0, 0, 1, 0, ...str('a')]), /node length 0 outside 1\.\.128/],
    ['name over the limit', enc([5, 0, 0, 0, 1, 200, ...new Array<number>(200).fill(97), ...str('a')]), /node length 200 outside/],
    ['address that is not an IP', enc([6, 0, 0, 0, 1, ...str('a'), ...str('example.com'), 0x1e, 0xf2, 0]), /not an IP address/],
    ['port 0', enc([6, 0, 0, 0, 1, ...str('a'), ...str('10.0.0.1'), 0, 0, 0]), /port is 0/],
    ['duplicate meta key', enc([6, 0, 0, 0, 1, ...str('a'), ...str('10.0.0.1'), 0x1e, 0xf2, 2, ...str('k'), 0, 1, 120, ...str('k'), 0, 0]), /duplicate meta key "k"/],
    ['nack flag not a boolean', enc([2, 0, 0, 0, 1, ...str('t'), ...str('10.0.0.1'), 0, 1, 2, ...str('10.0.0.2'), 0, 1, ...str('s')]), /nack flag is 2/],
    ['member state out of range', enc([8, 0, 0, 0, 0, 1, ...str('a'), ...str('10.0.0.1'), 0, 1, 0, 0, 0, 0, 1, 9]), /member state 9 unknown/],
    ['member count larger than the packet', enc([8, 0, 0xff, 0xff, 0xff, 0xff]), /claims 4294967295 members/],
    ['empty compound', enc([9, 0]), /empty compound/],
    ['compound inside a compound', enc([9, 1, 0, 2, 9, 0]), /compound message where a single message was expected/],
    ['compound part past the end', enc([9, 1, 0, 9, 3, 0]), /truncated compound part/],
    ['compound with trailing bytes', enc([9, 1, 0, 5, 3, 0, 0, 0, 1, 7]), /trailing bytes after compound/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodePacketBody(bytes), (err: unknown) => err instanceof DecodeError && err.code === 'E_DECODE' && message.test(err.message), what);
  }
});

/** Runs decode and reports anything other than success or a DecodeError. */
function decodeOnlyThrowsDecodeErrors(bytes: Uint8Array): 'ok' | 'refused' {
  try {
    decodePacketBody(bytes);
    return 'ok';
  } catch (err) {
    if (err instanceof DecodeError) return 'refused';
    throw new Error(`decode of ${Buffer.from(bytes).toString('hex')} threw ${String(err)}`, { cause: err });
  }
}

function randomBytes(random: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = randomInt(random, 256);
  return out;
}

test('fuzz: random, truncated and bit-flipped inputs only ever produce DecodeErrors (seeded)', () => {
  const random = seededRandom(0x5eed);
  const valid = [...samples.map(encodeMessage), encodeCompound(samples.filter((m) => m.type !== 'push-pull').map(encodeMessage))];
  const tally = { ok: 0, refused: 0 };
  const count = (r: 'ok' | 'refused') => {
    tally[r]++;
  };

  // Pure noise, with a valid type byte half the time so decoding gets past the first check.
  for (let i = 0; i < 5000; i++) {
    const b = randomBytes(random, randomInt(random, 300));
    if (b.length > 0 && random() < 0.5) b[0] = 1 + randomInt(random, 9);
    count(decodeOnlyThrowsDecodeErrors(b));
  }
  // Every truncation of every valid encoding.
  for (const v of valid) {
    for (let len = 0; len < v.length; len++) assert.equal(decodeOnlyThrowsDecodeErrors(v.subarray(0, len)), 'refused', `truncated to ${len} of ${v.length} still decoded`);
  }
  // Bit flips and byte overwrites of valid encodings.
  for (let i = 0; i < 20000; i++) {
    const v = Uint8Array.from(valid[randomInt(random, valid.length)] ?? []);
    const flips = 1 + randomInt(random, 4);
    for (let f = 0; f < flips; f++) {
      const at = randomInt(random, v.length);
      v[at] = random() < 0.5 ? (v[at] ?? 0) ^ (1 << randomInt(random, 8)) : randomInt(random, 256);
    }
    count(decodeOnlyThrowsDecodeErrors(v));
  }
  // Valid encodings with garbage appended.
  for (const v of valid) {
    const b = new Uint8Array(v.length + 3);
    b.set(v);
    assert.equal(decodeOnlyThrowsDecodeErrors(b), 'refused');
  }
  // Both outcomes happened: the fuzz reached past the first byte.
  assert.ok(tally.ok > 100 && tally.refused > 1000, JSON.stringify(tally));
});
