import assert from 'node:assert/strict';
import { test } from 'node:test';

import { community, WELL_KNOWN_COMMUNITY } from '../src/attributes.js';
import { decodeMessage, encodeMessage, endOfRib, isEndOfRib, packUpdates, packWithdrawals } from '../src/codec.js';
import { BgpError, BgpProtocolError } from '../src/errors.js';
import type { BgpMessage, OpenMessage, PathAttributes, Prefix, UpdateMessage } from '../src/messages.js';
import { hostPrefix, parsePrefix } from '../src/prefix.js';
import { expectNotification, FOUR_OCTET, frame, hex, MARKER, toHex, TWO_OCTET, updateBody } from './codec-fixtures.js';

const clean = (bytes: string): string => bytes.replace(/\s+/g, '');
const isEncodeError = (error: unknown): boolean => error instanceof BgpError && error.code === 'E_BGP_ENCODE';

function roundTrip(message: BgpMessage, bytes: string, ctx = FOUR_OCTET): void {
  assert.equal(toHex(encodeMessage(message, ctx)), clean(bytes));
  assert.deepEqual(decodeMessage(hex(bytes), ctx), message);
}

// ---- golden vectors -----------------------------------------------------------------------

test('KEEPALIVE is the marker, length 19 and type 4', () => {
  roundTrip({ type: 'keepalive' }, `${MARKER} 0013 04`);
});

test('an OPEN like BIRD sends: My AS 23456 and the 4-octet AS capability carrying 4200000001', () => {
  const open: OpenMessage = {
    type: 'open',
    version: 4,
    asn: 4200000001,
    holdTimeS: 240,
    bgpId: '192.0.2.1',
    capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'route-refresh' }, { kind: 'four-octet-as', asn: 4200000001 }],
  };
  // RFC 4271 4.2 fixed fields, one Capabilities parameter (RFC 5492 4) holding three.
  roundTrip(open, `${MARKER} 002d 01   04 5ba0 00f0 c0000201   10 02 0e 01040001 0001 0200 4104fa56ea01`);
});

test('an OPEN with a 2-octet AS and graceful restart', () => {
  const open: OpenMessage = {
    type: 'open',
    version: 4,
    asn: 65001,
    holdTimeS: 90,
    bgpId: '10.0.0.1',
    capabilities: [
      { kind: 'graceful-restart', restarting: false, notification: false, restartTimeS: 120, families: [{ afi: 2, safi: 1, forwardingPreserved: false }] },
      { kind: 'four-octet-as', asn: 65001 },
    ],
  };
  roundTrip(open, `${MARKER} 002d 01   04 fde9 005a 0a000001   10 02 0e 4006 0078 0002 01 00 4104 0000fde9`);
});

test('an UPDATE announcing fd00:96::10/128 via fd00:240::20 in MP_REACH_NLRI', () => {
  const update: UpdateMessage = {
    type: 'update',
    withdrawn: [],
    attributes: {
      origin: 'igp',
      asPath: [{ type: 'sequence', asns: [4200000001] }],
      mpReach: { afi: 2, safi: 1, nextHops: ['fd00:240::20'], nlri: [parsePrefix('fd00:96::10/128')] },
    },
    nlri: [],
  };
  roundTrip(
    update,
    `${MARKER} 004d 02   0000 0036
       800e26 0002 01 10 fd000240000000000000000000000020 00 80 fd000096000000000000000000000010
       400101 00
       400206 02 01 fa56ea01`,
  );
});

test('an IPv4 UPDATE with NEXT_HOP, communities 64512:100 + NO_EXPORT and large community 4200000001:1:2', () => {
  const update: UpdateMessage = {
    type: 'update',
    withdrawn: [parsePrefix('10.96.0.11/32')],
    attributes: {
      origin: 'igp',
      asPath: [{ type: 'sequence', asns: [65001] }],
      nextHop: '192.0.2.1',
      communities: [community(64512, 100), WELL_KNOWN_COMMUNITY.noExport],
      largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
    },
    nlri: [parsePrefix('10.96.0.10/32')],
  };
  roundTrip(
    update,
    `${MARKER} 004d 02   0005 200a60000b   002c
       400101 00
       400204 0201fde9
       400304 c0000201
       c00808 fc000064 ffffff01
       c0200c fa56ea01 00000001 00000002
       200a60000a`,
    TWO_OCTET,
  );
});

