import assert from 'node:assert/strict';
import { test } from 'node:test';

import { community, decodePathAttributes, encodePathAttributes, WELL_KNOWN_COMMUNITY } from '../src/attributes.js';
import { BgpError } from '../src/errors.js';
import type { CodecContext, PathAttributes } from '../src/messages.js';
import { WireWriter } from '../src/wire.js';
import { expectNotification, FOUR_OCTET, hex, toHex, TWO_OCTET } from './codec-fixtures.js';

function encode(attributes: PathAttributes, ctx: CodecContext = FOUR_OCTET): string {
  const out = new WireWriter();
  encodePathAttributes(out, attributes, ctx);
  return toHex(out.toBytes());
}

const clean = (bytes: string): string => bytes.replace(/\s+/g, '');

test('well-known attributes carry flags 0x40, optional ones 0x80 or 0xc0, in type order', () => {
  const bytes = encode({
    origin: 'igp',
    asPath: [{ type: 'sequence', asns: [65001, 4200000001] }],
    nextHop: '192.0.2.1',
    med: 100,
    localPref: 200,
    atomicAggregate: true,
  });
  assert.equal(
    bytes,
    clean(`
      40 01 01 00
      40 02 0a 02 02 0000fde9 fa56ea01
      40 03 04 c0000201
      80 04 04 00000064
      40 05 04 000000c8
      40 06 00`),
  );
});

test('COMMUNITIES 64512:100 + NO_EXPORT and LARGE_COMMUNITIES 4200000001:1:2 match RFC 1997 / RFC 8092', () => {
  const attributes: PathAttributes = {
    communities: [community(64512, 100), WELL_KNOWN_COMMUNITY.noExport],
    largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
  };
  const bytes = clean('c0 08 08 fc000064 ffffff01   c0 20 0c fa56ea01 00000001 00000002');
  assert.equal(encode(attributes), bytes);
  const decoded = decodePathAttributes(hex(bytes), FOUR_OCTET);
  assert.deepEqual(decoded.attributes, attributes);
  assert.deepEqual(decoded.errors, []);
});

test('MP_REACH_NLRI for fd00:96::10/128 via fd00:240::20 is optional non-transitive and goes first', () => {
  const attributes: PathAttributes = {
    origin: 'igp',
    mpReach: { afi: 2, safi: 1, nextHops: ['fd00:240::20'], nlri: [{ family: 'ipv6', address: 'fd00:96::10', length: 128 }] },
  };
  const bytes = clean(`
    80 0e 26 0002 01 10 fd000240000000000000000000000020 00 80 fd000096000000000000000000000010
    40 01 01 00`);
  assert.equal(encode(attributes), bytes);
  assert.deepEqual(decodePathAttributes(hex(bytes), FOUR_OCTET).attributes, attributes);
});

test('an IPv6 next hop with a link-local address is 32 bytes (RFC 2545 3)', () => {
  const attributes: PathAttributes = {
    mpReach: { afi: 2, safi: 1, nextHops: ['fd00:240::20', 'fe80::1'], nlri: [{ family: 'ipv6', address: '2001:db8::', length: 32 }] },
  };
  const bytes = encode(attributes);
  assert.equal(bytes.slice(0, 14), '800e2a00020120');
  assert.deepEqual(decodePathAttributes(hex(bytes), FOUR_OCTET).attributes, attributes);
});

test('values over 255 bytes set the Extended Length flag', () => {
  const communities = Array.from({ length: 100 }, (_, i) => community(64512, i));
  const bytes = encode({ communities });
  assert.equal(bytes.slice(0, 8), 'd0080190'); // 0xc0 | 0x10, type 8, length 400
  assert.deepEqual(decodePathAttributes(hex(bytes), FOUR_OCTET).attributes, { communities });
  // A short value under the Extended Length flag still decodes (the flag is the sender's choice).
  assert.deepEqual(decodePathAttributes(hex('50 01 0001 02'), FOUR_OCTET).attributes, { origin: 'incomplete' });
});

