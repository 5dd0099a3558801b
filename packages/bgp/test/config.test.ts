import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BGP_PEER_DEFAULTS, bgpPeerConfig, bgpSpeakerConfig, isGlobalIpv6, type BgpSpeakerInit } from '../src/config.js';
import { BgpError } from '../src/errors.js';

const BASE: BgpSpeakerInit = { asn: 64512, routerId: '10.240.0.20', peers: [{ address: '10.240.0.2', asn: 4200000001 }] };

test('defaults: hold 90 s, retry 5..60 s, port 179, active, the session family only, listen on 179, GR off', () => {
  const c = bgpSpeakerConfig(BASE);
  assert.deepEqual(c.peers[0], { address: '10.240.0.2', asn: 4200000001, port: 179, holdTimeS: 90, connectRetryS: 5, connectRetryMaxS: 60, passive: false, families: ['ipv4-unicast'] });
  assert.deepEqual(c.listen, { port: 179, addresses: [] });
  assert.deepEqual(c.gracefulRestart, { enabled: false, restartTimeS: 30, initialRoutesTimeoutS: 30 });
  assert.equal(c.restarting, false);
  assert.deepEqual(bgpPeerConfig({ address: 'fd00:240::2', asn: 1 }).families, ['ipv6-unicast']);
  assert.equal(BGP_PEER_DEFAULTS.holdTimeS, 90);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.peers[0]));
});

test('values given are kept; addresses come out canonical; explicit undefineds are ignored', () => {
  const c = bgpSpeakerConfig({
    ...BASE,
    listen: { port: 1179, addresses: ['FD00:240:0::20'] },
    peers: [
      {
        address: 'FD00:240:0:0::2',
        asn: 65001,
        port: 1179,
        localAddress: 'fd00:240::20',
        holdTimeS: 3,
        connectRetryS: 1,
        connectRetryMaxS: 4,
        passive: true,
        ttl: 255,
        families: ['ipv6-unicast', 'ipv4-unicast'],
        nextHopIpv4: '10.240.0.20',
        nextHopIpv6: 'FD00:240::0020',
        description: 'bgp-r',
      },
    ],
    gracefulRestart: { enabled: true, restartTimeS: 120, initialRoutesTimeoutS: 5 },
    restarting: true,
  });
  assert.deepEqual(c.listen, { port: 1179, addresses: ['fd00:240::20'] });
  assert.equal(c.peers[0]?.address, 'fd00:240::2');
  assert.equal(c.peers[0]?.nextHopIpv6, 'fd00:240::20');
  assert.equal(c.peers[0]?.ttl, 255);
  assert.deepEqual(c.peers[0]?.families, ['ipv6-unicast', 'ipv4-unicast']);
  assert.deepEqual(c.gracefulRestart, { enabled: true, restartTimeS: 120, initialRoutesTimeoutS: 5 });
  const withUndefined = bgpSpeakerConfig({ ...BASE, listen: { port: undefined as unknown as number }, peers: [{ address: '10.0.0.1', asn: 1, holdTimeS: undefined as unknown as number }] });
  assert.equal(withUndefined.peers[0]?.holdTimeS, 90);
  assert.equal(bgpSpeakerConfig({ ...BASE, listen: false }).listen, false);
  // A long first retry lifts the default ceiling with it.
  assert.equal(bgpPeerConfig({ address: '10.0.0.1', asn: 1, connectRetryS: 120 }).connectRetryMaxS, 120);
});

