// Byte-level checks of the announcement frames against hand-written layouts (recipe
// l2-vrrp-garp.md; RFC 826, RFC 4861 4.4), and of the parsers that validate them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ARP_FRAME_BYTES,
  AnnounceError,
  NA_FRAME_BYTES,
  gratuitousArp,
  icmpv6Checksum,
  parseArp,
  parseNeighborAdvertisement,
  unsolicitedNeighborAdvertisement,
} from '../src/index.js';

const MAC = '02:15:00:00:00:02';
const VIP4 = '10.215.0.10';
const VIP6 = 'fd00:215::10';

/** Hex with spaces and line breaks between fields, for reading the layout in the test. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const decodeFailure = (pattern: RegExp) => (e: unknown) => e instanceof AnnounceError && e.code === 'E_ANNOUNCE_DECODE' && pattern.test(e.message);

test('the gratuitous ARP request is keepalived\'s form: broadcast, who-has VIP tell VIP, target MAC ff:ff:ff:ff:ff:ff', () => {
  const frame = gratuitousArp('request', MAC, VIP4);
  assert.equal(frame.length, ARP_FRAME_BYTES);
  assert.deepEqual(
    frame,
    hex(`
      ffffffffffff 021500000002 0806
      0001 0800 06 04 0001
      021500000002 0ad7000a
      ffffffffffff 0ad7000a`),
  );
});

test('the gratuitous ARP reply is arping -A\'s form: broadcast, VIP is-at MAC, target MAC = sender MAC (what Linux requires of a gratuitous reply)', () => {
  const frame = gratuitousArp('reply', Uint8Array.from([2, 0x15, 0, 0, 0, 2]), VIP4);
  assert.deepEqual(
    frame,
    hex(`
      ffffffffffff 021500000002 0806
      0001 0800 06 04 0002
      021500000002 0ad7000a
      021500000002 0ad7000a`),
  );
});

test('the unsolicited NA goes from the VIP to ff02::1 with hop limit 255, Override only, and the target link-layer option', () => {
  const frame = unsolicitedNeighborAdvertisement(MAC, VIP6);
  assert.equal(frame.length, NA_FRAME_BYTES);
  // The checksum 0x563d was computed outside this code base (Python, summing the pseudo-header
  // and the message as big-endian 16-bit words) and is written here by hand.
  assert.deepEqual(
    frame,
    hex(`
      333300000001 021500000002 86dd
      60000000 0020 3a ff
      fd000215000000000000000000000010
      ff020000000000000000000000000001
      88 00 563d 20000000
      fd000215000000000000000000000010
      02 01 021500000002`),
  );
});

test('the NA checksum sums to 0xffff over pseudo-header and message, computed independently of icmpv6Checksum', () => {
  const frame = unsolicitedNeighborAdvertisement('02:aa:bb:cc:dd:ee', '2001:db8:0:1::abcd');
  // The receiver's check, written out: ones' complement sum of 16-bit words including the
  // checksum field must be 0xffff.
  const pseudo = Buffer.concat([frame.subarray(22, 38), frame.subarray(38, 54), Buffer.from([0, 0, 0, 32, 0, 0, 0, 58])]);
  const all = Buffer.concat([pseudo, frame.subarray(54)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(sum, 0xffff);
  assert.equal(icmpv6Checksum(frame.subarray(22, 38), frame.subarray(38, 54), frame.subarray(54)), 0, 'a filled-in checksum verifies to 0');
});

test('icmpv6Checksum handles a message of odd length (zero-padded) and carries folded more than once', () => {
  const ones = Buffer.alloc(16, 0xff);
  const message = Buffer.from([0xff, 0xff, 0xff]);
  // Source: 8 words of 0xffff; destination 0; length 3; next header 58; message 0xffff, 0xff00.
  let sum = 8 * 0xffff + 3 + 58 + 0xffff + 0xff00;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(icmpv6Checksum(ones, Buffer.alloc(16), message), ~sum & 0xffff);
});

test('an IPv6 VIP in any text form gives the same frame (zeros compressed or not, embedded IPv4 tail)', () => {
  const canonical = unsolicitedNeighborAdvertisement(MAC, 'fd00:215::a0a:a0a');
  assert.deepEqual(unsolicitedNeighborAdvertisement(MAC, 'FD00:0215:0000:0000:0000:0000:0A0A:0A0A'), canonical);
  assert.deepEqual(unsolicitedNeighborAdvertisement(MAC, 'fd00:215::10.10.10.10'), canonical);
  assert.deepEqual(unsolicitedNeighborAdvertisement('02-15-00-00-00-02', 'fd00:215::a0a:a0a'), canonical);
});

test('bad addresses are refused with E_ANNOUNCE_ADDRESS', () => {
  const bad = (f: () => unknown, pattern: RegExp): void => {
    assert.throws(f, (e: unknown) => e instanceof AnnounceError && e.code === 'E_ANNOUNCE_ADDRESS' && pattern.test(e.message));
  };
  bad(() => gratuitousArp('request', '02:15:00:00:00', VIP4), /not a MAC/);
  bad(() => gratuitousArp('request', Uint8Array.from([1, 2, 3]), VIP4), /6 bytes, got 3/);
  bad(() => gratuitousArp('request', MAC, VIP6), /not an IPv4 address/);
  bad(() => unsolicitedNeighborAdvertisement(MAC, VIP4), /not an IPv6 address/);
  bad(() => unsolicitedNeighborAdvertisement(MAC, 'fe80::1%eth0'), /not an IPv6 address/);
});

test('parseArp reads back both gratuitous forms, and accepts the 60-byte padded form NICs send', () => {
  const request = parseArp(gratuitousArp('request', MAC, VIP4));
  assert.deepEqual(request, {
    destination: 'ff:ff:ff:ff:ff:ff',
    source: MAC,
    op: 'request',
    senderMac: MAC,
    senderIp: VIP4,
    targetMac: 'ff:ff:ff:ff:ff:ff',
    targetIp: VIP4,
    gratuitous: true,
  });
  const padded = Buffer.concat([gratuitousArp('reply', MAC, VIP4), Buffer.alloc(18)]);
  const reply = parseArp(padded.subarray(0)); // a view, as a capture reader hands out
  assert.equal(reply.op, 'reply');
  assert.equal(reply.targetMac, MAC);
  // An ordinary (non-gratuitous) request: target IP differs from sender IP.
  const ordinary = gratuitousArp('request', MAC, VIP4);
  ordinary.set([10, 215, 0, 1], 38);
  assert.equal(parseArp(ordinary).gratuitous, false);
});

test('parseArp refuses short frames and wrong fields, naming the field', () => {
  const good = gratuitousArp('request', MAC, VIP4);
  const mutate = (at: number, bytes: number[]): Buffer => {
    const f = Buffer.from(good);
    f.set(bytes, at);
    return f;
  };
  assert.throws(() => parseArp(good.subarray(0, 41)), decodeFailure(/41 bytes, need at least 42/));
  assert.throws(() => parseArp(mutate(12, [0x08, 0x00])), decodeFailure(/ethertype 0x800/));
  assert.throws(() => parseArp(mutate(14, [0, 6])), decodeFailure(/hardware type 6/));
  assert.throws(() => parseArp(mutate(16, [0x86, 0xdd])), decodeFailure(/protocol type 0x86dd/));
  assert.throws(() => parseArp(mutate(18, [6, 16])), decodeFailure(/address lengths 6\/16/));
  assert.throws(() => parseArp(mutate(20, [0, 3])), decodeFailure(/operation 3/));
});

test('parseNeighborAdvertisement reads back the NA', () => {
  assert.deepEqual(parseNeighborAdvertisement(unsolicitedNeighborAdvertisement(MAC, VIP6)), {
    destination: '33:33:00:00:00:01',
    source: MAC,
    sourceIp: VIP6,
    destinationIp: 'ff02::1',
    hopLimit: 255,
    router: false,
    solicited: false,
    override: true,
    target: VIP6,
    targetLinkLayerAddress: MAC,
  });
});

test('parseNeighborAdvertisement refuses what RFC 4861 7.1.2 has a receiver drop', () => {
  const good = unsolicitedNeighborAdvertisement(MAC, VIP6);
  const mutate = (at: number, bytes: number[]): Buffer => {
    const f = Buffer.from(good);
    f.set(bytes, at);
    return f;
  };
  assert.throws(() => parseNeighborAdvertisement(good.subarray(0, 77)), decodeFailure(/77 bytes, need at least 78/));
  assert.throws(() => parseNeighborAdvertisement(mutate(12, [0x08, 0x06])), decodeFailure(/ethertype 0x806/));
  assert.throws(() => parseNeighborAdvertisement(mutate(14, [0x40])), decodeFailure(/IP version 4/));
  assert.throws(() => parseNeighborAdvertisement(mutate(20, [17])), decodeFailure(/next header 17/));
  assert.throws(() => parseNeighborAdvertisement(mutate(21, [64])), decodeFailure(/hop limit 64, not 255/));
  assert.throws(() => parseNeighborAdvertisement(mutate(18, [0, 16])), decodeFailure(/ICMPv6 length 16/));
  assert.throws(() => parseNeighborAdvertisement(mutate(18, [0, 40])), decodeFailure(/payload length 40 runs past the frame/));
  assert.throws(() => parseNeighborAdvertisement(mutate(54, [135])), decodeFailure(/ICMPv6 type 135/));
  assert.throws(() => parseNeighborAdvertisement(mutate(55, [1])), decodeFailure(/ICMPv6 code 1/));
  assert.throws(() => parseNeighborAdvertisement(mutate(80, [0x03])), decodeFailure(/bad ICMPv6 checksum 0x563d/), 'a changed MAC breaks the checksum');
  // Flags and option changes with the checksum recomputed, so the field check is what fails.
  const resum = (f: Buffer): Buffer => {
    f.writeUInt16BE(0, 56);
    f.writeUInt16BE(icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), f.subarray(54)), 56);
    return f;
  };
  assert.throws(() => parseNeighborAdvertisement(resum(mutate(58, [0x60]))), decodeFailure(/Solicited flag set/));
  assert.throws(() => parseNeighborAdvertisement(resum(mutate(62, [0xff, 0x02]))), decodeFailure(/target ff02:215::10 is a multicast address/));
  assert.throws(() => parseNeighborAdvertisement(resum(mutate(79, [0]))), decodeFailure(/option 2 at 24 has length 0/));
  assert.throws(() => parseNeighborAdvertisement(resum(mutate(79, [2]))), decodeFailure(/option 2 at 24 runs past/));
  // Without the option the NA is valid, just useless for moving an entry.
  const bare = Buffer.from(good.subarray(0, 78));
  bare.writeUInt16BE(24, 18);
  const parsed = parseNeighborAdvertisement(resum(bare));
  assert.equal(parsed.targetLinkLayerAddress, undefined);
});