test('toward a 2-octet peer AS_PATH carries AS_TRANS and AS4_PATH the real path (RFC 6793 4.2.2)', () => {
  const attributes: PathAttributes = { asPath: [{ type: 'sequence', asns: [65001, 4200000001] }] };
  const bytes = encode(attributes, TWO_OCTET);
  assert.equal(bytes, clean('40 02 06 02 02 fde9 5ba0   c0 11 0a 02 02 0000fde9 fa56ea01'));
  assert.deepEqual(decodePathAttributes(hex(bytes), TWO_OCTET), { attributes, errors: [], present: new Set([2, 17]) });
  // All ASNs fit: no AS4_PATH.
  assert.equal(encode({ asPath: [{ type: 'sequence', asns: [65001] }] }, TWO_OCTET), '400204' + '0201fde9');
});

test('AS4_PATH merge: the leading AS_PATH part AS4_PATH lacks is prepended (RFC 6793 4.2.3)', () => {
  // AS_PATH 65010 65001 AS_TRANS, AS4_PATH 4200000001: two ASNs come from AS_PATH.
  const bytes = '40 02 08 02 03 fdf2 fde9 5ba0   c0 11 06 02 01 fa56ea01';
  assert.deepEqual(decodePathAttributes(hex(bytes), TWO_OCTET).attributes.asPath, [{ type: 'sequence', asns: [65010, 65001, 4200000001] }]);
  // A set counts as one AS: AS_PATH {65001 65002} AS_TRANS, AS4_PATH 4200000001.
  const withSet = '40 02 0a 01 02 fde9 fdea 02 01 5ba0   c0 11 06 02 01 fa56ea01';
  assert.deepEqual(decodePathAttributes(hex(withSet), TWO_OCTET).attributes.asPath, [
    { type: 'set', asns: [65001, 65002] },
    { type: 'sequence', asns: [4200000001] },
  ]);
});

test('AS4_PATH longer than AS_PATH, or with an AGGREGATOR from a NEW speaker, is ignored (RFC 6793 4.2.3)', () => {
  const longer = '40 02 04 02 01 5ba0   c0 11 0a 02 02 fa56ea01 fa56ea02';
  assert.deepEqual(decodePathAttributes(hex(longer), TWO_OCTET).attributes.asPath, [{ type: 'sequence', asns: [23456] }]);
  // AGGREGATOR (2-octet form) with AS 65001, not AS_TRANS.
  const aggregated = '40 02 04 02 01 5ba0   c0 07 06 fde9 c0000201   c0 11 06 02 01 fa56ea01';
  const decoded = decodePathAttributes(hex(aggregated), TWO_OCTET);
  assert.deepEqual(decoded.attributes.asPath, [{ type: 'sequence', asns: [23456] }]);
  assert.deepEqual(decoded.attributes.unknown, [{ flags: 0xc0, typeCode: 7, value: hex('fde9c0000201') }]);
});

test('AS4_PATH from a four-octet peer is discarded (RFC 6793 3)', () => {
  const decoded = decodePathAttributes(hex('40 02 06 02 01 fa56ea01   c0 11 06 02 01 fa56ea02'), FOUR_OCTET);
  assert.deepEqual(decoded.attributes.asPath, [{ type: 'sequence', asns: [4200000001] }]);
  assert.deepEqual(
    decoded.errors.map((e) => [e.action, e.typeCode]),
    [['attribute-discard', 17]],
  );
});

test('unknown optional attributes are kept with their flags; Extended Length and unused bits are not', () => {
  const decoded = decodePathAttributes(hex('e7 63 02 abcd   80 c8 00'), FOUR_OCTET);
  assert.deepEqual(decoded.attributes.unknown, [
    { flags: 0x80, typeCode: 200, value: new Uint8Array() },
    { flags: 0xe0, typeCode: 99, value: hex('abcd') },
  ].sort((a, b) => a.typeCode - b.typeCode));
  assert.equal(encode({ unknown: decoded.attributes.unknown ?? [] }), clean('e0 63 02 abcd 80 c8 00'));
});

