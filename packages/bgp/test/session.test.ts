import assert from 'node:assert/strict';
import { test } from 'node:test';

import { normalizeRoutes, type BgpRoute } from '../src/adj-rib-out.js';
import { bgpPeerConfig, type BgpPeerInit } from '../src/config.js';
import { createMemoryNetwork, type MemoryHost, type MemoryNetwork } from '../src/memory-transport.js';
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST, type Capability } from '../src/messages.js';
import { BgpSession, type BgpPeerStatus, type SessionGlobals } from '../src/session.js';
import { encodeMessage } from '../src/codec.js';
import { FOUR_OCTET, ManualClock, ScriptedPeer, announced, flush, prefix, testLogger } from './speaker-fakes.js';

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

/** The router ends the session the way a restarting BIRD/FRR does: Cease/Administrative Reset, then close. */
async function routerRestarts(router: ScriptedPeer, clock: ManualClock): Promise<void> {
  router.send({ type: 'notification', code: 6, subcode: 4, data: new Uint8Array(0) });
  router.last?.end();
  await clock.advance(0);
}

test('a peer that reconnects during our idle hold gets its session at once, without waiting for the timer', async () => {
  const { clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const attempts = session.status().counters.connectAttempts;
  await routerRestarts(router, clock);
  assert.equal(session.state, 'Idle', 'the idle hold (2 s here) is running');
  const at = clock.now();
  const index = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.equal(session.state, 'Established', 'Established on the peer\'s connection');
  assert.equal(clock.now(), at, 'no clock time passed: the idle hold was not waited out');
  assert.equal(router.opens(index).length, 1, 'our OPEN went out on their connection');
  const status = session.status();
  assert.equal(status.counters.connectAttempts, attempts, 'we did not connect ourselves');
  assert.equal(status.counters.connectionsAccepted, 1);
  assert.equal(status.establishedTransitions, 2);
  // The cancelled idle hold does not come back to start a second connection.
  await clock.advance(10_000);
  assert.equal(session.status().counters.connectAttempts, attempts);
  assert.equal(session.state, 'Established');
  await session.stop();
});

test('a peer that keeps failing gets no early accept: not after an error, and not twice within connectRetryS', async () => {
  const { clock, router, session } = await setup({ peer: { connectRetryS: 1, connectRetryMaxS: 8 } });
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));

  // 1. A protocol error: what the peer sends would fail again, so the backoff holds.
  router.last?.write(new Uint8Array(19).fill(0x42));
  await clock.advance(0);
  assert.deepEqual(router.notifications(router.lastIndex).map((n) => [n.code, n.subcode]), [[1, 1]]);
  assert.equal(session.state, 'Idle');
  const refused = session.status().counters.connectionsRefused;
  const bad = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.ok(router.closed.has(bad), 'refused during the idle hold');
  assert.equal(session.status().counters.connectionsRefused, refused + 1);
  assert.ok(await clock.until(() => session.state === 'Established', 10_000), 'back after the idle hold, by our own connect');

  // 2. Two clean ends within connectRetryS (1 s): only the first reconnect is taken at once.
  await clock.advance(2000);
  await routerRestarts(router, clock);
  await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.equal(session.state, 'Established', 'the first early accept');
  await clock.advance(500);
  await routerRestarts(router, clock);
  const second = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.ok(router.closed.has(second), 'the second within 1 s is refused');
  assert.equal(session.state, 'Idle');
  assert.ok(await clock.until(() => session.state === 'Established', 10_000), 'the idle hold still brings it back');
  await session.stop();
});

