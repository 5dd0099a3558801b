/**
 * Seeded fuzzing of the decoder: random bytes and mutations of valid messages (bit flips,
 * truncations, length-field corruption, splices). Whatever the bytes, decoding returns a
 * message or throws BgpProtocolError; a cleanly decoded message re-encodes to bytes that
 * decode to the same value. Seeds are fixed, so a failure replays exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { community, WELL_KNOWN_COMMUNITY } from '../src/attributes.js';
import { decodeMessage, encodeMessage, endOfRib } from '../src/codec.js';
import { BgpError, BgpProtocolError } from '../src/errors.js';
import { MessageFramer } from '../src/framer.js';
import type { BgpMessage, CodecContext } from '../src/messages.js';
import { hostPrefix, parsePrefix } from '../src/prefix.js';
import { FOUR_OCTET, TWO_OCTET } from './codec-fixtures.js';

/** mulberry32: a tiny seeded PRNG, good enough to pick bytes and positions. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = prng(seed);
  }
  below(n: number): number {
    return Math.floor(this.#next() * n);
  }
  byte(): number {
    return this.below(256);
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  bytes(length: number): Uint8Array {
    return Uint8Array.from({ length }, () => this.byte());
  }
}

const SEED_MESSAGES: readonly BgpMessage[] = [
  { type: 'keepalive' },
  { type: 'notification', code: 6, subcode: 2, data: new TextEncoder().encode('maintenance') },
  { type: 'route-refresh', afi: 2, safi: 1, subtype: 0 },
  {
    type: 'open',
    version: 4,
    asn: 4200000001,
    holdTimeS: 90,
    bgpId: '192.0.2.1',
    capabilities: [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'multiprotocol', afi: 2, safi: 1 },
      { kind: 'route-refresh' },
      { kind: 'graceful-restart', restarting: true, notification: true, restartTimeS: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }, { afi: 2, safi: 1, forwardingPreserved: false }] },
      { kind: 'four-octet-as', asn: 4200000001 },
      { kind: 'unknown', code: 73, value: new TextEncoder().encode('\u0005shoal') },
    ],
  },
  { type: 'open', version: 4, asn: 65001, holdTimeS: 0, bgpId: '10.0.0.1', capabilities: [] },
  {
    type: 'update',
    withdrawn: [parsePrefix('10.96.0.0/24'), hostPrefix('10.96.1.1')],
    attributes: {
      origin: 'igp',
      asPath: [
        { type: 'sequence', asns: [65001, 4200000001] },
        { type: 'set', asns: [65010, 65011] },
      ],
      nextHop: '192.0.2.1',
      med: 10,
      localPref: 100,
      atomicAggregate: true,
      communities: [community(64512, 100), WELL_KNOWN_COMMUNITY.noExport],
      largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
      unknown: [{ flags: 0xc0, typeCode: 16, value: Uint8Array.of(0, 2, 0xfd, 0xe9, 0, 0, 0, 1) }, { flags: 0xe0, typeCode: 99, value: Uint8Array.of(1, 2, 3) }],
    },
    nlri: [hostPrefix('10.96.0.10'), parsePrefix('10.97.0.0/16'), parsePrefix('0.0.0.0/0')],
  },
  {
    type: 'update',
    withdrawn: [],
    attributes: {
      origin: 'incomplete',
      asPath: [{ type: 'confed-sequence', asns: [65100] }, { type: 'sequence', asns: [4200000001, 65002] }],
      mpReach: { afi: 2, safi: 1, nextHops: ['fd00:240::20', 'fe80::20'], nlri: [hostPrefix('fd00:96::10'), parsePrefix('fd00:97::/64')] },
      mpUnreach: { afi: 2, safi: 1, withdrawn: [hostPrefix('fd00:96::11')] },
    },
    nlri: [],
  },
  endOfRib('ipv4-unicast'),
  endOfRib('ipv6-unicast'),
];

const CONTEXTS: readonly CodecContext[] = [FOUR_OCTET, TWO_OCTET];

interface Tally {
  decoded: number;
  roundTripped: number;
  notifications: Set<string>;
}

/** Decodes `frame`; asserts the outcome is a message or a BgpProtocolError, and that clean messages round-trip. */
function check(frame: Uint8Array, ctx: CodecContext, tally: Tally, label: string): void {
  let message: BgpMessage;
  try {
    message = decodeMessage(frame, ctx);
  } catch (error) {
    assert.ok(error instanceof BgpProtocolError, `${label}: ${String(error)} for ${Buffer.from(frame).toString('hex')}`);
    assert.ok(error.notificationCode >= 1 && error.notificationCode <= 7, `${label}: code ${error.notificationCode}`);
    assert.ok(error.data instanceof Uint8Array);
    tally.notifications.add(`${error.notificationCode}/${error.notificationSubcode}`);
    return;
  }
  tally.decoded++;
  if (message.type === 'update' && message.attributeErrors !== undefined) return;
  let encoded: Buffer;
  try {
    encoded = encodeMessage(message, ctx);
  } catch (error) {
    // A merged AS4 path can re-encode longer than it arrived; nothing else may fail.
    assert.ok(error instanceof BgpError && error.code === 'E_BGP_ENCODE' && /exceeds 4096/.test(error.message), `${label}: re-encode failed: ${String(error)}`);
    return;
  }
  assert.deepEqual(decodeMessage(encoded, ctx), message, `${label}: round trip of ${Buffer.from(frame).toString('hex')}`);
  tally.roundTripped++;
}