test('an unrecognized well-known attribute resets the session with the attribute as data (RFC 4271 6.3)', () => {
  expectNotification(() => decodePathAttributes(hex('40 63 02 abcd'), FOUR_OCTET), 3, 2, '4063 02 abcd');
});

interface ErrorCase {
  readonly name: string;
  readonly bytes: string;
  readonly action: 'treat-as-withdraw' | 'attribute-discard';
  readonly typeCode: number;
  readonly ctx?: CodecContext;
}

const RFC_7606_CASES: readonly ErrorCase[] = [
  { name: '7.1 ORIGIN undefined value', bytes: '40 01 01 03', action: 'treat-as-withdraw', typeCode: 1 },
  { name: '7.1 ORIGIN length 2', bytes: '40 01 02 0000', action: 'treat-as-withdraw', typeCode: 1 },
  { name: '7.2 AS_PATH unknown segment type', bytes: '40 02 06 05 01 0000fde9', action: 'treat-as-withdraw', typeCode: 2 },
  { name: '7.2 AS_PATH empty segment', bytes: '40 02 02 02 00', action: 'treat-as-withdraw', typeCode: 2 },
  { name: '7.2 AS_PATH segment overrun', bytes: '40 02 06 02 02 0000fde9', action: 'treat-as-withdraw', typeCode: 2 },
  { name: '7.2 AS_PATH lone octet left', bytes: '40 02 07 02 01 0000fde9 02', action: 'treat-as-withdraw', typeCode: 2 },
  { name: 'RFC 7607 AS 0 in AS_PATH', bytes: '40 02 06 02 01 00000000', action: 'treat-as-withdraw', typeCode: 2 },
  { name: '7.2 AS_PATH 2-octet overrun', bytes: '40 02 03 02 01 fd', action: 'treat-as-withdraw', typeCode: 2, ctx: TWO_OCTET },
  { name: '7.3 NEXT_HOP length 5', bytes: '40 03 05 c000020100', action: 'treat-as-withdraw', typeCode: 3 },
  { name: '7.3 NEXT_HOP 0.0.0.0', bytes: '40 03 04 00000000', action: 'treat-as-withdraw', typeCode: 3 },
  { name: '7.3 NEXT_HOP multicast', bytes: '40 03 04 e0000001', action: 'treat-as-withdraw', typeCode: 3 },
  { name: '7.4 MED length 3', bytes: '80 04 03 000064', action: 'treat-as-withdraw', typeCode: 4 },
  { name: '7.5 LOCAL_PREF length 0', bytes: '40 05 00', action: 'treat-as-withdraw', typeCode: 5 },
  { name: '7.6 ATOMIC_AGGREGATE length 1', bytes: '40 06 01 00', action: 'attribute-discard', typeCode: 6 },
  { name: '7.7 AGGREGATOR length 6 between 4-octet speakers', bytes: 'c0 07 06 fde9c0000201', action: 'attribute-discard', typeCode: 7 },
  { name: '7.8 COMMUNITIES length 5', bytes: 'c0 08 05 fc00006400', action: 'treat-as-withdraw', typeCode: 8 },
  { name: '7.8 COMMUNITIES length 0', bytes: 'c0 08 00', action: 'treat-as-withdraw', typeCode: 8 },
  { name: '7.9 ORIGINATOR_ID length 3', bytes: '80 09 03 c00002', action: 'treat-as-withdraw', typeCode: 9 },
  { name: '7.10 CLUSTER_LIST length 6', bytes: '80 0a 06 c0000201 0000', action: 'treat-as-withdraw', typeCode: 10 },
  { name: '7.14 EXTENDED COMMUNITIES length 7', bytes: 'c0 10 07 00020000fde900', action: 'treat-as-withdraw', typeCode: 16 },
  { name: 'RFC 8092 6 LARGE_COMMUNITIES length 13', bytes: 'c0 20 0d fa56ea01 00000001 00000002 00', action: 'treat-as-withdraw', typeCode: 32 },
  { name: 'RFC 6793 6 AS4_PATH malformed', bytes: '40 02 04 02 01 5ba0   c0 11 05 02 01 fa56ea', action: 'attribute-discard', typeCode: 17, ctx: TWO_OCTET },
  { name: 'RFC 6793 6 AS4_AGGREGATOR length 6', bytes: 'c0 12 06 fde9c0000201', action: 'attribute-discard', typeCode: 18, ctx: TWO_OCTET },
  { name: '3(c) ORIGIN flagged optional', bytes: 'c0 01 01 00', action: 'treat-as-withdraw', typeCode: 1 },
  { name: '3(c) COMMUNITIES flagged well-known', bytes: '40 08 04 fc000064', action: 'treat-as-withdraw', typeCode: 8 },
  { name: '3(c) MED flagged transitive', bytes: 'c0 04 04 00000064', action: 'treat-as-withdraw', typeCode: 4 },
  { name: '3(c) ATOMIC_AGGREGATE flagged optional', bytes: 'c0 06 00', action: 'attribute-discard', typeCode: 6 },
  { name: '3(g) duplicate COMMUNITIES', bytes: 'c0 08 04 fc000064   c0 08 04 fc0000c8', action: 'attribute-discard', typeCode: 8 },
  { name: '4 attribute overruns the list', bytes: '40 01 01 00   c0 08 08 fc000064', action: 'treat-as-withdraw', typeCode: 8 },
  { name: '4 two octets left', bytes: '40 01 01 00   40 02', action: 'treat-as-withdraw', typeCode: 2 },
  { name: '4 three octets left under Extended Length', bytes: '40 01 01 00   50 02 00', action: 'treat-as-withdraw', typeCode: 2 },
  { name: '4 one octet left', bytes: '40 01 01 00   40', action: 'treat-as-withdraw', typeCode: 0 },
];

