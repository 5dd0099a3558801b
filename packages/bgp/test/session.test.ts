import assert from 'node:assert/strict';
import { test } from 'node:test';

import { normalizeRoutes, type BgpRoute } from '../src/adj-rib-out.js';
import { bgpPeerConfig, type BgpPeerInit } from '../src/config.js';
import { createMemoryNetwork, type MemoryHost, type MemoryNetwork } from '../src/memory-transport.js';
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST, type Capability } from '../src/messages.js';
import { BgpSession, type BgpPeerStatus, type SessionGlobals } from '../src/session.js';
import { ManualClock, ScriptedPeer, announced, flush, prefix, testLogger } from './speaker-fakes.js';

const GLOBALS: SessionGlobals = { asn: 64512, routerId: '10.0.0.2', gracefulRestart: { enabled: false, restartTimeS: 30 }, restarting: false };

interface Setup {
  net: MemoryNetwork;
  clock: ManualClock;
  router: ScriptedPeer;
  host: MemoryHost;
  session: BgpSession;
  states: BgpPeerStatus[];
}

async function setup(opts: { peer?: Partial<BgpPeerInit>; router?: Partial<ConstructorParameters<typeof ScriptedPeer>[2]>; globals?: Partial<SessionGlobals>; routerAddress?: string; localAddress?: string } = {}): Promise<Setup> {
  const net = createMemoryNetwork();
  const clock = new ManualClock();
  const routerAddress = opts.routerAddress ?? '10.0.0.1';
  const router = new ScriptedPeer(net, routerAddress, { asn: 4200000001, bgpId: '10.0.0.1', holdTimeS: 3, ...opts.router });
  await router.listen();
  const host = net.host(opts.localAddress ?? '10.0.0.2');
  const states: BgpPeerStatus[] = [];
  const session = new BgpSession(
    bgpPeerConfig({ address: routerAddress, asn: 4200000001, holdTimeS: 9, connectRetryS: 1, connectRetryMaxS: 8, ...opts.peer }),
    { ...GLOBALS, ...opts.globals },
    { logger: testLogger(), transport: host, clock, random: () => 1, onStateChange: (s) => states.push(s) },
  );
  // The session's own listener: inbound connections go to it, as the speaker routes them.
  await host.listen({ port: 179 }, (c) => {
    session.acceptConnection(c);
  });
  return { net, clock, router, host, session, states };
}

function routes(...list: BgpRoute[]): ReadonlyMap<string, BgpRoute> {
  return normalizeRoutes(list);
}

test('a session reaches Established, sends OPEN with its capabilities, and End-of-RIB after the initial routes', async () => {
  const { clock, router, session, states } = await setup();
  session.setRoutes(routes({ prefix: prefix('10.96.0.10/32') }));
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));

  const [open] = router.opens();
  assert.ok(open);
  assert.equal(open.asn, 64512);
  assert.equal(open.bgpId, '10.0.0.2');
  assert.equal(open.holdTimeS, 9);
  assert.deepEqual(open.capabilities, [
    { kind: 'multiprotocol', afi: AFI_IPV4, safi: SAFI_UNICAST },
    { kind: 'route-refresh' },
    { kind: 'four-octet-as', asn: 64512 },
  ]);
  const updates = router.updates();
  assert.deepEqual(announced(updates), ['10.96.0.10/32']);
  const last = updates[updates.length - 1];
  assert.deepEqual(last, { type: 'update', withdrawn: [], attributes: {}, nlri: [] }, 'the last UPDATE is the IPv4 End-of-RIB');

  const status = session.status();
  assert.equal(status.state, 'Established');
  assert.equal(status.negotiated?.holdTimeS, 3);
  assert.equal(status.negotiated?.keepaliveS, 1);
  assert.deepEqual(status.negotiated?.families, ['ipv4-unicast']);
  assert.equal(status.negotiated?.fourOctetAs, true);
  assert.equal(status.localAddress, '10.0.0.2');
  assert.equal(status.routesAdvertised, 1);
  assert.deepEqual(status.families, [{ family: 'ipv4-unicast', negotiated: true, advertised: 1, endOfRibSent: true }]);
  assert.deepEqual(
    states.map((s) => s.state),
    ['Connect', 'OpenSent', 'OpenConfirm', 'Established'],
  );
  // Keepalives keep it up: 30 s of clock time with a 3 s hold time.
  await clock.advance(30_000);
  assert.equal(session.state, 'Established');
  assert.ok(session.status().counters.keepalivesOut >= 30);
  await session.stop();
});