test('NOTIFICATION and ROUTE-REFRESH golden bytes', () => {
  roundTrip({ type: 'notification', code: 6, subcode: 2, data: new Uint8Array() }, `${MARKER} 0015 03 06 02`);
  roundTrip({ type: 'notification', code: 2, subcode: 1, data: hex('0004') }, `${MARKER} 0017 03 02 01 0004`);
  roundTrip({ type: 'route-refresh', afi: 2, safi: 1, subtype: 0 }, `${MARKER} 0017 05 0002 00 01`);
  // RFC 7313 3: subtypes 1 (BoRR) and 2 (EoRR) share the format; unknown ones are decoded for the session to ignore.
  roundTrip({ type: 'route-refresh', afi: 1, safi: 1, subtype: 2 }, `${MARKER} 0017 05 0001 02 01`);
});

test('End-of-RIB: an empty UPDATE for IPv4, an empty MP_UNREACH_NLRI for IPv6 (RFC 4724 2)', () => {
  assert.equal(toHex(encodeMessage(endOfRib('ipv4-unicast'), FOUR_OCTET)), clean(`${MARKER} 0017 02 0000 0000`));
  assert.equal(toHex(encodeMessage(endOfRib('ipv6-unicast'), FOUR_OCTET)), clean(`${MARKER} 001d 02 0000 0006 800f03 0002 01`));
  assert.equal(isEndOfRib(decodeMessage(hex(`${MARKER} 0017 02 0000 0000`), FOUR_OCTET)), 'ipv4-unicast');
  assert.equal(isEndOfRib(decodeMessage(hex(`${MARKER} 001d 02 0000 0006 800f03 0002 01`), FOUR_OCTET)), 'ipv6-unicast');
  assert.equal(isEndOfRib(decodeMessage(hex(`${MARKER} 001d 02 0000 0006 800f03 0001 01`), FOUR_OCTET)), 'ipv4-unicast');
  assert.equal(isEndOfRib({ type: 'keepalive' }), undefined);
  assert.equal(isEndOfRib({ type: 'update', withdrawn: [parsePrefix('10.0.0.0/8')], attributes: {}, nlri: [] }), undefined);
  const withdrawal = endOfRib('ipv6-unicast');
  assert.equal(isEndOfRib({ ...withdrawal, attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [parsePrefix('fd00::/8')] } } }), undefined);
  assert.equal(isEndOfRib({ ...withdrawal, attributes: { ...withdrawal.attributes, origin: 'igp' } }), undefined);
});

test('an OPEN using the RFC 9072 extended parameters length decodes', () => {
  const bytes = `${MARKER} 0029 01   04 5ba0 00b4 c0000201   ff ff 0009 02 0006 4104fa56ea01`;
  assert.deepEqual(decodeMessage(hex(bytes), FOUR_OCTET), {
    type: 'open',
    version: 4,
    asn: 4200000001,
    holdTimeS: 180,
    bgpId: '192.0.2.1',
    capabilities: [{ kind: 'four-octet-as', asn: 4200000001 }],
  });
});

// ---- bytes captured from real speakers (BIRD 2.0.12, GoBGP 3.10.0, AS 4200000001) -------------

