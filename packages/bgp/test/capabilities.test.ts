import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeCapabilities, decodeOptionalParameters, encodeCapability, encodeOptionalParameters } from '../src/capabilities.js';
import { BgpError } from '../src/errors.js';
import type { Capability } from '../src/messages.js';
import { WireWriter } from '../src/wire.js';
import { expectNotification, hex, toHex } from './codec-fixtures.js';

test('each capability encodes to its RFC bytes', () => {
  const cases: [Capability, string][] = [
    [{ kind: 'multiprotocol', afi: 2, safi: 1 }, '01 04 0002 00 01'], // RFC 4760 8
    [{ kind: 'route-refresh' }, '02 00'], // RFC 2918 2
    [{ kind: 'four-octet-as', asn: 4200000001 }, '41 04 fa56ea01'], // RFC 6793 3
    [
      // RFC 4724 3: R bit + 120 s, IPv4 unicast with F; RFC 8538 N bit is the next one down.
      { kind: 'graceful-restart', restarting: true, notification: false, restartTimeS: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] },
      '40 06 8078 0001 01 80',
    ],
    [{ kind: 'graceful-restart', restarting: false, notification: true, restartTimeS: 4095, families: [] }, '40 02 4fff'],
    [{ kind: 'unknown', code: 70, value: new Uint8Array() }, '46 00'],
    [{ kind: 'unknown', code: 73, value: hex('0362697264') }, '49 05 0362697264'],
  ];
  for (const [capability, bytes] of cases) {
    assert.equal(toHex(encodeCapability(capability)), bytes.replace(/\s+/g, ''), capability.kind);
    assert.deepEqual(decodeCapabilities(hex(bytes)), [capability], capability.kind);
  }
});

test('graceful restart decodes R, N, the 12-bit time and per-family F bits, ignoring reserved bits', () => {
  assert.deepEqual(decodeCapabilities(hex('40 0a f0b4 0001 01 80 0002 01 00')), [
    {
      kind: 'graceful-restart',
      restarting: true,
      notification: true,
      restartTimeS: 180,
      families: [
        { afi: 1, safi: 1, forwardingPreserved: true },
        { afi: 2, safi: 1, forwardingPreserved: false },
      ],
    },
  ]);
});

test('several capabilities in one parameter, and several parameters, are all read', () => {
  // One parameter holding MP(IPv4), route refresh and 4-octet AS, as BIRD sends it.
  const oneParameter = hex('10 02 0e 01040001 0001 0200 4104fa56ea01');
  const expected: Capability[] = [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'route-refresh' }, { kind: 'four-octet-as', asn: 4200000001 }];
  assert.deepEqual(decodeOptionalParameters(oneParameter), expected);
  // The same as one parameter per capability, as some speakers send it.
  const manyParameters = hex('14 0206 01040001 0001 0202 0200 0206 4104fa56ea01');
  assert.deepEqual(decodeOptionalParameters(manyParameters), expected);
  assert.deepEqual(decodeOptionalParameters(hex('00')), []);
  assert.deepEqual(decodeOptionalParameters(hex('02 0200')), []); // an empty Capabilities parameter
});

test('the encoder puts capabilities in one parameter while they fit', () => {
  const out = new WireWriter();
  encodeOptionalParameters(out, [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'route-refresh' }, { kind: 'four-octet-as', asn: 4200000001 }]);
  assert.equal(toHex(out.toBytes()), '10020e010400010001020041' + '04fa56ea01');
  const none = new WireWriter();
  encodeOptionalParameters(none, []);
  assert.equal(toHex(none.toBytes()), '00');
});

test('more than 255 octets of parameters use the RFC 9072 extended encoding, and decode back', () => {
  const many: Capability[] = Array.from({ length: 60 }, (_, i) => ({ kind: 'multiprotocol', afi: 1 + (i % 2), safi: 1 + i }));
  const out = new WireWriter();
  encodeOptionalParameters(out, many);
  const bytes = out.toBytes();
  // Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length = 3 + 360, then type 2 with a 2-octet length.
  assert.equal(toHex(bytes.subarray(0, 7)), 'ffff016b020168');
  assert.equal(bytes.length, 4 + 363);
  assert.deepEqual(decodeOptionalParameters(bytes), many);
});

test('an extended encoding is recognized by the type octet 255 whatever the non-extended length says', () => {
  // RFC 9072 2: Non-Ext OP Len 9 (not 255), type 255, ext length 9, one parameter with a 2-byte length.
  const field = hex('09 ff 0009 02 0006 4104fa56ea01');
  assert.deepEqual(decodeOptionalParameters(field), [{ kind: 'four-octet-as', asn: 4200000001 }]);
});

test('a parameter other than Capabilities is OPEN Message Error / Unsupported Optional Parameter', () => {
  expectNotification(() => decodeOptionalParameters(hex('04 01 02 0000')), 2, 4); // type 1, the old Authentication
  expectNotification(() => decodeOptionalParameters(hex('05 ff 0002 0000')), 2, 0); // ext length disagrees
});

test('malformed parameters and capabilities are OPEN Message Error / Unspecific (RFC 4271 6.2)', () => {
  const cases = [
    '04 02 06 0104', // parameter overruns the field
    '05 02 03 0104 00', // capability overruns the parameter
    '03 02 02 01', // parameter length 2, one byte left
    '07 02 05 0103 000100', // multiprotocol of 3 bytes
    '05 02 03 0201 ff', // route refresh with a value
    '05 02 03 4101 00', // 4-octet AS of 1 byte
    '05 02 03 4001 00', // graceful restart of 1 byte
    '09 02 07 4005 0078 000101', // graceful restart with a partial AFI entry
    '02 02 02', // length 2, one byte follows
    '01', // length 1, nothing follows
    '01 02 00', // length 1, two bytes follow
    '00 02', // length 0, a byte follows
    'ff ff 00', // extended, length cut short
  ];
  for (const field of cases) expectNotification(() => decodeOptionalParameters(hex(field)), 2, 0);
});

test('values outside their fields are refused with E_BGP_ENCODE', () => {
  const bad: Capability[] = [
    { kind: 'multiprotocol', afi: 65536, safi: 1 },
    { kind: 'four-octet-as', asn: 2 ** 32 },
    { kind: 'graceful-restart', restarting: false, notification: false, restartTimeS: 4096, families: [] },
    { kind: 'unknown', code: 256, value: new Uint8Array() },
    { kind: 'unknown', code: 9, value: new Uint8Array(256) },
  ];
  for (const capability of bad) {
    assert.throws(() => encodeCapability(capability), (error: unknown) => error instanceof BgpError && error.code === 'E_BGP_ENCODE', JSON.stringify(capability));
  }
});