function setLength(frame: Uint8Array): Uint8Array {
  frame[16] = (frame.length >> 8) & 0xff;
  frame[17] = frame.length & 0xff;
  return frame;
}

/** One random mutation of a valid frame; most keep the header length right so the body decoders run. */
function mutate(dice: Dice, original: Uint8Array): Uint8Array {
  const frame = Uint8Array.from(original);
  const body = (): number => 19 + dice.below(Math.max(1, frame.length - 19));
  switch (dice.below(7)) {
    case 0: {
      // Bit flips, mostly in the body.
      const flips = 1 + dice.below(4);
      for (let i = 0; i < flips; i++) {
        const at = dice.below(10) === 0 ? dice.below(frame.length) : body();
        frame[at] = (frame[at] ?? 0) ^ (1 << dice.below(8));
      }
      return frame;
    }
    case 1:
      // Truncation, header length fixed.
      return setLength(frame.slice(0, 19 + dice.below(frame.length - 18)));
    case 2: {
      // A length field (any 1- or 2-byte position) set to a boundary or random value.
      const at = body();
      const values = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, (frame[at] ?? 0) + 1, (frame[at] ?? 0) - 1, dice.byte()];
      frame[at] = dice.pick(values) & 0xff;
      if (dice.below(2) === 0 && at + 1 < frame.length) frame[at + 1] = dice.pick(values) & 0xff;
      return frame;
    }
    case 3: {
      // Random bytes spliced in (or appended), header length fixed.
      const at = body();
      const extra = dice.bytes(1 + dice.below(24));
      return setLength(Uint8Array.from([...frame.subarray(0, at), ...extra, ...frame.subarray(at)]).slice(0, 4096));
    }
    case 4: {
      // A run of bytes removed from the middle, header length fixed.
      const at = body();
      const cut = 1 + dice.below(16);
      return setLength(Uint8Array.from([...frame.subarray(0, at), ...frame.subarray(at + cut)]));
    }
    case 5: {
      // Random byte overwrites anywhere in the body.
      const count = 1 + dice.below(6);
      for (let i = 0; i < count; i++) frame[body()] = dice.byte();
      return frame;
    }
    default: {
      // The header itself: length off by a little, or another type.
      if (dice.below(2) === 0) {
        const length = ((frame[16] ?? 0) << 8) | (frame[17] ?? 0);
        const wrong = length + dice.pick([-2, -1, 1, 2, 4096]);
        frame[16] = (wrong >> 8) & 0xff;
        frame[17] = wrong & 0xff;
      } else {
        frame[18] = dice.below(7);
      }
      return frame;
    }
  }
}

