import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BgpError } from '../src/errors.js';
import { createMemoryNetwork, type MemoryNetwork } from '../src/memory-transport.js';
import { AFI_IPV4, AFI_IPV6, MAX_MESSAGE_BYTES, SAFI_UNICAST, type Capability } from '../src/messages.js';
import type { BgpPeerStatus } from '../src/session.js';
import { createBgpSpeaker, type BgpSpeaker } from '../src/speaker.js';
import type { BgpSpeakerInit } from '../src/config.js';
import { encodeMessage } from '../src/codec.js';
import { FOUR_OCTET, ManualClock, ScriptedPeer, announced, capturingLogger, flush, prefix, testLogger, withdrawn, type LogLine } from './speaker-fakes.js';

interface Lab {
  net: MemoryNetwork;
  clock: ManualClock;
  router: ScriptedPeer;
  speaker: BgpSpeaker;
}

/** A speaker at 10.240.0.20 (AS 64512) and a scripted router at 10.240.0.2 (AS 4200000001), as in the recipe's lab. */
async function lab(init: Partial<BgpSpeakerInit> = {}, router: Partial<ConstructorParameters<typeof ScriptedPeer>[2]> = {}): Promise<Lab> {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const r = new ScriptedPeer(net, ['10.240.0.2', 'fd00:240::2'], { asn: 4200000001, bgpId: '10.240.0.2', holdTimeS: 3, ...router });
  await r.listen();
  const speaker = createBgpSpeaker(
    { asn: 64512, routerId: '10.240.0.20', peers: [{ address: '10.240.0.2', asn: 4200000001, holdTimeS: 3, connectRetryS: 1 }], ...init },
    { logger: testLogger(), transport: net.host(['10.240.0.20', 'fd00:240::20']), clock, random: () => 1 },
  );
  return { net, clock, router: r, speaker };
}

function state(speaker: BgpSpeaker, address = '10.240.0.2'): string | undefined {
  return speaker.peers().find((p) => p.address === address)?.state;
}

test('two speakers establish with each other; the hold time is the smaller one; peer-state events follow', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const a = createBgpSpeaker(
    { asn: 64512, routerId: '10.0.0.1', peers: [{ address: '10.0.0.2', asn: 64513, holdTimeS: 9 }] },
    { logger: testLogger(), transport: net.host('10.0.0.1'), clock, random: () => 1 },
  );
  const b = createBgpSpeaker(
    { asn: 64513, routerId: '10.0.0.2', peers: [{ address: '10.0.0.1', asn: 64512, holdTimeS: 3, passive: true }] },
    { logger: testLogger(), transport: net.host('10.0.0.2'), clock, random: () => 1 },
  );
  const events: BgpPeerStatus[] = [];
  const off = a.on('peer-state', (s) => events.push(s));
  await b.start();
  await a.start();
  assert.ok(await clock.until(() => state(a, '10.0.0.2') === 'Established' && state(b, '10.0.0.1') === 'Established', 5000));
  const [pa] = a.peers();
  const [pb] = b.peers();
  assert.equal(pa?.negotiated?.holdTimeS, 3);
  assert.equal(pb?.negotiated?.holdTimeS, 3);
  assert.equal(pa?.type, 'ebgp');
  assert.equal(events[events.length - 1]?.state, 'Established');
  off();
  // Stays up on keepalives alone.
  await clock.advance(60_000);
  assert.equal(state(a, '10.0.0.2'), 'Established');
  assert.equal(a.peers()[0]?.flaps, 0);
  await Promise.all([a.stop(), b.stop()]);
});

test('a silent cut between two speakers: both hold timers expire, both reconnect', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const mk = (me: string, peer: string, asn: number, peerAsn: number): BgpSpeaker =>
    createBgpSpeaker(
      { asn, routerId: me, peers: [{ address: peer, asn: peerAsn, holdTimeS: 3, connectRetryS: 1 }] },
      { logger: testLogger(), transport: net.host(me), clock, random: () => 1 },
    );
  const a = mk('10.0.0.1', '10.0.0.2', 64512, 64513);
  const b = mk('10.0.0.2', '10.0.0.1', 64513, 64512);
  await Promise.all([a.start(), b.start()]);
  assert.ok(await clock.until(() => state(a, '10.0.0.2') === 'Established' && state(b, '10.0.0.1') === 'Established', 5000));
  assert.equal(net.connections().length, 1, 'one connection survived the collision');
  net.cut();
  assert.ok(await clock.until(() => state(a, '10.0.0.2') !== 'Established' && state(b, '10.0.0.1') !== 'Established', 3100, 50));
  assert.equal(a.peers()[0]?.lastNotificationSent?.text, 'Hold Timer Expired');
  assert.ok(await clock.until(() => state(a, '10.0.0.2') === 'Established' && state(b, '10.0.0.1') === 'Established', 30_000));
  assert.equal(a.peers()[0]?.flaps, 1);
  await Promise.all([a.stop(), b.stop()]);
});