const BAD: [string, BgpSpeakerInit, RegExp][] = [
  ['AS 0', { ...BASE, asn: 0 }, /^bgp config: asn: /],
  ['AS_TRANS', { ...BASE, asn: 23456 }, /^bgp config: asn: .*AS_TRANS/],
  ['AS beyond 32 bits', { ...BASE, asn: 2 ** 32 }, /^bgp config: asn: /],
  ['router id 0.0.0.0', { ...BASE, routerId: '0.0.0.0' }, /^bgp config: routerId: /],
  ['router id not IPv4', { ...BASE, routerId: 'fd00::1' }, /^bgp config: routerId: /],
  ['peer AS negative', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1 }, { address: '10.0.0.2', asn: -1 }] }, /^bgp config: peers\[1\]\.asn: /],
  ['peer address', { ...BASE, peers: [{ address: 'router', asn: 1 }] }, /^bgp config: peers\[0\]\.address: /],
  ['hold time 2', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, holdTimeS: 2 }] }, /^bgp config: peers\[0\]\.holdTimeS: .*at least 3/],
  ['hold time fractional', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, holdTimeS: 3.5 }] }, /^bgp config: peers\[0\]\.holdTimeS: /],
  ['link-local next hop', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, nextHopIpv6: 'fe80::1' }] }, /^bgp config: peers\[0\]\.nextHopIpv6: .*global/],
  ['IPv4-mapped next hop', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, nextHopIpv6: '::ffff:10.0.0.2' }] }, /^bgp config: peers\[0\]\.nextHopIpv6: /],
  ['IPv4 next hop for IPv6', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, nextHopIpv6: '10.0.0.2' }] }, /^bgp config: peers\[0\]\.nextHopIpv6: /],
  ['IPv6 nextHopIpv4', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, nextHopIpv4: 'fd00::1' }] }, /^bgp config: peers\[0\]\.nextHopIpv4: /],
  ['local address of the other family', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, localAddress: 'fd00::1' }] }, /^bgp config: peers\[0\]\.localAddress: .*same family/],
  ['retry ceiling below retry', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, connectRetryS: 10, connectRetryMaxS: 5 }] }, /^bgp config: peers\[0\]\.connectRetryMaxS: /],
  ['no families', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, families: [] }] }, /^bgp config: peers\[0\]\.families: /],
  ['unknown family', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, families: ['ipv4-multicast' as 'ipv4-unicast'] }] }, /^bgp config: peers\[0\]\.families\[0\]: /],
  ['repeated family', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, families: ['ipv4-unicast', 'ipv4-unicast'] }] }, /^bgp config: peers\[0\]\.families: /],
  ['TTL 0', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, ttl: 0 }] }, /^bgp config: peers\[0\]\.ttl: /],
  ['duplicate peers', { ...BASE, peers: [{ address: 'fd00::1', asn: 1 }, { address: 'FD00:0::1', asn: 2 }] }, /^bgp config: peers\[1\]\.address: duplicates peers\[0\]/],
  ['unknown field', { ...BASE, peers: [{ address: '10.0.0.1', asn: 1, holdtime: 3 } as never] }, /^bgp config: peers\[0\]: /],
  ['restart time beyond 12 bits', { ...BASE, gracefulRestart: { restartTimeS: 5000 } }, /^bgp config: gracefulRestart\.restartTimeS: /],
  ['listen port', { ...BASE, listen: { port: 70000 } }, /^bgp config: listen/],
];

test('a bad field fails with E_BGP_CONFIG and its path', () => {
  for (const [name, init, pattern] of BAD) {
    assert.throws(
      () => bgpSpeakerConfig(init),
      (e: unknown) => e instanceof BgpError && e.code === 'E_BGP_CONFIG' && pattern.test(e.message),
      name,
    );
  }
});

test('a global IPv6 next hop is neither link-local, loopback, unspecified, multicast nor IPv4-mapped', () => {
  assert.ok(isGlobalIpv6('fd00:240::20'));
  assert.ok(isGlobalIpv6('2001:db8::1'));
  for (const bad of ['fe80::1', 'febf::1', '::1', '::', '::ffff:10.0.0.1', '::10.0.0.1', 'ff02::1', '10.0.0.1', 'fe80::1%eth0']) assert.ok(!isGlobalIpv6(bad), bad);
});