for (const c of RFC_7606_CASES) {
  test(`RFC 7606 ${c.name} -> ${c.action}, no session reset`, () => {
    const decoded = decodePathAttributes(hex(c.bytes), c.ctx ?? FOUR_OCTET);
    assert.deepEqual(
      decoded.errors.map((e) => [e.action, e.typeCode]),
      [[c.action, c.typeCode]],
      decoded.errors.map((e) => e.reason).join('; '),
    );
  });
}

test('the malformed attribute is dropped and the rest of the list is still read', () => {
  const decoded = decodePathAttributes(hex('40 01 01 07   40 02 06 02 01 0000fde9   c0 08 04 fc000064   c0 08 04 fc0000c8'), FOUR_OCTET);
  assert.deepEqual(decoded.attributes, { asPath: [{ type: 'sequence', asns: [65001] }], communities: [community(64512, 100)] });
  assert.deepEqual(
    decoded.errors.map((e) => e.action),
    ['treat-as-withdraw', 'attribute-discard'],
  );
});

test('MP_REACH_NLRI / MP_UNREACH_NLRI errors reset the session (RFC 7606 3(g), 7.11, 7.12; RFC 4760 7)', () => {
  const reach = '80 0e 26 0002 01 10 fd000240000000000000000000000020 00 80 fd000096000000000000000000000010';
  // Duplicate MP_REACH_NLRI -> Malformed Attribute List.
  expectNotification(() => decodePathAttributes(hex(reach + reach), FOUR_OCTET), 3, 1);
  // Next hop length 9 -> Optional Attribute Error with the attribute as data.
  const badNextHop = '80 0e 17 0002 01 09 20010db80000000000 00 40 20010db800000001';
  expectNotification(() => decodePathAttributes(hex(badNextHop), FOUR_OCTET), 3, 9, badNextHop);
  // Next hop length past the attribute.
  expectNotification(() => decodePathAttributes(hex('80 0e 15 0002 01 40 20010db8000000000000000000000001 00'), FOUR_OCTET), 3, 9);
  // A /64 with four octets of prefix in MP_UNREACH_NLRI.
  expectNotification(() => decodePathAttributes(hex('80 0f 08 0002 01 40 20010db8'), FOUR_OCTET), 3, 9, '800f08000201 4020010db8');
  // Prefix length 129.
  expectNotification(() => decodePathAttributes(hex('80 0f 04 0002 01 81'), FOUR_OCTET), 3, 9);
  // AFI/SAFI missing.
  expectNotification(() => decodePathAttributes(hex('80 0e 02 0002'), FOUR_OCTET), 3, 9);
  // Flagged transitive: the flags conflict, and MP's malformed handling is a session reset.
  expectNotification(() => decodePathAttributes(hex('c0 0f 03 000201'), FOUR_OCTET), 3, 4, 'c00f03000201');
  // MP_UNREACH_NLRI overrunning the attribute list -> Attribute Length Error.
  expectNotification(() => decodePathAttributes(hex('80 0f 09 000201'), FOUR_OCTET), 3, 5, '800f09000201');
});