test('simultaneous connects resolve to the connection opened by the higher router id', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const mk = (me: string, peer: string, asn: number, peerAsn: number): BgpSpeaker =>
    createBgpSpeaker({ asn, routerId: me, peers: [{ address: peer, asn: peerAsn, holdTimeS: 3 }] }, { logger: testLogger(), transport: net.host(me), clock, random: () => 1 });
  const low = mk('10.0.0.1', '10.0.0.9', 64512, 64513);
  const high = mk('10.0.0.9', '10.0.0.1', 64513, 64512);
  await Promise.all([low.start(), high.start()]);
  assert.ok(await clock.until(() => state(low, '10.0.0.9') === 'Established' && state(high, '10.0.0.1') === 'Established', 5000));
  const open = net.connections();
  assert.equal(open.length, 1);
  assert.equal(open[0]?.localAddress, '10.0.0.9', 'initiated by the higher BGP Identifier');
  const collisions = (low.peers()[0]?.counters.collisions ?? 0) + (high.peers()[0]?.counters.collisions ?? 0);
  assert.ok(collisions >= 1);
  await Promise.all([low.stop(), high.stop()]);
});

test('setRoutes sends only the difference: add, change attributes, remove', async () => {
  const { clock, router, speaker } = await lab();
  speaker.setRoutes([{ prefix: prefix('10.96.0.10/32') }]);
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  assert.deepEqual(announced(router.updates()), ['10.96.0.10/32']);

  router.clear();
  speaker.setRoutes([{ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('10.96.0.11/32') }]);
  await flush();
  assert.deepEqual(announced(router.updates()), ['10.96.0.11/32'], 'only the new prefix');

  router.clear();
  speaker.setRoutes([{ prefix: prefix('10.96.0.10/32'), med: 10 }, { prefix: prefix('10.96.0.11/32') }]);
  await flush();
  const changed = router.updates();
  assert.deepEqual(announced(changed), ['10.96.0.10/32'], 'only the changed prefix');
  assert.equal(changed[0]?.attributes.med, 10);

  router.clear();
  speaker.setRoutes([{ prefix: prefix('10.96.0.11/32') }]);
  await flush();
  assert.deepEqual(withdrawn(router.updates()), ['10.96.0.10/32']);
  assert.deepEqual(announced(router.updates()), []);

  router.clear();
  speaker.setRoutes([{ prefix: prefix('10.96.0.11/32') }]);
  await flush();
  assert.equal(router.updates().length, 0, 'the same set again sends nothing');
  assert.equal(speaker.peers()[0]?.routesAdvertised, 1);
  await speaker.stop();
});

test('a burst of setRoutes calls in one tick is coalesced into one diff, grouped by attributes', async () => {
  const { clock, router, speaker } = await lab();
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  router.clear();
  speaker.setRoutes([{ prefix: prefix('10.96.0.1/32') }]);
  speaker.setRoutes([{ prefix: prefix('10.96.0.1/32') }, { prefix: prefix('10.96.0.2/32') }]);
  speaker.setRoutes([{ prefix: prefix('10.96.0.1/32') }, { prefix: prefix('10.96.0.2/32') }, { prefix: prefix('10.96.0.3/32'), med: 5 }]);
  await flush();
  const updates = router.updates();
  assert.equal(updates.length, 2, 'one UPDATE per attribute set');
  assert.deepEqual(updates.map((u) => announced([u])), [['10.96.0.1/32', '10.96.0.2/32'], ['10.96.0.3/32']]);
  await speaker.stop();
});

