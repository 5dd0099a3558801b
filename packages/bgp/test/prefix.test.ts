import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BgpError, BgpProtocolError } from '../src/errors.js';
import {
  addressFamilyOf,
  afiSafiOf,
  canonicalAddress,
  decodeNlri,
  encodeAddress,
  encodeNlri,
  formatAddress,
  formatPrefix,
  hostPrefix,
  parsePrefix,
} from '../src/prefix.js';
import { WireWriter } from '../src/wire.js';
import { hex, toHex } from './codec-fixtures.js';

const malformed = (reason: string): BgpProtocolError => new BgpProtocolError(3, 10, reason);

test('prefixes parse to canonical network text and format back', () => {
  assert.deepEqual(parsePrefix('10.96.0.10/32'), { family: 'ipv4', address: '10.96.0.10', length: 32 });
  assert.deepEqual(parsePrefix('fd00:96::10/128'), { family: 'ipv6', address: 'fd00:96::10', length: 128 });
  assert.deepEqual(parsePrefix('FD00:0096:0000:0000:0000:0000:0000:0010/128'), { family: 'ipv6', address: 'fd00:96::10', length: 128 });
  assert.deepEqual(parsePrefix('0.0.0.0/0'), { family: 'ipv4', address: '0.0.0.0', length: 0 });
  assert.deepEqual(parsePrefix('::/0'), { family: 'ipv6', address: '::', length: 0 });
  assert.equal(formatPrefix(parsePrefix('2001:db8::/32')), '2001:db8::/32');
});

test('a prefix with host bits set, a bad length or a bad address is refused with E_BGP_CONFIG', () => {
  for (const text of ['10.0.0.1/8', 'fd00::1/64', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0', '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/8x', '10.0.0/8', 'fe80::1%eth0/128', '/8']) {
    assert.throws(() => parsePrefix(text), (error: unknown) => error instanceof BgpError && error.code === 'E_BGP_CONFIG', text);
  }
  assert.throws(() => parsePrefix('10.0.0.1/8'), /host bits set \(the network is 10\.0\.0\.0\/8\)/);
});

test('hostPrefix makes the /32 or /128 a VIP is announced as', () => {
  assert.deepEqual(hostPrefix('10.96.0.10'), { family: 'ipv4', address: '10.96.0.10', length: 32 });
  assert.deepEqual(hostPrefix('fd00:96:0::10'), { family: 'ipv6', address: 'fd00:96::10', length: 128 });
  assert.throws(() => hostPrefix('not-an-ip'), BgpError);
});

test('IPv6 text is canonical per RFC 5952 4', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // 4.1 leading zeros, 4.2.1 longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2 a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // 4.2.3 the longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // 4.2.3 the first of equal runs wins
    ['2001:DB8::ABCD', '2001:db8::abcd'], // 4.3 lowercase
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'], // the form @shoal/model keeps (no mixed notation)
    ['1.2.3.4', '1.2.3.4'],
  ];
  for (const [input, expected] of cases) assert.equal(canonicalAddress(input), expected, input);
  for (const bad of ['1.2.3', '01.2.3.4', '1::2::3', 'fe80::1%eth0', '', 'x']) assert.equal(canonicalAddress(bad), undefined, bad);
  assert.equal(toHex(encodeAddress('fd00:240::20') ?? new Uint8Array()), 'fd000240000000000000000000000020');
  assert.equal(formatAddress(hex('fd000096000000000000000000000010')), 'fd00:96::10');
});

test('NLRI encodes length plus the minimal octets (RFC 4271 4.3)', () => {
  const out = new WireWriter();
  encodeNlri(out, [parsePrefix('10.96.0.10/32'), parsePrefix('10.0.0.0/8'), parsePrefix('0.0.0.0/0'), parsePrefix('192.0.2.128/25')], 'ipv4');
  assert.equal(toHex(out.toBytes()), '200a60000a' + '080a' + '00' + '19c0000280');
  const v6 = new WireWriter();
  encodeNlri(v6, [parsePrefix('fd00:96::10/128'), parsePrefix('2001:db8::/32')], 'ipv6');
  assert.equal(toHex(v6.toBytes()), '80fd000096000000000000000000000010' + '2020010db8');
});

test('NLRI decoding clears trailing bits and reads several prefixes', () => {
  // RFC 4271 4.3: trailing bits are irrelevant; 0x0b under /7 is 10.0.0.0/7.
  assert.deepEqual(decodeNlri(hex('070b 200a60000a'), 'ipv4', malformed), [
    { family: 'ipv4', address: '10.0.0.0', length: 7 },
    { family: 'ipv4', address: '10.96.0.10', length: 32 },
  ]);
  assert.deepEqual(decodeNlri(hex(''), 'ipv4', malformed), []);
  assert.deepEqual(decodeNlri(hex('80fd000096000000000000000000000010'), 'ipv6', malformed), [{ family: 'ipv6', address: 'fd00:96::10', length: 128 }]);
});

test('malformed NLRI (length past the family, or overrunning the field) reports through the caller', () => {
  for (const [bytes, family] of [
    ['21 0a000000 00', 'ipv4'],
    ['20 0a60', 'ipv4'],
    ['81 ' + '00'.repeat(17), 'ipv6'],
    ['80 fd00', 'ipv6'],
  ] as const) {
    assert.throws(() => decodeNlri(hex(bytes), family, malformed), (error: unknown) => error instanceof BgpProtocolError && error.notificationSubcode === 10, bytes);
  }
});

test('encoding refuses prefixes of the wrong family or with host bits set', () => {
  const isEncodeError = (error: unknown): boolean => error instanceof BgpError && error.code === 'E_BGP_ENCODE';
  assert.throws(() => {
    encodeNlri(new WireWriter(), [parsePrefix('fd00::/8')], 'ipv4');
  }, isEncodeError);
  assert.throws(() => {
    encodeNlri(new WireWriter(), [{ family: 'ipv4', address: '10.0.0.1', length: 8 }], 'ipv4');
  }, isEncodeError);
  assert.throws(() => {
    encodeNlri(new WireWriter(), [{ family: 'ipv4', address: '10.0.0.0', length: 40 }], 'ipv4');
  }, isEncodeError);
});

test('address families map to AFI/SAFI and back', () => {
  assert.deepEqual(afiSafiOf('ipv4-unicast'), { afi: 1, safi: 1 });
  assert.deepEqual(afiSafiOf('ipv6-unicast'), { afi: 2, safi: 1 });
  assert.equal(addressFamilyOf(2, 1), 'ipv6-unicast');
  assert.equal(addressFamilyOf(1, 1), 'ipv4-unicast');
  assert.equal(addressFamilyOf(1, 128), undefined);
  assert.equal(addressFamilyOf(25, 70), undefined);
});