test("BIRD 2.0.12's OPEN and UPDATEs decode, including MP_REACH_NLRI under the Extended Length flag", () => {
  const open = decodeMessage(hex('ffffffffffffffffffffffffffffffff004301045ba0005a0a0000012602240104000100010104000200010200400a007800010100000201004104fa56ea0146004700'), FOUR_OCTET);
  assert.deepEqual(open, {
    type: 'open',
    version: 4,
    asn: 4200000001,
    holdTimeS: 90,
    bgpId: '10.0.0.1',
    capabilities: [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'multiprotocol', afi: 2, safi: 1 },
      { kind: 'route-refresh' },
      { kind: 'graceful-restart', restarting: false, notification: false, restartTimeS: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: false }, { afi: 2, safi: 1, forwardingPreserved: false }] },
      { kind: 'four-octet-as', asn: 4200000001 },
      { kind: 'unknown', code: 70, value: new Uint8Array() }, // enhanced route refresh
      { kind: 'unknown', code: 71, value: new Uint8Array() }, // long-lived graceful restart
    ],
  });
  const v4 = decodeMessage(hex('ffffffffffffffffffffffffffffffff004a020000002e400101004002060201fa56ea014003040a000001c00808fc000064ffffff01c0200cfa56ea010000000100000002200a60000a'), FOUR_OCTET);
  assert.deepEqual(v4, {
    type: 'update',
    withdrawn: [],
    attributes: {
      origin: 'igp',
      asPath: [{ type: 'sequence', asns: [4200000001] }],
      nextHop: '10.0.0.1',
      communities: [community(64512, 100), WELL_KNOWN_COMMUNITY.noExport],
      largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
    },
    nlri: [hostPrefix('10.96.0.10')],
  });
  const v6Bytes = hex('ffffffffffffffffffffffffffffffff004e0200000037900e002600020110fd0002400000000000000000000000200080fd000096000000000000000000000010400101004002060201fa56ea01');
  const v6 = decodeMessage(v6Bytes, FOUR_OCTET);
  assert.deepEqual(v6, {
    type: 'update',
    withdrawn: [],
    attributes: {
      origin: 'igp',
      asPath: [{ type: 'sequence', asns: [4200000001] }],
      mpReach: { afi: 2, safi: 1, nextHops: ['fd00:240::20'], nlri: [hostPrefix('fd00:96::10')] },
    },
    nlri: [],
  });
  // We write the same attribute one byte shorter (no Extended Length for 38 bytes).
  assert.equal(encodeMessage(v6, FOUR_OCTET).length, v6Bytes.length - 1);
  assert.equal(isEndOfRib(decodeMessage(hex('ffffffffffffffffffffffffffffffff001d0200000006800f03000201'), FOUR_OCTET)), 'ipv6-unicast');
});

test("GoBGP 3.10.0's OPEN and UPDATEs decode, and re-encode byte for byte", () => {
  const open = decodeMessage(hex('ffffffffffffffffffffffffffffffff004d01045ba0005a0a00000130022e0200490402766d000104000100010104000200014104fa56ea01400a007800010100000201000506000100010002'), FOUR_OCTET);
  assert.equal(open.type, 'open');
  assert.deepEqual(open.type === 'open' ? open.capabilities.map((c) => (c.kind === 'unknown' ? c.code : c.kind)) : [], [
    'route-refresh',
    73, // FQDN
    'multiprotocol',
    'multiprotocol',
    'four-octet-as',
    'graceful-restart',
    5, // extended next hop
  ]);
  for (const bytes of [
    'ffffffffffffffffffffffffffffffff00510200000035400101024002060201fa56ea014003040a0000018004040000000ac00808fc000064ffffff01c0200cfa56ea010000000100000002200a60000a',
    'ffffffffffffffffffffffffffffffff004d0200000036400101024002060201fa56ea01800e2600020110fd0002400000000000000000000000200080fd000096000000000000000000000010',
  ]) {
    const update = decodeMessage(hex(bytes), FOUR_OCTET);
    assert.equal(update.type === 'update' ? update.attributeErrors : 'not an update', undefined);
    // Same attribute order as ours except MP_REACH_NLRI, which we put first (RFC 7606 5.1).
    const again = decodeMessage(encodeMessage(update, FOUR_OCTET), FOUR_OCTET);
    assert.deepEqual(again, update);
  }
  assert.equal(
    toHex(encodeMessage(decodeMessage(hex('ffffffffffffffffffffffffffffffff00510200000035400101024002060201fa56ea014003040a0000018004040000000ac00808fc000064ffffff01c0200cfa56ea010000000100000002200a60000a'), FOUR_OCTET), FOUR_OCTET)),
    'ffffffffffffffffffffffffffffffff00510200000035400101024002060201fa56ea014003040a0000018004040000000ac00808fc000064ffffff01c0200cfa56ea010000000100000002200a60000a',
  );
});

// ---- header errors (RFC 4271 6.1) -----------------------------------------------------------