test('thousands of prefixes are packed into UPDATEs of at most 4096 bytes', async () => {
  const { clock, router, speaker } = await lab();
  const many = Array.from({ length: 3000 }, (_, i) => ({ prefix: prefix(`10.${(i >> 8) & 255}.${i & 255}.0/24`) }));
  speaker.setRoutes(many);
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const updates = router.updates().filter((u) => u.nlri.length > 0);
  assert.ok(updates.length >= 3, `${updates.length} UPDATEs`);
  for (const u of updates) assert.ok(encodeMessage(u, FOUR_OCTET).length <= MAX_MESSAGE_BYTES);
  assert.equal(announced(updates).length, 3000);
  router.clear();
  speaker.setRoutes([]);
  await flush();
  assert.equal(withdrawn(router.updates()).length, 3000);
  await speaker.stop();
});

test('eBGP gets our AS (prepended as asked), the local address as next hop, communities; no LOCAL_PREF', async () => {
  const { clock, router, speaker } = await lab();
  speaker.setRoutes([
    {
      prefix: prefix('10.96.0.10/32'),
      med: 20,
      localPref: 300,
      asPathPrepend: 2,
      communities: [64512 * 65536 + 100, 0xffffff01],
      largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
    },
  ]);
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const [u] = router.updates();
  assert.deepEqual(u?.attributes, {
    origin: 'igp',
    asPath: [{ type: 'sequence', asns: [64512, 64512, 64512] }],
    nextHop: '10.240.0.20',
    med: 20,
    communities: [64512 * 65536 + 100, 0xffffff01],
    largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
  });
  await speaker.stop();
});

test('iBGP gets an empty AS_PATH and LOCAL_PREF (100 unless set)', async () => {
  const { clock, router, speaker } = await lab({ asn: 4200000001, peers: [{ address: '10.240.0.2', asn: 4200000001, holdTimeS: 3 }] });
  speaker.setRoutes([{ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('10.96.0.11/32'), localPref: 200 }]);
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const byPrefix = new Map(router.updates().flatMap((u) => u.nlri.map((p) => [p.address, u.attributes] as const)));
  assert.deepEqual(byPrefix.get('10.96.0.10')?.asPath, []);
  assert.equal(byPrefix.get('10.96.0.10')?.localPref, 100);
  assert.equal(byPrefix.get('10.96.0.11')?.localPref, 200);
  assert.equal(speaker.peers()[0]?.type, 'ibgp');
  await speaker.stop();
});

test('an IPv6 session announces IPv6 in MP_REACH_NLRI via its own address, and IPv4 via nextHopIpv4 with AFI 1', async () => {
  const { clock, router, speaker } = await lab({
    peers: [{ address: 'fd00:240::2', asn: 4200000001, holdTimeS: 3, families: ['ipv6-unicast', 'ipv4-unicast'], nextHopIpv4: '10.240.0.20' }],
  });
  speaker.setRoutes([{ prefix: prefix('fd00:96::10/128') }, { prefix: prefix('10.96.0.10/32') }]);
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker, 'fd00:240::2') === 'Established', 1000));
  const reaches = router.updates().flatMap((u) => (u.attributes.mpReach === undefined ? [] : [u.attributes.mpReach]));
  assert.deepEqual(
    reaches.map((r) => [r.afi, r.nextHops, r.nlri.map((p) => `${p.address}/${p.length}`)]).sort(),
    [
      [AFI_IPV4, ['10.240.0.20'], ['10.96.0.10/32']],
      [AFI_IPV6, ['fd00:240::20'], ['fd00:96::10/128']],
    ],
  );
  for (const u of router.updates()) assert.equal(u.nlri.length, 0, 'nothing in the classic NLRI field');
  // Withdrawal goes the same way it was announced.
  router.clear();
  speaker.setRoutes([]);
  await flush();
  const unreach = router.updates().flatMap((u) => (u.attributes.mpUnreach === undefined ? [] : [u.attributes.mpUnreach]));
  assert.deepEqual(unreach.map((r) => r.afi).sort(), [AFI_IPV4, AFI_IPV6]);
  await speaker.stop();
});