test('collision handling after an early accept: of two connections from the peer the older stays, and a new one against Established is closed', async () => {
  const { clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  await routerRestarts(router, clock);
  router.autoAnswer = false;
  const a = await router.connect('10.0.0.2');
  const b = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.equal(router.opens(a).length, 1, 'taken during the idle hold');
  assert.equal(router.opens(b).length, 1, 'the second is the collision candidate');
  // The newer connection shows its OPEN first: same direction, so the older one stays (RFC 4271 6.8).
  router.sendOn(b, router.openMessage());
  await clock.advance(0);
  assert.deepEqual(router.notifications(b).map((n) => [n.code, n.subcode]), [[6, 7]]);
  router.sendOn(a, router.openMessage());
  router.sendOn(a, { type: 'keepalive' });
  await clock.advance(0);
  assert.equal(session.state, 'Established');
  assert.equal(router.notifications(a).length, 0);
  const c = await router.connect('10.0.0.2');
  router.sendOn(c, router.openMessage());
  await clock.advance(0);
  assert.deepEqual(router.notifications(c).map((n) => [n.code, n.subcode]), [[6, 7]], 'a collision with Established closes the new one');
  assert.equal(session.state, 'Established');
  assert.equal(session.status().counters.collisions, 2);
  await session.stop();
});

// ---- a hostile peer ---------------------------------------------------------------------------

test('a peer that trickles bytes and never completes its OPEN is dropped at the large Hold Timer (240 s); a third connection is refused', async () => {
  const { clock, router, session } = await setup({ peer: { passive: true }, router: { autoAnswer: false } });
  session.start();
  const first = await router.connect('10.0.0.2');
  const second = await router.connect('10.0.0.2');
  const third = await router.connect('10.0.0.2');
  await clock.advance(0);
  assert.ok(router.closed.has(third), 'never more than two connections per peer');
  assert.ok(!router.closed.has(first) && !router.closed.has(second));
  // A well-formed OPEN, one byte every 10 s: 23 bytes (the header and a little) in 230 s.
  const open = encodeMessage(router.openMessage(), FOUR_OCTET);
  for (let i = 0; i < 23; i++) {
    router.connections[first]?.write(open.subarray(i, i + 1));
    router.connections[second]?.write(open.subarray(i, i + 1));
    await clock.advance(10_000);
  }
  assert.ok(!router.closed.has(first) && !router.closed.has(second), 'still waiting at 230 s');
  await clock.advance(10_000);
  assert.ok(router.closed.has(first) && router.closed.has(second), 'both dropped at 240 s');
  assert.deepEqual(session.status().lastNotificationSent?.text, 'Hold Timer Expired');
  await session.stop();
});

test('a peer that proposes Hold Time 0 and never sends its KEEPALIVE cannot park the session in OpenConfirm', async () => {
  const { clock, router, session } = await setup({ peer: { passive: true }, router: { autoAnswer: false, holdTimeS: 0 } });
  session.start();
  const index = await router.connect('10.0.0.2');
  router.sendOn(index, router.openMessage());
  await clock.advance(0);
  assert.equal(session.state, 'OpenConfirm');
  await clock.advance(239_000);
  assert.equal(session.state, 'OpenConfirm');
  await clock.advance(1000);
  assert.ok(router.closed.has(index));
  assert.deepEqual(router.notifications(index).map((n) => [n.code, n.subcode]), [[4, 0]]);
  // A peer that does complete with Hold Time 0 keeps its session (no Hold Timer in Established).
  const good = await router.connect('10.0.0.2');
  router.autoAnswer = true;
  router.sendOn(good, router.openMessage());
  await clock.advance(0);
  router.sendOn(good, { type: 'keepalive' });
  assert.ok(await clock.until(() => session.state === 'Established', 5000));
  await clock.advance(600_000);
  assert.equal(session.state, 'Established');
  await session.stop();
});

test('a ROUTE-REFRESH flood costs one re-send of the Adj-RIB-Out per family per second', async () => {
  const { clock, router, session } = await setup();
  const many = Array.from({ length: 2000 }, (_, i) => ({ prefix: prefix(`10.${(i >> 8) & 255}.${i & 255}.0/24`) }));
  session.setRoutes(routes(...many));
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  router.clear();
  const request = { type: 'route-refresh', afi: AFI_IPV4, safi: SAFI_UNICAST, subtype: 0 } as const;
  for (let i = 0; i < 500; i++) router.send(request);
  await clock.advance(0);
  assert.equal(announced(router.updates()).length, 2000, 'the first request is answered at once, the rest wait');
  await clock.advance(1000);
  assert.equal(announced(router.updates()).length, 4000, 'one coalesced re-send at the end of the interval');
  await clock.advance(10_000);
  assert.equal(announced(router.updates()).length, 4000, 'and nothing more');
  assert.equal(session.status().counters.routeRefreshesIn, 500);
  await session.stop();
});

test('a flood of UPDATEs is read and dropped: the session stays up and answers nothing', async () => {
  const { clock, router, session } = await setup();
  session.start();
  assert.ok(await clock.until(() => session.state === 'Established', 1000));
  const out = session.status().counters.messagesOut;
  const update = {
    type: 'update',
    withdrawn: [],
    attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [4200000001] }], nextHop: '10.0.0.1' },
    nlri: Array.from({ length: 500 }, (_, i) => prefix(`172.${16 + (i >> 8)}.${i & 255}.0/24`)),
  } as const;
  for (let i = 0; i < 10_000; i++) router.send(update);
  await clock.advance(0);
  const status = session.status();
  assert.equal(status.state, 'Established');
  assert.equal(status.counters.updatesIn, 10_000);
  assert.equal(status.counters.messagesOut, out, 'no answer to any of them');
  assert.equal(status.routesAdvertised, 0);
  await session.stop();
});