test('MP attributes of families we do not read are kept as unknown attributes', () => {
  // AFI 1 SAFI 128 (VPNv4): not ours, kept whole.
  const decoded = decodePathAttributes(hex('80 0e 05 0001 80 0c 00'), FOUR_OCTET);
  assert.deepEqual(decoded.attributes, { unknown: [{ flags: 0x80, typeCode: 14, value: hex('0001800c00') }] });
  assert.deepEqual(decoded.errors, []);
  assert.ok(decoded.present.has(14));
});

test('IPv4 NLRI in MP_REACH_NLRI, with an IPv4 or an IPv6 next hop (RFC 8950), decodes', () => {
  const v4 = decodePathAttributes(hex('80 0e 0d 0001 01 04 c0000201 00 18 c00002'), FOUR_OCTET);
  assert.deepEqual(v4.attributes.mpReach, { afi: 1, safi: 1, nextHops: ['192.0.2.1'], nlri: [{ family: 'ipv4', address: '192.0.2.0', length: 24 }] });
  const v6 = decodePathAttributes(hex('80 0e 19 0001 01 10 fd000240000000000000000000000020 00 18 c00002'), FOUR_OCTET);
  assert.deepEqual(v6.attributes.mpReach?.nextHops, ['fd00:240::20']);
});

test('encoding refuses out-of-range values and impossible next hops with E_BGP_ENCODE', () => {
  const bad: PathAttributes[] = [
    { med: -1 },
    { localPref: 2 ** 32 },
    { communities: [2 ** 32] },
    { nextHop: 'fd00::1' },
    { asPath: [{ type: 'sequence', asns: [] }] },
    { asPath: [{ type: 'sequence', asns: Array<number>(256).fill(65001) }] },
    { asPath: [{ type: 'sequence', asns: [2 ** 32] }] },
    { mpReach: { afi: 2, safi: 1, nextHops: ['192.0.2.1'], nlri: [] } },
    { mpReach: { afi: 2, safi: 1, nextHops: [], nlri: [] } },
    { mpReach: { afi: 2, safi: 1, nextHops: ['fd00::1'], nlri: [{ family: 'ipv4', address: '10.0.0.0', length: 8 }] } },
    { mpReach: { afi: 1, safi: 128, nextHops: ['192.0.2.1'], nlri: [] } },
    { unknown: [{ flags: 0x80, typeCode: 256, value: new Uint8Array() }] },
  ];
  for (const attributes of bad) {
    assert.throws(() => encode(attributes), (error: unknown) => error instanceof BgpError && error.code === 'E_BGP_ENCODE', JSON.stringify(attributes));
  }
  assert.throws(() => encode({ asPath: [{ type: 'sequence', asns: [2 ** 32] }] }, TWO_OCTET), BgpError);
});

test('unknown attributes are written as given, so a test peer can craft a malformed one', () => {
  assert.equal(encode({ origin: 'igp', unknown: [{ flags: 0x40, typeCode: 1, value: hex('07') }] }), '40010100' + '40010107');
});