test('restarting with graceful restart: R and F bits, routes before End-of-RIB, End-of-RIB only after markInitialRoutesLoaded', async () => {
  const { clock, router, speaker } = await lab({ gracefulRestart: { enabled: true, restartTimeS: 30 }, restarting: true });
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const gr = router.opens()[0]?.capabilities.find((c): c is Extract<Capability, { kind: 'graceful-restart' }> => c.kind === 'graceful-restart');
  assert.deepEqual(gr, { kind: 'graceful-restart', restarting: true, notification: false, restartTimeS: 30, families: [{ afi: AFI_IPV4, safi: SAFI_UNICAST, forwardingPreserved: true }] });
  await clock.advance(5000);
  assert.equal(router.updates().length, 0, 'no End-of-RIB yet');
  speaker.setRoutes([{ prefix: prefix('10.96.0.10/32') }]);
  speaker.markInitialRoutesLoaded();
  await flush();
  const updates = router.updates();
  assert.deepEqual(announced(updates), ['10.96.0.10/32']);
  assert.deepEqual(updates[updates.length - 1], { type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 'End-of-RIB comes last');
  assert.equal(speaker.peers()[0]?.families[0]?.endOfRibSent, true);
  await speaker.stop();
});

test('restarting: End-of-RIB goes at initialRoutesTimeoutS if the routes are never marked loaded', async () => {
  const { clock, router, speaker } = await lab({ gracefulRestart: { enabled: true, initialRoutesTimeoutS: 10 }, restarting: true });
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  await clock.advance(9000);
  assert.equal(router.updates().length, 0);
  await clock.advance(1500);
  assert.equal(router.updates().length, 1, 'End-of-RIB');
  await speaker.stop();
});

test('not restarting: graceful restart is advertised without R and F, and End-of-RIB follows the initial routes', async () => {
  const { clock, router, speaker } = await lab({ gracefulRestart: { enabled: true } });
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const gr = router.opens()[0]?.capabilities.find((c) => c.kind === 'graceful-restart');
  assert.deepEqual(gr, { kind: 'graceful-restart', restarting: false, notification: false, restartTimeS: 30, families: [{ afi: AFI_IPV4, safi: SAFI_UNICAST, forwardingPreserved: false }] });
  assert.equal(router.updates().length, 1, 'End-of-RIB at once');
  await speaker.stop();
});

test('stop() sends Cease/Administrative Shutdown; stop({ preserveForwarding }) closes without a NOTIFICATION', async () => {
  {
    const { clock, router, speaker } = await lab();
    await speaker.start();
    assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
    await speaker.stop();
    assert.deepEqual(router.notifications().map((n) => [n.code, n.subcode]), [[6, 2]]);
    assert.ok(router.closed.has(0));
    assert.equal(state(speaker), 'Idle');
  }
  {
    const { clock, router, speaker } = await lab({ gracefulRestart: { enabled: true } });
    await speaker.start();
    assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
    await speaker.stop({ preserveForwarding: true });
    assert.equal(router.notifications().length, 0);
    assert.ok(router.closed.has(0), 'the connection closed');
  }
});

test('setPeers adds, removes and restarts only the peers that changed', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const r1 = new ScriptedPeer(net, '10.240.0.2', { asn: 65001, bgpId: '10.240.0.2', holdTimeS: 3 });
  const r2 = new ScriptedPeer(net, '10.240.0.3', { asn: 65002, bgpId: '10.240.0.3', holdTimeS: 3 });
  const r3 = new ScriptedPeer(net, '10.240.0.4', { asn: 65003, bgpId: '10.240.0.4', holdTimeS: 3 });
  await Promise.all([r1.listen(), r2.listen(), r3.listen()]);
  const peer1 = { address: '10.240.0.2', asn: 65001, holdTimeS: 3 };
  const peer2 = { address: '10.240.0.3', asn: 65002, holdTimeS: 3 };
  const speaker = createBgpSpeaker({ asn: 64512, routerId: '10.240.0.20', peers: [peer1, peer2] }, { logger: testLogger(), transport: net.host('10.240.0.20'), clock, random: () => 1 });
  await speaker.start();
  assert.ok(await clock.until(() => speaker.peers().every((p) => p.state === 'Established'), 1000));

  assert.throws(() => speaker.setPeers([peer1, { ...peer2, asn: -1 }]), (e: unknown) => e instanceof BgpError && e.code === 'E_BGP_CONFIG' && /peers\[1\]\.asn/.test(e.message));
  speaker.setPeers([peer1, { ...peer2, holdTimeS: 6 }, { address: '10.240.0.4', asn: 65003, holdTimeS: 3 }]);
  await clock.advance(0);
  assert.deepEqual(r2.notifications().map((n) => [n.code, n.subcode]), [[6, 6]], 'Cease/Other Configuration Change');
  assert.ok(await clock.until(() => speaker.peers().length === 3 && speaker.peers().every((p) => p.state === 'Established'), 5000));
  assert.equal(speaker.peers().find((p) => p.address === '10.240.0.2')?.establishedTransitions, 1, 'peer 1 untouched');
  assert.equal(r1.notifications().length, 0);
  assert.equal(r2.opens().at(-1)?.holdTimeS, 6);

  speaker.setPeers([peer1]);
  await clock.advance(0);
  assert.deepEqual(r3.notifications().map((n) => [n.code, n.subcode]), [[6, 3]], 'Cease/Peer De-configured');
  assert.deepEqual(speaker.peers().map((p) => p.address), ['10.240.0.2']);
  await speaker.stop();
});