test('header errors: marker, length, type', () => {
  expectNotification(() => decodeMessage(hex(`${'ff'.repeat(15)}fe 0013 04`), FOUR_OCTET), 1, 1);
  expectNotification(() => decodeMessage(hex(`${MARKER} 0012 04`), FOUR_OCTET), 1, 2, '0012');
  expectNotification(() => decodeMessage(hex(`${MARKER} 1001 04`), FOUR_OCTET), 1, 2, '1001');
  expectNotification(() => decodeMessage(hex(`${MARKER} 0014 04 00`), FOUR_OCTET), 1, 2, '0014'); // KEEPALIVE is exactly 19
  expectNotification(() => decodeMessage(hex(`${MARKER} 001c 01 ${'00'.repeat(9)}`), FOUR_OCTET), 1, 2, '001c'); // OPEN < 29
  expectNotification(() => decodeMessage(hex(`${MARKER} 0016 02 000000`), FOUR_OCTET), 1, 2, '0016'); // UPDATE < 23
  expectNotification(() => decodeMessage(hex(`${MARKER} 0014 03 06`), FOUR_OCTET), 1, 2, '0014'); // NOTIFICATION < 21
  expectNotification(() => decodeMessage(hex(`${MARKER} 0013 06`), FOUR_OCTET), 1, 3, '06');
  expectNotification(() => decodeMessage(hex(`${MARKER} 0013 00`), FOUR_OCTET), 1, 3, '00');
  // The header and the frame disagree.
  expectNotification(() => decodeMessage(hex(`${MARKER} 0014 04`), FOUR_OCTET), 1, 2, '0014');
  expectNotification(() => decodeMessage(hex(`${MARKER} 00`), FOUR_OCTET), 1, 2);
  expectNotification(() => decodeMessage(new Uint8Array(), FOUR_OCTET), 1, 2);
});

test('a ROUTE-REFRESH of the wrong length is ROUTE-REFRESH Message Error / Invalid Message Length with the message (RFC 7313 5)', () => {
  const long = `${MARKER} 0018 05 0001 01 01 00`;
  expectNotification(() => decodeMessage(hex(long), FOUR_OCTET), 7, 1, long);
  const short = `${MARKER} 0016 05 0001 01`;
  expectNotification(() => decodeMessage(hex(short), FOUR_OCTET), 7, 1, short);
});

// ---- OPEN errors (RFC 4271 6.2) ------------------------------------------------------------

function open(fields: string, parameters = '00'): Uint8Array {
  return frame(1, `${fields} ${parameters}`);
}

test('OPEN errors carry the subcode and data RFC 4271 6.2 names', () => {
  // Unsupported version: Data is the 2-octet version we support.
  expectNotification(() => decodeMessage(open('03 fde9 00b4 c0000201'), FOUR_OCTET), 2, 1, '0004');
  expectNotification(() => decodeMessage(open('05 fde9 00b4 c0000201'), FOUR_OCTET), 2, 1, '0004');
  // Hold time 1 or 2; 0 and 3 are fine.
  expectNotification(() => decodeMessage(open('04 fde9 0001 c0000201'), FOUR_OCTET), 2, 6);
  expectNotification(() => decodeMessage(open('04 fde9 0002 c0000201'), FOUR_OCTET), 2, 6);
  assert.equal((decodeMessage(open('04 fde9 0000 c0000201'), FOUR_OCTET) as OpenMessage).holdTimeS, 0);
  assert.equal((decodeMessage(open('04 fde9 0003 c0000201'), FOUR_OCTET) as OpenMessage).holdTimeS, 3);
  // BGP Identifier 0.0.0.0 or multicast.
  expectNotification(() => decodeMessage(open('04 fde9 00b4 00000000'), FOUR_OCTET), 2, 3);
  expectNotification(() => decodeMessage(open('04 fde9 00b4 e0000001'), FOUR_OCTET), 2, 3);
  expectNotification(() => decodeMessage(open('04 fde9 00b4 efffffff'), FOUR_OCTET), 2, 3);
  // An optional parameter other than Capabilities.
  expectNotification(() => decodeMessage(open('04 fde9 00b4 c0000201', '03 01 01 00'), FOUR_OCTET), 2, 4);
  // Optional parameters that disagree with the message length.
  expectNotification(() => decodeMessage(open('04 fde9 00b4 c0000201', '05 02 02 0200'), FOUR_OCTET), 2, 0);
  expectNotification(() => decodeMessage(open('04 fde9 00b4 c0000201', '01 02 02 0200'), FOUR_OCTET), 2, 0);
  // AS 0 (RFC 7607 2), in My AS or in the 4-octet capability.
  expectNotification(() => decodeMessage(open('04 0000 00b4 c0000201'), FOUR_OCTET), 2, 2);
  expectNotification(() => decodeMessage(open('04 5ba0 00b4 c0000201', '08 02 06 4104 00000000'), FOUR_OCTET), 2, 2);
});

