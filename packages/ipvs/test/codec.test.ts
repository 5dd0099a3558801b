// IPVS requests and replies byte by byte, against encodings derived by hand from
// linux/ip_vs.h and net/netfilter/ipvs/ip_vs_ctl.c (ip_vs_genl_parse_service/_dest and the
// dump fillers). The expected hex is annotated per attribute; none of it comes from the code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCHEDULERS } from '@shoal/model';
import { encodeAttrs, attrNested, attrU16, attrU32, attrBytes, attrBe16, attrString, encodeGenlHeader } from '@shoal/netlink';
import type { VirtualService } from '@shoal/dataplane';
import {
  buildDelDest,
  buildDelService,
  buildFlush,
  buildGetDests,
  buildGetServices,
  buildNewDest,
  buildNewService,
  buildSetDest,
  buildSetService,
  decodeDestAttrs,
  decodeNetmask,
  decodeServiceAttrs,
  nestedOf,
  netmaskAttr,
  toVirtualService,
  IPVS_CMD_ATTR_SERVICE,
} from '../src/index.js';

const hex = (s: string): string => s.replace(/\s+/g, '');
const FAMILY = 32;
const web: Omit<VirtualService, 'servers'> = { protocol: 'tcp', vip: '10.0.0.1', port: 80, family: 4, scheduler: 'rr', persistenceTimeoutS: 0 };

const SVC_ID_V4_TCP_80 = `
  0600 0100 0200 0000
  0600 0200 0600 0000
  1400 0300 0a000001 00000000 00000000 00000000
  0600 0400 0050 0000`;

test('NEW_SERVICE for tcp 10.0.0.1:80 rr carries every attribute a full entry needs', () => {
  const req = buildNewService(FAMILY, web);
  assert.equal(req.type, FAMILY);
  assert.equal(req.flags, 0x5); // REQUEST | ACK
  assert.equal(
    req.payload.toString('hex'),
    hex(`01 01 0000
         5400 0180 ${SVC_ID_V4_TCP_80}
           0700 0600 727200 00
           0c00 0700 00000000 ffffffff
           0800 0800 00000000
           0800 0900 ffffffff`),
  );
  assert.equal(buildSetService(FAMILY, web).payload[0], 2);
});

test('a persistent IPv6 UDP service: AF_INET6, 16-byte address, flag, timeout, prefix-length netmask', () => {
  const req = buildNewService(FAMILY, { protocol: 'udp', vip: 'fd00::1', port: 53, family: 6, scheduler: 'sh', persistenceTimeoutS: 300, persistenceNetmask: 64 });
  assert.equal(
    req.payload.toString('hex'),
    hex(`01 01 0000
         5400 0180
           0600 0100 0a00 0000
           0600 0200 1100 0000
           1400 0300 fd000000 00000000 00000000 00000001
           0600 0400 0035 0000
           0700 0600 736800 00
           0c00 0700 01000000 ffffffff
           0800 0800 2c010000
           0800 0900 40000000`),
  );
});

test('IPv4 persistence netmask is the mask in network order, IPv6 the prefix length', () => {
  assert.equal(encodeAttrs([netmaskAttr(4, 24)]).toString('hex'), hex('0800 0900 ffffff00'));
  assert.equal(encodeAttrs([netmaskAttr(4, 0)]).toString('hex'), hex('0800 0900 00000000'));
  assert.equal(encodeAttrs([netmaskAttr(6, 128)]).toString('hex'), hex('0800 0900 80000000'));
  assert.equal(decodeNetmask(4, Buffer.from('fffff000', 'hex')), 20);
  assert.equal(decodeNetmask(6, Buffer.from('30000000', 'hex')), 48);
});

test('every scheduler name is sent as a NUL-terminated IPVS_SVC_ATTR_SCHED_NAME', () => {
  for (const s of SCHEDULERS) {
    const p = buildNewService(FAMILY, { ...web, scheduler: s }).payload;
    const name = Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
    const attr = Buffer.alloc(4);
    attr.writeUInt16LE(4 + name.length, 0);
    attr.writeUInt16LE(6, 2);
    assert.ok(p.includes(Buffer.concat([attr, name])), s);
    assert.equal(decodeServiceAttrs(nestedOf(p, IPVS_CMD_ATTR_SERVICE)!).scheduler, s);
  }
});

test('NEW_DEST nests the service id and a full destination with ADDR_FAMILY', () => {
  const req = buildNewDest(FAMILY, web, { ip: '10.1.0.5', port: 8080, weight: 3, forwarding: 'nat' });
  assert.equal(
    req.payload.toString('hex'),
    hex(`05 01 0000
         3000 0180 ${SVC_ID_V4_TCP_80}
         4800 0280
           1400 0100 0a010005 00000000 00000000 00000000
           0600 0200 1f90 0000
           0600 0b00 0200 0000
           0800 0300 00000000
           0800 0400 03000000
           0800 0500 00000000
           0800 0600 00000000`),
  );
});