test('bad routes are refused with the field named, and the previous set stays', async () => {
  const { clock, router, speaker } = await lab();
  speaker.setRoutes([{ prefix: prefix('10.96.0.10/32') }]);
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const bad = (routes: Parameters<BgpSpeaker['setRoutes']>[0], pattern: RegExp): void => {
    assert.throws(() => speaker.setRoutes(routes), (e: unknown) => e instanceof BgpError && e.code === 'E_BGP_CONFIG' && pattern.test(e.message), String(pattern));
  };
  bad([{ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('10.96.0.11/32'), med: -1 }], /routes\[1\]\.med/);
  bad([{ prefix: prefix('10.96.0.1/8') }], /routes\[0\]\.prefix.*host bits/);
  bad([{ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('10.96.0.10/32') }], /routes\[1\]\.prefix.*twice/);
  bad([{ prefix: prefix('10.96.0.10/32'), asPathPrepend: 100 }], /routes\[0\]\.asPathPrepend/);
  bad([{ prefix: prefix('10.96.0.10/32'), communities: [2 ** 32] }], /routes\[0\]\.communities\[0\]/);
  await flush();
  assert.equal(speaker.peers()[0]?.routesAdvertised, 1);
  assert.equal(withdrawn(router.updates()).length, 0);
  await speaker.stop();
});

test('a connection from an address that is not a peer is closed; a peer that connects to us is accepted', async () => {
  const { net, clock, router, speaker } = await lab({ peers: [{ address: '10.240.0.2', asn: 4200000001, holdTimeS: 3, passive: true }] });
  await speaker.start();
  const stranger = new ScriptedPeer(net, '10.240.0.99', { asn: 65099, bgpId: '10.240.0.99' });
  await stranger.connect('10.240.0.20');
  await clock.advance(0);
  assert.ok(stranger.closed.has(0));
  assert.equal(stranger.received.length, 0);
  await router.connect('10.240.0.20');
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  assert.equal(speaker.peers()[0]?.counters.connectionsAccepted, 1);
  await speaker.stop();
});

test('start() rejects with E_BGP_SOCKET when the port is taken', async () => {
  const net = createMemoryNetwork();
  const host = net.host('10.0.0.1');
  await host.listen({ port: 179 }, () => undefined);
  const speaker = createBgpSpeaker({ asn: 64512, routerId: '10.0.0.1', peers: [] }, { logger: testLogger(), transport: host, clock: new ManualClock() });
  await assert.rejects(speaker.start(), (e: unknown) => e instanceof BgpError && e.code === 'E_BGP_SOCKET');
});

test('a bad configuration throws E_BGP_CONFIG at creation, naming the field', () => {
  assert.throws(
    () => createBgpSpeaker({ asn: 64512, routerId: '10.0.0.1', peers: [{ address: '10.0.0.2', asn: 1 }, { address: '10.0.0.3', asn: 0 }] }, { logger: testLogger() }),
    (e: unknown) => e instanceof BgpError && e.code === 'E_BGP_CONFIG' && e.message.includes('peers[1].asn'),
  );
});

test('listen: false never binds, and every peer connects out', async () => {
  const { clock, speaker, net } = await lab({ listen: false });
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  const stranger = new ScriptedPeer(net, '10.240.0.99', { asn: 65099, bgpId: '10.240.0.99' });
  await assert.rejects(stranger.connect('10.240.0.20'), /ECONNREFUSED/);
  await speaker.stop();
});