test('a peer with the wrong AS gets OPEN/Bad Peer AS, and the session retries after its backoff', async () => {
  const { clock, router, session } = await setup({ router: { asn: 65099 } });
  session.start();
  await clock.advance(0);
  const [notification] = router.notifications();
  assert.ok(notification);
  assert.deepEqual([notification.code, notification.subcode], [2, 2]);
  const status = session.status();
  assert.equal(status.state, 'Idle');
  assert.equal(status.lastNotificationSent?.text, 'OPEN Message Error/Bad Peer AS');
  assert.match(status.lastError ?? '', /peer AS 65099/);
  assert.equal(router.connections.length, 1);
  // Backoff: the first attempt used 1 s, so the idle hold is 2 s.
  await clock.advance(1900);
  assert.equal(router.connections.length, 1, 'no retry before the backoff');
  await clock.advance(200);
  assert.equal(router.connections.length, 2, 'retried after the backoff');
  await session.stop();
});

test('an unacceptable hold time (1 s) is refused with OPEN/Unacceptable Hold Time', async () => {
  const { clock, router, session } = await setup({ router: { holdTimeS: 1 } });
  session.start();
  await clock.advance(0);
  assert.deepEqual(router.notifications().map((n) => [n.code, n.subcode]), [[2, 6]]);
  await session.stop();
});