test('OPEN encoding writes AS_TRANS for a 4-octet AS and refuses one without the capability', () => {
  const base: OpenMessage = { type: 'open', version: 4, asn: 4200000001, holdTimeS: 90, bgpId: '10.0.0.1', capabilities: [] };
  assert.throws(() => encodeMessage(base, FOUR_OCTET), isEncodeError);
  assert.throws(() => encodeMessage({ ...base, asn: 65001, holdTimeS: 65536 }, FOUR_OCTET), isEncodeError);
  assert.throws(() => encodeMessage({ ...base, asn: 65001, bgpId: 'fd00::1' }, FOUR_OCTET), isEncodeError);
  assert.throws(() => encodeMessage({ ...base, asn: -1 }, FOUR_OCTET), isEncodeError);
  // Encoding writes what the wire can carry, so a test peer can send a bad hold time on purpose.
  const bad = encodeMessage({ ...base, asn: 65001, holdTimeS: 1 }, FOUR_OCTET);
  expectNotification(() => decodeMessage(bad, FOUR_OCTET), 2, 6);
});

// ---- UPDATE errors (RFC 4271 6.3, RFC 7606) ---------------------------------------------------

const V4_ATTRIBUTES = '400101 00   400206 0201 0000fde9   400304 c0000201';

function update(withdrawn: string, attributes: string, nlri: string): Uint8Array {
  return frame(2, updateBody(withdrawn, attributes, nlri));
}

test('UPDATE length fields that overrun the message are Malformed Attribute List (RFC 4271 6.3)', () => {
  expectNotification(() => decodeMessage(frame(2, '0005 0a 0000'), FOUR_OCTET), 3, 1); // withdrawn length 5, 3 bytes follow
  expectNotification(() => decodeMessage(frame(2, '0000 0005 400101 00'), FOUR_OCTET), 3, 1); // attribute length 5, 4 bytes follow
  expectNotification(() => decodeMessage(frame(2, '0002 0000'), FOUR_OCTET), 3, 1); // no room for the attribute length
});

test('malformed Withdrawn Routes or NLRI is Invalid Network Field (RFC 7606 3(e), 5.3)', () => {
  expectNotification(() => decodeMessage(update('21 0a000000 00', '', ''), FOUR_OCTET), 3, 10);
  expectNotification(() => decodeMessage(update('20 0a00', '', ''), FOUR_OCTET), 3, 10);
  expectNotification(() => decodeMessage(update('', V4_ATTRIBUTES, '21 0a60000a 00'), FOUR_OCTET), 3, 10);
  expectNotification(() => decodeMessage(update('', V4_ATTRIBUTES, '20 0a60'), FOUR_OCTET), 3, 10);
});