test('link ids in logs are unique per speaker: one per TCP connection, across sessions and reconnects', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const r1 = new ScriptedPeer(net, '10.240.0.2', { asn: 65001, bgpId: '10.240.0.2', holdTimeS: 3 });
  const r2 = new ScriptedPeer(net, '10.240.0.3', { asn: 65002, bgpId: '10.240.0.3', holdTimeS: 3 });
  await Promise.all([r1.listen(), r2.listen()]);
  const { logger, lines } = capturingLogger();
  const speaker = createBgpSpeaker(
    { asn: 64512, routerId: '10.240.0.20', peers: [{ address: '10.240.0.2', asn: 65001, holdTimeS: 3, connectRetryS: 1 }, { address: '10.240.0.3', asn: 65002, holdTimeS: 3, connectRetryS: 1 }] },
    { logger, transport: net.host('10.240.0.20'), clock, random: () => 1 },
  );
  await speaker.start();
  assert.ok(await clock.until(() => speaker.peers().every((p) => p.state === 'Established'), 1000));
  r1.last?.destroy(); // r1's session restarts on a new connection
  assert.ok(await clock.until(() => speaker.peers()[0]?.establishedTransitions === 2, 10_000));
  const up = lines.filter((l) => l.msg === 'TCP connection up');
  assert.equal(up.length, 3, 'three connections');
  const ids = up.map((l) => l.link);
  assert.equal(new Set(ids).size, 3, `distinct link ids: ${JSON.stringify(ids)}`);
  // Every message of one connection carries its id, and only that peer's.
  for (const line of up) {
    const peerOf = new Set(lines.filter((l) => l.link === line.link).map((l) => l.peer));
    assert.deepEqual([...peerOf], [line.peer]);
  }
  await speaker.stop();
});

test('a transition to Established logs one info line, with the negotiated values', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const router = new ScriptedPeer(net, '10.240.0.2', { asn: 65001, bgpId: '10.240.0.2', holdTimeS: 3 });
  await router.listen();
  const { logger, lines } = capturingLogger();
  const speaker = createBgpSpeaker({ asn: 64512, routerId: '10.240.0.20', peers: [{ address: '10.240.0.2', asn: 65001, holdTimeS: 3, connectRetryS: 1 }] }, { logger, transport: net.host('10.240.0.20'), clock, random: () => 1 });
  await speaker.start();
  assert.ok(await clock.until(() => state(speaker) === 'Established', 1000));
  router.last?.destroy();
  assert.ok(await clock.until(() => speaker.peers()[0]?.establishedTransitions === 2, 10_000));
  const info = lines.filter((l) => l.level >= 30 && /Established/.test(l.msg));
  assert.deepEqual(info.map((l) => l.msg), ['BGP session Established', 'BGP session Established']);
  assert.equal(info[0]?.holdTimeS, 3);
  await speaker.stop();
});

test('a flood of connections from an address that is not a peer is closed and costs one info line per 10 s', async () => {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const { logger, lines } = capturingLogger();
  const speaker = createBgpSpeaker(
    { asn: 64512, routerId: '10.240.0.21', peers: [{ address: '10.240.0.2', asn: 4200000001, passive: true }] },
    { logger, transport: net.host('10.240.0.21'), clock, random: () => 1 },
  );
  await speaker.start();
  const stranger = new ScriptedPeer(net, '10.240.0.99', { asn: 65099, bgpId: '10.240.0.99' });
  for (let i = 0; i < 500; i++) await stranger.connect('10.240.0.21');
  await clock.advance(0);
  assert.equal(stranger.closed.size, 500, 'every one closed');
  assert.equal(stranger.received.length, 0, 'not even an OPEN');
  assert.equal(net.connections().filter((c) => c.remoteAddress === '10.240.0.21').length, 0, 'nothing left open');
  const strangerLines = (): LogLine[] => lines.filter((l) => l.level >= 30 && /not a configured peer/.test(l.msg));
  assert.equal(strangerLines().length, 1);
  await clock.advance(10_000);
  await stranger.connect('10.240.0.21');
  await clock.advance(0);
  assert.equal(strangerLines().length, 2);
  assert.equal(strangerLines()[1]?.moreSinceLastReport, 499);
  assert.equal(speaker.peers()[0]?.state, 'Active', 'the real peer\'s session is untouched');
  assert.equal(speaker.peers()[0]?.counters.connectionsRefused, 0);
  await speaker.stop();
});
