import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateFromPool, canonicalIp, isBuggyIp, parseCidr, parseIp, parseRange, poolCapacity, rangeSize } from '../src/index.js';

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