test('20000 mutations of valid messages decode to a message or a BgpProtocolError, and clean ones round-trip', () => {
  const dice = new Dice(0x5eed_b69);
  const seeds = CONTEXTS.flatMap((ctx) => SEED_MESSAGES.map((message) => ({ ctx, frame: encodeMessage(message, ctx) })));
  const tally: Tally = { decoded: 0, roundTripped: 0, notifications: new Set() };
  for (const { ctx, frame } of seeds) check(frame, ctx, tally, 'seed');
  assert.equal(tally.roundTripped, seeds.length, 'every seed message round-trips');
  for (let i = 0; i < 20000; i++) {
    const seed = dice.pick(seeds);
    let frame = mutate(dice, seed.frame);
    // Sometimes stack a second mutation.
    if (dice.below(4) === 0) frame = mutate(dice, frame);
    check(frame, dice.pick(CONTEXTS), tally, `mutation ${i}`);
  }
  // The mutations reach deep: many decode, many round-trip, and many different NOTIFICATIONs fire.
  assert.ok(tally.decoded > 4000, `decoded ${tally.decoded}`);
  assert.ok(tally.roundTripped > 2000, `round-tripped ${tally.roundTripped}`);
  for (const expected of ['1/1', '1/2', '1/3', '2/0', '2/1', '2/3', '2/4', '2/6', '3/1', '3/9', '3/10', '7/1']) {
    assert.ok(tally.notifications.has(expected), `never saw NOTIFICATION ${expected}: ${[...tally.notifications].sort().join(' ')}`);
  }
});

test('5000 random byte strings, bare or behind a valid header, never throw anything but BgpProtocolError', () => {
  const dice = new Dice(0xbadc0de);
  const tally: Tally = { decoded: 0, roundTripped: 0, notifications: new Set() };
  for (let i = 0; i < 5000; i++) {
    const ctx = dice.pick(CONTEXTS);
    const random = dice.bytes(dice.below(80));
    check(random, ctx, tally, `random ${i}`);
    // Behind a valid marker, length and known type, so the body decoders see random bodies.
    const framed = setLength(Uint8Array.from([...new Uint8Array(16).fill(0xff), 0, 0, 1 + dice.below(5), ...dice.bytes(dice.below(120))]));
    check(framed, ctx, tally, `framed random ${i}`);
  }
  assert.ok(tally.notifications.size > 5);
});

test('random chunkings of mutated streams through the framer only ever throw BgpProtocolError', () => {
  const dice = new Dice(0xf4a3e5);
  const seeds = SEED_MESSAGES.map((message) => encodeMessage(message, FOUR_OCTET));
  let framed = 0;
  for (let i = 0; i < 400; i++) {
    const parts = Array.from({ length: 1 + dice.below(6) }, () => {
      const seed = dice.pick(seeds);
      return dice.below(3) === 0 ? mutate(dice, seed) : seed;
    });
    const stream = Uint8Array.from(parts.flatMap((part) => [...part]));
    const framer = new MessageFramer();
    let at = 0;
    try {
      while (at < stream.length) {
        const size = 1 + dice.below(200);
        for (const message of framer.push(stream.subarray(at, at + size))) {
          framed++;
          check(message, FOUR_OCTET, { decoded: 0, roundTripped: 0, notifications: new Set() }, `stream ${i}`);
        }
        at += size;
        assert.ok(framer.buffered < 4096);
      }
    } catch (error) {
      assert.ok(error instanceof BgpProtocolError, `stream ${i}: ${String(error)}`);
    }
  }
  assert.ok(framed > 500, `framed ${framed}`);
});