test('a missing well-known attribute is treat-as-withdraw when there is NLRI (RFC 7606 3(d))', () => {
  const noOrigin = decodeMessage(update('', '400206 0201 0000fde9   400304 c0000201', '200a60000a'), FOUR_OCTET) as UpdateMessage;
  assert.deepEqual(noOrigin.attributeErrors?.map((e) => [e.action, e.typeCode]), [['treat-as-withdraw', 1]]);
  assert.deepEqual(noOrigin.nlri, [hostPrefix('10.96.0.10')]);
  const noNextHop = decodeMessage(update('', '400101 00   400206 0201 0000fde9', '200a60000a'), FOUR_OCTET) as UpdateMessage;
  assert.deepEqual(noNextHop.attributeErrors?.map((e) => [e.action, e.typeCode]), [['treat-as-withdraw', 3]]);
  // MP_REACH_NLRI alone needs ORIGIN and AS_PATH but not NEXT_HOP (RFC 4760 3).
  const mpOnly = decodeMessage(update('', '800e26 0002 01 10 fd000240000000000000000000000020 00 80 fd000096000000000000000000000010', ''), FOUR_OCTET) as UpdateMessage;
  assert.deepEqual(mpOnly.attributeErrors?.map((e) => e.typeCode), [1, 2]);
  // Withdrawals alone need nothing.
  const withdrawOnly = decodeMessage(update('200a60000a', '', ''), FOUR_OCTET) as UpdateMessage;
  assert.equal(withdrawOnly.attributeErrors, undefined);
  assert.deepEqual(withdrawOnly.withdrawn, [hostPrefix('10.96.0.10')]);
});

test('attribute errors RFC 7606 lets the session survive come back with the message', () => {
  const decoded = decodeMessage(update('', `${V4_ATTRIBUTES}   c00805 fc00006400`, '200a60000a'), FOUR_OCTET) as UpdateMessage;
  assert.deepEqual(decoded.attributeErrors?.map((e) => [e.action, e.typeCode]), [['treat-as-withdraw', 8]]);
  assert.equal(decoded.attributes.communities, undefined);
  assert.equal(decoded.attributes.nextHop, '192.0.2.1');
  // An attribute overrunning the list loses only itself; the NLRI is still found (RFC 7606 4).
  const overrun = decodeMessage(update('', `${V4_ATTRIBUTES}   c00808 fc000064`, '200a60000a'), FOUR_OCTET) as UpdateMessage;
  assert.deepEqual(overrun.attributeErrors?.map((e) => [e.action, e.typeCode]), [['treat-as-withdraw', 8]]);
  assert.deepEqual(overrun.nlri, [hostPrefix('10.96.0.10')]);
});

test('UPDATE session resets surface from decodeMessage with their data', () => {
  const reach = '800e26 0002 01 10 fd000240000000000000000000000020 00 80 fd000096000000000000000000000010';
  expectNotification(() => decodeMessage(update('', `400101 00 ${reach} ${reach}`, ''), FOUR_OCTET), 3, 1);
  expectNotification(() => decodeMessage(update('', '406302 abcd', ''), FOUR_OCTET), 3, 2, '406302abcd');
  expectNotification(() => decodeMessage(update('', '800f08 0002 01 40 20010db8', ''), FOUR_OCTET), 3, 9, '800f08000201 4020010db8');
});

test('UPDATE encoding refuses out-of-range values and messages over 4096 bytes', () => {
  const big: PathAttributes = { communities: Array.from({ length: 1100 }, (_, i) => i) };
  assert.throws(() => encodeMessage({ type: 'update', withdrawn: [], attributes: big, nlri: [] }, FOUR_OCTET), (error: unknown) => isEncodeError(error) && /4096/.test(String(error)));
  assert.throws(() => encodeMessage({ type: 'update', withdrawn: [], attributes: {}, nlri: [parsePrefix('fd00::/8')] }, FOUR_OCTET), isEncodeError);
  assert.throws(() => encodeMessage({ type: 'notification', code: 256, subcode: 0, data: new Uint8Array() }, FOUR_OCTET), isEncodeError);
  assert.throws(() => encodeMessage({ type: 'route-refresh', afi: 1, safi: 1, subtype: 300 }, FOUR_OCTET), isEncodeError);
  // Exactly 4096 bytes is allowed.
  const data = new Uint8Array(4096 - 21);
  assert.equal(encodeMessage({ type: 'notification', code: 6, subcode: 0, data }, FOUR_OCTET).length, 4096);
  assert.throws(() => encodeMessage({ type: 'notification', code: 6, subcode: 0, data: new Uint8Array(4096 - 20) }, FOUR_OCTET), isEncodeError);
});