test('forwarding methods map to IP_VS_CONN_F_MASQ/LOCALNODE/TUNNEL/DROUTE', () => {
  const fwdOf = (f: 'nat' | 'local' | 'tunnel' | 'dr'): string => buildSetDest(FAMILY, web, { ip: '10.1.0.5', port: 80, weight: 1, forwarding: f }).payload.subarray(4 + 48 + 4 + 36, 4 + 48 + 4 + 44).toString('hex');
  assert.equal(fwdOf('nat'), hex('0800 0300 00000000'));
  assert.equal(fwdOf('local'), hex('0800 0300 01000000'));
  assert.equal(fwdOf('tunnel'), hex('0800 0300 02000000'));
  assert.equal(fwdOf('dr'), hex('0800 0300 03000000'));
  assert.equal(buildSetDest(FAMILY, web, { ip: '10.1.0.5', port: 80, weight: 1, forwarding: 'dr' }).payload[0], 6);
});

test('DEL_SERVICE and DEL_DEST send identities only; dumps and FLUSH have no attributes', () => {
  assert.equal(buildDelService(FAMILY, web).payload.toString('hex'), hex(`03 01 0000 3000 0180 ${SVC_ID_V4_TCP_80}`));
  assert.equal(
    buildDelDest(FAMILY, web, { ip: '10.1.0.5', port: 8080 }).payload.toString('hex'),
    hex(`07 01 0000 3000 0180 ${SVC_ID_V4_TCP_80}
         2800 0280 1400 0100 0a010005 00000000 00000000 00000000 0600 0200 1f90 0000 0600 0b00 0200 0000`),
  );
  const dump = buildGetServices(FAMILY);
  assert.equal(dump.flags, 0x305); // REQUEST | ACK | DUMP
  assert.equal(dump.payload.toString('hex'), '04010000');
  assert.equal(buildGetDests(FAMILY, web).payload.toString('hex'), hex(`08 01 0000 3000 0180 ${SVC_ID_V4_TCP_80}`));
  assert.equal(buildFlush(FAMILY).payload.toString('hex'), '11010000');
  assert.equal(buildFlush(FAMILY).flags, 0x5);
});

test('a kernel service dump entry decodes, HASHED flag and stats ignored', () => {
  // As ip_vs_genl_fill_service writes it: AF, PROTOCOL, ADDR, PORT, SCHED_NAME, FLAGS
  // (flags | HASHED, mask ~0), TIMEOUT, NETMASK, STATS (nested).
  const inner = encodeAttrs([
    attrU16(1, 2),
    attrU16(2, 6),
    attrBytes(3, Buffer.from('c0000207000000000000000000000000', 'hex')),
    attrBe16(4, 443),
    attrString(6, 'wrr'),
    attrBytes(7, Buffer.from('03000000ffffffff', 'hex')),
    attrU32(8, 600),
    attrBytes(9, Buffer.from('ffffff00', 'hex')),
    attrNested(10, [attrU32(1, 5)]),
  ]);
  const e = decodeServiceAttrs(inner);
  assert.deepEqual(e, { family: 4, protocol: 'tcp', vip: '192.0.2.7', port: 443, scheduler: 'wrr', flags: 3, timeoutS: 600, netmask: 24 });
  const d = decodeDestAttrs(
    encodeAttrs([attrBytes(1, Buffer.from('c0000265000000000000000000000000', 'hex')), attrBe16(2, 8443), attrU32(3, 3), attrU32(4, 5), attrU32(7, 2), attrU32(8, 1), attrU16(11, 2)]),
    4,
  );
  assert.deepEqual(d, { family: 4, ip: '192.0.2.101', port: 8443, forwarding: 'dr', weight: 5, activeConns: 2, inactiveConns: 1 });
  assert.deepEqual(toVirtualService(e, [d]), {
    protocol: 'tcp', vip: '192.0.2.7', port: 443, family: 4, scheduler: 'wrr', persistenceTimeoutS: 600, persistenceNetmask: 24,
    servers: [{ ip: '192.0.2.101', port: 8443, weight: 5, forwarding: 'dr' }],
  });
});

test('firewall-mark and SCTP services decode but are never taken for Shoal services', () => {
  const fwm = decodeServiceAttrs(encodeAttrs([attrU16(1, 10), attrU16(2, 0), attrU32(5, 7), attrString(6, 'rr'), attrBytes(7, Buffer.alloc(8)), attrU32(8, 0), attrU32(9, 128)]));
  assert.equal(fwm.fwmark, 7);
  assert.equal(fwm.vip, undefined);
  assert.equal(toVirtualService(fwm, []), null);
  const sctp = decodeServiceAttrs(encodeAttrs([attrU16(1, 2), attrU16(2, 132), attrBytes(3, Buffer.alloc(16)), attrBe16(4, 9), attrString(6, 'rr')]));
  assert.equal(sctp.protocol, 132);
  assert.equal(toVirtualService(sctp, []), null);
});

test('a non-persistent service with a full netmask round-trips without persistenceNetmask', () => {
  const p = buildNewService(FAMILY, web).payload;
  assert.deepEqual(toVirtualService(decodeServiceAttrs(nestedOf(p, IPVS_CMD_ATTR_SERVICE)!), []), { ...web, servers: [] });
  assert.equal(encodeGenlHeader(4, 1).toString('hex'), '04010000');
});