test('a silently cut connection is caught by the hold timer; the session goes Idle and comes back', async () => {
  const { net, clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const before = router.connections.length;
  net.cut();
  const cutAt = clock.now();
  assert.ok(await clock.until(() => session.state !== 'Established', 10_000, 50));
  const elapsed = clock.now() - cutAt;
  assert.ok(elapsed >= 2000 && elapsed <= 3100, `hold timer (3 s) expired after ${elapsed} ms`);
  assert.equal(session.status().lastNotificationSent?.text, 'Hold Timer Expired');
  assert.equal(router.notifications().length, 0, 'the NOTIFICATION was lost in the cut');
  assert.ok(await clock.until(() => session.state === 'Established', 30_000));
  assert.ok(router.connections.length > before, 'a new connection');
  const status = session.status();
  assert.equal(status.flaps, 1);
  assert.equal(status.establishedTransitions, 2);
  await session.stop();
});

test('garbage after Established gets a NOTIFICATION, and the session comes back', async () => {
  const { clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const first = router.lastIndex;
  router.last?.write(new Uint8Array(40).fill(0x42));
  await clock.advance(0);
  assert.deepEqual(router.notifications(first).map((n) => [n.code, n.subcode]), [[1, 1]], 'Message Header Error/Connection Not Synchronized');
  assert.ok(router.closed.has(first));
  assert.notEqual(session.state, 'Established');
  assert.ok(await clock.until(() => session.state === 'Established', 30_000));
  assert.equal(session.status().lastNotificationSent?.text, 'Message Header Error/Connection Not Synchronized');
  await session.stop();
});

test('a malformed UPDATE is answered with its UPDATE Message Error', async () => {
  const { clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  // Withdrawn Routes Length 200 overruns the message: Malformed Attribute List (RFC 4271 6.3).
  const body = [0, 200, 0, 0];
  router.last?.write(Uint8Array.from([...new Array<number>(16).fill(0xff), 0, 19 + body.length, 2, ...body]));
  await clock.advance(0);
  assert.deepEqual(router.notifications().map((n) => [n.code, n.subcode]), [[3, 1]]);
  assert.ok(await clock.until(() => session.state === 'Established', 30_000));
  await session.stop();
});

test('ROUTE-REFRESH re-sends the whole Adj-RIB-Out of that family', async () => {
  const { clock, router, session } = await setup();
  session.setRoutes(routes({ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('10.96.0.11/32'), med: 10 }));
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  router.clear();
  router.send({ type: 'route-refresh', afi: AFI_IPV4, safi: SAFI_UNICAST, subtype: 0 });
  await clock.advance(0);
  assert.deepEqual(announced(router.updates()).sort(), ['10.96.0.10/32', '10.96.0.11/32']);
  // A family that was not negotiated is ignored (RFC 2918 4).
  router.clear();
  router.send({ type: 'route-refresh', afi: AFI_IPV6, safi: SAFI_UNICAST, subtype: 0 });
  await clock.advance(0);
  assert.equal(router.updates().length, 0);
  assert.equal(session.status().counters.routeRefreshesIn, 2);
  await session.stop();
});

test('a peer that sends no capabilities is IPv4 unicast only, with 2-octet AS numbers', async () => {
  const { clock, session } = await setup({ router: { asn: 65001, capabilities: [] }, peer: { asn: 65001, families: ['ipv4-unicast', 'ipv6-unicast'], nextHopIpv6: 'fd00:240::20' } });
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const status = session.status();
  assert.deepEqual(status.negotiated?.families, ['ipv4-unicast']);
  assert.equal(status.negotiated?.fourOctetAs, false);
  assert.equal(status.families.find((f) => f.family === 'ipv6-unicast')?.negotiated, false);
  await session.stop();
});

test('IPv6 over an IPv4 session is not announced without nextHopIpv6, and the status says why', async () => {
  const { clock, router, session } = await setup({ peer: { families: ['ipv4-unicast', 'ipv6-unicast'] } });
  session.setRoutes(routes({ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('fd00:96::10/128') }));
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  assert.deepEqual(announced(router.updates()), ['10.96.0.10/32']);
  for (const u of router.updates()) assert.equal(u.attributes.mpReach, undefined, 'no MP_REACH_NLRI at all');
  const v6 = session.status().families.find((f) => f.family === 'ipv6-unicast');
  assert.equal(v6?.negotiated, true);
  assert.equal(v6?.advertised, 0);
  assert.match(v6?.problem ?? '', /nextHopIpv6/);
  assert.equal(v6?.endOfRibSent, true, 'End-of-RIB still goes for a negotiated family');
  await session.stop();
});

test('IPv6 over an IPv4 session with nextHopIpv6 goes in MP_REACH_NLRI with that global next hop', async () => {
  const { clock, router, session } = await setup({ peer: { families: ['ipv4-unicast', 'ipv6-unicast'], nextHopIpv6: 'fd00:240::20' } });
  session.setRoutes(routes({ prefix: prefix('10.96.0.10/32') }, { prefix: prefix('fd00:96::10/128') }));
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const v6 = router.updates().find((u) => u.attributes.mpReach !== undefined);
  assert.deepEqual(v6?.attributes.mpReach, { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: ['fd00:240::20'], nlri: [prefix('fd00:96::10/128')] });
  const v4 = router.updates().find((u) => u.nlri.length > 0);
  assert.equal(v4?.attributes.nextHop, '10.0.0.2');
  await session.stop();
});

test('collision: with the higher BGP Identifier we keep our own connection and close theirs with Cease/Collision', async () => {
  const { clock, router, session } = await setup({ router: { bgpId: '10.0.0.1', autoAnswer: false } });
  session.start();
  await clock.advance(0);
  assert.equal(router.connections.length, 1, 'our connection (index 0)');
  const theirs = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.equal(router.opens(theirs).length, 1, 'the second connection got our OPEN too');
  router.sendOn(theirs, router.openMessage());
  await clock.advance(0);
  assert.deepEqual(router.notifications(theirs).map((n) => [n.code, n.subcode]), [[6, 7]]);
  router.sendOn(0, router.openMessage());
  router.sendOn(0, { type: 'keepalive' });
  await clock.advance(0);
  assert.equal(session.state, 'Established');
  assert.equal(router.notifications(0).length, 0);
  assert.equal(session.status().counters.collisions, 1);
  await session.stop();
});

test('collision: with the lower BGP Identifier the peer-initiated connection survives and becomes the session', async () => {
  const { clock, router, session } = await setup({ router: { bgpId: '10.0.0.3', autoAnswer: false } });
  session.start();
  await clock.advance(0);
  const theirs = await router.connect('10.0.0.2');
  await clock.advance(0);
  router.sendOn(theirs, router.openMessage());
  await clock.advance(0);
  assert.deepEqual(router.notifications(0).map((n) => [n.code, n.subcode]), [[6, 7]], 'ours is closed');
  assert.equal(router.notifications(theirs).length, 0);
  router.sendOn(theirs, { type: 'keepalive' });
  await clock.advance(0);
  assert.equal(session.state, 'Established');
  // It stays up on that connection and restarts by itself when it fails.
  router.autoAnswer = true;
  await clock.advance(20_000);
  assert.equal(session.state, 'Established');
  router.connections[theirs]?.destroy();
  await clock.advance(0);
  assert.ok(await clock.until(() => session.state === 'Established', 30_000), 'reconnected after the promoted connection failed');
  await session.stop();
});

test('a peer that restarted (graceful restart) replaces its stale Established session with the new connection', async () => {
  const gr: Capability = { kind: 'graceful-restart', restarting: false, notification: false, restartTimeS: 120, families: [{ afi: AFI_IPV4, safi: SAFI_UNICAST, forwardingPreserved: false }] };
  const caps = [...ScriptedPeer.defaultCapabilities(4200000001), gr];
  const { net, clock, router, session } = await setup({ router: { capabilities: caps } });
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  net.cut();
  const next = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.equal(session.state, 'Established');
  assert.ok(router.opens(next).length >= 1);
  assert.equal(router.notifications(next).length, 0);
  assert.equal(session.status().establishedTransitions, 2);
  await clock.advance(20_000);
  assert.equal(session.state, 'Established', 'the new connection carries the session');
  await session.stop();
});

test('without graceful restart, a new connection while Established is closed (RFC 4271 6.8)', async () => {
  const { clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const extra = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.deepEqual(router.notifications(extra).map((n) => [n.code, n.subcode]), [[6, 7]]);
  assert.equal(session.state, 'Established');
  assert.equal(session.status().establishedTransitions, 1);
  await session.stop();
});

test('a connect that hangs (SYNs lost) is abandoned when the ConnectRetryTimer expires, and retried', async () => {
  const { net, clock, session } = await setup();
  net.partition('10.0.0.1', '10.0.0.2');
  session.start();
  await clock.advance(0);
  assert.equal(session.state, 'Connect');
  assert.equal(session.status().counters.connectAttempts, 1);
  await clock.advance(1000);
  assert.equal(session.status().counters.connectAttempts, 2, 'retried at the ConnectRetryTimer (1 s)');
  await clock.advance(2000);
  assert.equal(session.status().counters.connectAttempts, 3, 'then after 2 s (backoff)');
  net.heal();
  assert.ok(await clock.until(() => session.state === 'Established', 10_000));
  await session.stop();
});

test('a passive peer never connects and waits for the router', async () => {
  const { clock, router, session } = await setup({ peer: { passive: true } });
  session.start();
  await clock.advance(60_000);
  assert.equal(router.connections.length, 0);
  assert.equal(session.state, 'Active');
  await router.connect('10.0.0.2');
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  await session.stop();
  await flush();
});