test('decoded values are plain Uint8Array copies, not views of the frame, in messages and in errors', () => {
  const bytes = Buffer.from(hex(`${MARKER} 0017 03 02 01 0004`));
  const decoded = decodeMessage(bytes, FOUR_OCTET);
  bytes.fill(0);
  // deepStrictEqual also compares prototypes: a Buffer here would fail.
  assert.deepEqual(decoded, { type: 'notification', code: 2, subcode: 1, data: hex('0004') });
  const header = Buffer.from(hex(`${MARKER} 0012 04`));
  const error = expectNotification(() => decodeMessage(header, FOUR_OCTET), 1, 2, '0012');
  header.fill(0);
  assert.equal(Object.getPrototypeOf(error.data), Uint8Array.prototype);
  assert.equal(toHex(error.data), '0012');
});

// ---- packing ------------------------------------------------------------------------------

const SHARED: PathAttributes = { origin: 'igp', asPath: [{ type: 'sequence', asns: [4200000001] }], communities: [WELL_KNOWN_COMMUNITY.noExport] };

function v4Hosts(count: number): Prefix[] {
  return Array.from({ length: count }, (_, i) => hostPrefix(`10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`));
}

function v6Hosts(count: number): Prefix[] {
  return Array.from({ length: count }, (_, i) => hostPrefix(`fd00:96::${i.toString(16)}`));
}

function checkPacked(messages: UpdateMessage[], prefixes: Prefix[], read: (update: UpdateMessage) => readonly Prefix[], growBy: number): void {
  const sizes = messages.map((message) => encodeMessage(message, FOUR_OCTET).length);
  assert.ok(sizes.every((size) => size <= 4096), `sizes ${sizes.join(',')}`);
  // Greedy and tight: every message but the last had no room for one more prefix.
  assert.ok(sizes.slice(0, -1).every((size) => size + growBy > 4096), `sizes ${sizes.join(',')}`);
  const decoded = messages.map((message) => decodeMessage(encodeMessage(message, FOUR_OCTET), FOUR_OCTET) as UpdateMessage);
  assert.deepEqual(decoded.flatMap(read), prefixes);
  assert.ok(decoded.every((message) => message.attributeErrors === undefined));
}

test('packUpdates splits 2000 IPv4 /32s into tight UPDATEs of at most 4096 bytes', () => {
  const prefixes = v4Hosts(2000);
  const messages = packUpdates('ipv4-unicast', SHARED, ['192.0.2.1'], prefixes, FOUR_OCTET);
  assert.equal(messages.length, 3);
  checkPacked(messages, prefixes, (message) => message.nlri, 5);
  assert.equal(messages[0]?.attributes.nextHop, '192.0.2.1');
});

test('packUpdates splits 1000 IPv6 /128s across MP_REACH_NLRI attributes', () => {
  const prefixes = v6Hosts(1000);
  const messages = packUpdates('ipv6-unicast', SHARED, ['fd00:240::20', 'fe80::20'], prefixes, FOUR_OCTET);
  checkPacked(messages, prefixes, (message) => message.attributes.mpReach?.nlri ?? [], 17);
  assert.deepEqual(messages[0]?.attributes.mpReach?.nextHops, ['fd00:240::20', 'fe80::20']);
  assert.deepEqual(packUpdates('ipv6-unicast', SHARED, ['fd00:240::20'], [], FOUR_OCTET), []);
  // A handful fits in one message, with the MP attribute's length in one octet.
  const few = packUpdates('ipv6-unicast', SHARED, ['fd00:240::20'], v6Hosts(3), FOUR_OCTET);
  assert.equal(few.length, 1);
});

test('packWithdrawals splits withdrawals for both families', () => {
  const v4 = v4Hosts(1500);
  checkPacked(packWithdrawals('ipv4-unicast', v4), v4, (message) => message.withdrawn, 5);
  const v6 = v6Hosts(800);
  checkPacked(packWithdrawals('ipv6-unicast', v6), v6, (message) => message.attributes.mpUnreach?.withdrawn ?? [], 17);
  assert.deepEqual(packWithdrawals('ipv4-unicast', []), []);
});

