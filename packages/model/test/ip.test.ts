import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateFromPool, canonicalIp, formatIp, ipFromBytes, ipToBytes, isBuggyIp, parseCidr, parseIp, parseRange, poolCapacity, rangeSize } from '../src/index.js';

const hex = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString('hex'));
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

test('addresses are normalised to one canonical text form (RFC 5952 for IPv6)', () => {
  const cases: [string, string | null][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:1:1:1:1:1:1', '2001:db8:1:1:1:1:1:1'],
    ['2001:0:0:1::1', '2001:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['10.0.0.256', null],
    ['010.0.0.1', null],
    ['fe80::1%eth0', null],
    ['', null],
    ['1.2.3', null],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
});

test('addresses encode to 4 or 16 network-order bytes, and non-addresses to null', () => {
  const cases: [string, string | null][] = [
    ['192.0.2.1', 'c0000201'],
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'], // leading zeros, uppercase
    ['::', '00000000000000000000000000000000'],
    ['1::', '00010000000000000000000000000000'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'], // :: standing for one group
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'], // embedded IPv4 is the last 4 bytes
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['fe80::1%eth0', null], // a zone id names an interface, not an address
    ['010.0.0.1', null],
    ['10.0.0.256', null],
    ['1.2.3', null],
    ['1::2::3', null],
    ['::ffff:010.0.0.1', null],
    [' 10.0.0.1', null],
    ['', null],
    ['x', null],
  ];
  for (const [input, want] of cases) assert.equal(hex(ipToBytes(input)), want, input);
});

test('4 or 16 bytes decode to the canonical text (RFC 5952 for IPv6), any other length to null', () => {
  const cases: [string, string | null][] = [
    ['c0000201', '192.0.2.1'],
    ['00000000', '0.0.0.0'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // 4.2.3 the first of equal runs wins
    ['20010000000000010000000000000001', '2001:0:0:1::1'], // 4.2.3 the longest run wins
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // 4.2.2 one zero group stays
    ['20010db800000000000000000000abcd', '2001:db8::abcd'], // 4.3 lowercase
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00010000000000000000000000000000', '1::'],
    ['00000000000000000000ffff0a000001', '::ffff:a00:1'], // no mixed notation, as canonicalIp
    ['', null],
    ['0a0000', null],
    ['0a00000100', null],
    ['000000000000000000000000000000', null],
    ['0000000000000000000000000000000000', null],
  ];
  for (const [input, want] of cases) assert.equal(ipFromBytes(fromHex(input)), want, input);
});

test('the byte codec agrees with parseIp/formatIp and canonicalIp', () => {
  const inputs = ['10.0.0.1', '2001:db8:0:0:1:0:0:1', '2001:DB8:0:0:0:0:0:1', '::ffff:10.0.0.1', '::ffff:192.0.2.1', 'fe80::', '2001:0:0:1::1', '0:0:0:0:0:0:0:0'];
  for (const input of inputs) {
    const bytes = ipToBytes(input);
    assert.ok(bytes, input);
    const parsed = parseIp(input);
    assert.ok(parsed, input);
    assert.equal(bytes.length, parsed.family === 4 ? 4 : 16, input);
    assert.equal(BigInt(`0x${hex(bytes) ?? ''}`), parsed.value, input);
    assert.equal(ipFromBytes(bytes), formatIp(parsed), input);
    assert.equal(ipFromBytes(bytes), canonicalIp(input), input);
  }
  assert.equal(ipFromBytes(ipToBytes('2001:db8:0:0:1:0:0:1') ?? new Uint8Array()), '2001:db8::1:0:0:1');
});

test('every 16-byte pattern of zero and non-zero groups decodes to text that encodes back to it', () => {
  // All 256 shapes of which groups are zero: exercises every RFC 5952 compression choice.
  for (let mask = 0; mask < 256; mask++) {
    const bytes = new Uint8Array(16);
    for (let g = 0; g < 8; g++) if (mask & (1 << g)) bytes[g * 2 + 1] = g + 1;
    const text = ipFromBytes(bytes);
    assert.ok(text !== null);
    assert.equal(hex(ipToBytes(text)), hex(bytes), text);
    // RFC 5952 4.2: `::` stands for the longest run of 2+ zero groups, the first of equal runs.
    const [left = [], right = []] = text.split('::').map((side) => (side === '' ? [] : side.split(':')));
    const compressed = text.includes('::') ? 8 - left.length - right.length : 0;
    const longestZeros = (groups: string[]): number => {
      let longest = 0;
      let run = 0;
      for (const g of groups) {
        run = g === '0' ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      return longest;
    };
    if (compressed === 0) assert.ok(longestZeros(left) < 2, text);
    else {
      assert.ok(compressed >= 2, text);
      assert.ok(longestZeros(left) < compressed && longestZeros(right) <= compressed, text);
    }
  }
});

test('CIDRs and ranges parse in every form operators write', () => {
  const c = parseCidr('10.1.2.3/24');
  assert.ok(c);
  assert.equal(rangeSize(c), 256n);
  assert.equal(parseCidr('10.0.0.0/33'), null);
  const r = parseRange('192.168.0.85-192.168.0.90');
  assert.ok(r);
  assert.equal(rangeSize(r), 6n);
  assert.equal(parseRange('192.168.0.90-192.168.0.85'), null, 'reversed range');
  assert.equal(parseRange('10.0.0.1-2001:db8::1'), null, 'mixed families');
  assert.equal(rangeSize(parseRange('2001:db8::/64')!), 1n << 64n);
  assert.equal(rangeSize(parseRange('10.0.0.7')!), 1n);
});

test('avoid-buggy-ips skips .0 and .255 and is counted in capacity', () => {
  assert.ok(isBuggyIp(parseIp('10.0.1.0')!));
  assert.ok(isBuggyIp(parseIp('10.0.1.255')!));
  assert.ok(!isBuggyIp(parseIp('2001:db8::ff')!));
  const pool = { ranges: ['10.0.0.0/23'], avoidBuggyIps: true };
  assert.equal(poolCapacity(pool), 512n - 4n);
  assert.equal(allocateFromPool(pool, new Set()), '10.0.0.1');
  assert.equal(allocateFromPool(pool, new Set(['10.0.0.1'])), '10.0.0.2');
  assert.equal(allocateFromPool({ ranges: ['10.0.0.255-10.0.1.0'], avoidBuggyIps: true }, new Set()), null);
  assert.equal(allocateFromPool({ ranges: ['10.0.0.0/30', '2001:db8::/126'], avoidBuggyIps: false }, new Set(), 6), '2001:db8::');
});

test('allocation from a huge IPv6 pool looks only past the addresses in use', () => {
  const used = new Set<string>();
  for (let i = 0; i < 1000; i++) used.add(canonicalIp(`2001:db8::${i.toString(16)}`)!);
  assert.equal(allocateFromPool({ ranges: ['2001:db8::/48'], avoidBuggyIps: false }, used), '2001:db8::3e8');
});