test('packUpdates and packWithdrawals with multiprotocolIpv4 put IPv4 in MP_REACH_NLRI / MP_UNREACH_NLRI with AFI 1', () => {
  const prefixes = v4Hosts(2000);
  const options = { multiprotocolIpv4: true };
  const messages = packUpdates('ipv4-unicast', SHARED, ['192.0.2.1'], prefixes, FOUR_OCTET, options);
  checkPacked(messages, prefixes, (message) => message.attributes.mpReach?.nlri ?? [], 5);
  for (const message of messages) {
    assert.deepEqual(message.nlri, [], 'nothing in the classic NLRI field');
    assert.equal(message.attributes.nextHop, undefined, 'no NEXT_HOP attribute');
    assert.deepEqual({ ...message.attributes.mpReach, nlri: [] }, { afi: 1, safi: 1, nextHops: ['192.0.2.1'], nlri: [] });
  }
  const withdrawals = packWithdrawals('ipv4-unicast', prefixes, options);
  checkPacked(withdrawals, prefixes, (message) => message.attributes.mpUnreach?.withdrawn ?? [], 5);
  for (const message of withdrawals) {
    assert.deepEqual(message.withdrawn, []);
    assert.equal(message.attributes.mpUnreach?.afi, 1);
  }
  // A few prefixes: one message, the MP attribute's length in one octet.
  assert.equal(packUpdates('ipv4-unicast', SHARED, ['192.0.2.1'], v4Hosts(3), FOUR_OCTET, options).length, 1);
  // Still one IPv4 next hop; the option leaves IPv6 as it is.
  assert.throws(() => packUpdates('ipv4-unicast', SHARED, ['fd00::1'], v4Hosts(1), FOUR_OCTET, options), isEncodeError);
  assert.deepEqual(packUpdates('ipv6-unicast', SHARED, ['fd00:240::20'], v6Hosts(3), FOUR_OCTET, options), packUpdates('ipv6-unicast', SHARED, ['fd00:240::20'], v6Hosts(3), FOUR_OCTET));
});

test('packUpdates refuses mixed families, misplaced next hops and bad next hops', () => {
  assert.throws(() => packUpdates('ipv4-unicast', SHARED, ['192.0.2.1'], v6Hosts(1), FOUR_OCTET), isEncodeError);
  assert.throws(() => packUpdates('ipv4-unicast', { ...SHARED, nextHop: '192.0.2.1' }, ['192.0.2.1'], v4Hosts(1), FOUR_OCTET), isEncodeError);
  assert.throws(() => packUpdates('ipv4-unicast', SHARED, ['fd00::1'], v4Hosts(1), FOUR_OCTET), isEncodeError);
  assert.throws(() => packUpdates('ipv4-unicast', SHARED, [], v4Hosts(1), FOUR_OCTET), isEncodeError);
  assert.throws(() => packUpdates('ipv6-unicast', SHARED, ['192.0.2.1'], v6Hosts(1), FOUR_OCTET), isEncodeError);
  assert.throws(() => packUpdates('ipv6-unicast', SHARED, ['fd00::1', 'fe80::1', 'fe80::2'], v6Hosts(1), FOUR_OCTET), isEncodeError);
  assert.throws(() => packWithdrawals('ipv6-unicast', v4Hosts(1)), isEncodeError);
  const huge: PathAttributes = { ...SHARED, communities: Array.from({ length: 1018 }, (_, i) => i) };
  assert.throws(() => packUpdates('ipv4-unicast', huge, ['192.0.2.1'], v4Hosts(1), FOUR_OCTET), isEncodeError);
});

test('decode never throws anything but BgpProtocolError on a truncated golden UPDATE', () => {
  const golden = hex(`${MARKER} 004d 02   0005 200a60000b   002c 400101 00 400204 0201fde9 400304 c0000201 c00808 fc000064 ffffff01 c0200c fa56ea01 00000001 00000002 200a60000a`);
  for (let cut = 19; cut < golden.length; cut++) {
    const truncated = Uint8Array.from(golden.subarray(0, cut));
    truncated[16] = cut >> 8;
    truncated[17] = cut & 0xff;
    try {
      decodeMessage(truncated, TWO_OCTET);
    } catch (error) {
      assert.ok(error instanceof BgpProtocolError, `cut at ${cut}: ${String(error)}`);
    }
  }
});
