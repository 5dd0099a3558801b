// The L2 announcer's burst (frames, order, spacing, failures, close) over a recording socket,
// and the shared Announcer behaviour run against both the real announcer and the memory fake.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import {
  AnnounceError,
  ETH_P_ARP,
  ETH_P_IPV6,
  createL2Announcer,
  createMemoryAnnouncer,
  parseArp,
  parseNeighborAdvertisement,
  type Announcer,
} from '../src/index.js';
import { announcerTests } from './compliance.js';
import { linkTable, recordingSocket } from './fakes.js';

const logger = pino({ level: 'silent' });
const LINKS = { eth0: { ifindex: 3, mac: '02:15:00:00:00:03' } };

announcerTests('L2 announcer', (links, config) => createL2Announcer({ logger, config, socket: recordingSocket(), links: linkTable(links) }));
announcerTests('memory announcer', (links, config) => createMemoryAnnouncer({ config, links }));

const failsWith = (code: string, pattern?: RegExp) => (e: unknown) => e instanceof AnnounceError && e.code === code && (pattern === undefined || pattern.test(e.message));

test('an IPv4 burst is repeat rounds of request then reply, every frame a valid gratuitous ARP out of the interface', async () => {
  const socket = recordingSocket();
  const a = createL2Announcer({ logger, socket, links: linkTable(LINKS), config: { intervalMs: 1 } });
  const r = await a.announce('10.215.0.10', 'eth0');
  assert.equal(r.frames, 6);
  assert.deepEqual(socket.sent.map((s) => [s.ifindex, s.ethertype]), Array.from({ length: 6 }, () => [3, ETH_P_ARP]));
  const arps = socket.sent.map((s) => parseArp(s.frame));
  assert.deepEqual(arps.map((f) => f.op), ['request', 'reply', 'request', 'reply', 'request', 'reply']);
  for (const f of arps) {
    assert.deepEqual([f.destination, f.source, f.senderMac, f.senderIp, f.targetIp, f.gratuitous], ['ff:ff:ff:ff:ff:ff', '02:15:00:00:00:03', '02:15:00:00:00:03', '10.215.0.10', '10.215.0.10', true]);
  }
  a.close();
  assert.equal(socket.closed, false, 'an injected socket belongs to the caller');
});

test('an IPv6 burst is repeat unsolicited NAs with Override from the VIP', async () => {
  const socket = recordingSocket();
  const a = createL2Announcer({ logger, socket, links: linkTable(LINKS), config: { intervalMs: 1 } });
  const r = await a.announce('fd00:215:0:0::10', 'eth0');
  assert.deepEqual([r.family, r.frames], [6, 3]);
  for (const s of socket.sent) {
    assert.equal(s.ethertype, ETH_P_IPV6);
    const na = parseNeighborAdvertisement(s.frame);
    assert.deepEqual([na.sourceIp, na.target, na.override, na.solicited, na.targetLinkLayerAddress], ['fd00:215::10', 'fd00:215::10', true, false, '02:15:00:00:00:03']);
  }
  a.close();
});

test('rounds are intervalMs apart and the first goes out at once', async () => {
  const socket = recordingSocket();
  const a = createL2Announcer({ logger, socket, links: linkTable(LINKS), config: { repeat: 3, intervalMs: 30 } });
  const started = performance.now();
  await a.announce('10.215.0.10', 'eth0');
  const at = socket.sent.map((s) => s.atMs);
  assert.equal(at.length, 6);
  assert.ok((at[0] ?? Infinity) - started < 25, `first frame after ${(at[0] ?? 0) - started} ms`);
  // Within a round back to back; between rounds at least the interval (timers never fire
  // early by more than clock rounding).
  for (const [i, j] of [[1, 2], [3, 4]] as const) assert.ok((at[j] ?? 0) - (at[i] ?? 0) >= 29, `gap ${i}->${j}: ${(at[j] ?? 0) - (at[i] ?? 0)} ms`);
  a.close();
});

test('arpOps picks the ARP forms and their order', async () => {
  const socket = recordingSocket();
  const a = createL2Announcer({ logger, socket, links: linkTable(LINKS), config: { repeat: 2, intervalMs: 0, arpOps: ['reply'] } });
  const r = await a.announce('10.215.0.10', 'eth0');
  assert.equal(r.frames, 2);
  assert.deepEqual(socket.sent.map((s) => parseArp(s.frame).op), ['reply', 'reply']);
  a.close();
});

test('a failed send ends the burst and the caller gets that error', async () => {
  const socket = recordingSocket();
  const a = createL2Announcer({ logger, socket, links: linkTable(LINKS), config: { intervalMs: 0 } });
  socket.failSend(2, new AnnounceError('E_ANNOUNCE_SEND', 'sendto: Network is down (ENETDOWN)', { errno: 'ENETDOWN' }));
  await assert.rejects(a.announce('10.215.0.10', 'eth0'), failsWith('E_ANNOUNCE_SEND', /ENETDOWN/));
  assert.equal(socket.sent.length, 2, 'nothing after the failure');
  const again = await a.announce('10.215.0.10', 'eth0');
  assert.equal(again.frames, 6, 'the next burst starts afresh');
  a.close();
});

test('close() during a burst stops it: E_ANNOUNCE_CLOSED and no frame after the close', async () => {
  const socket = recordingSocket();
  const a: Announcer = createL2Announcer({ logger, socket, links: linkTable(LINKS), config: { repeat: 5, intervalMs: 1000 } });
  socket.onSend = () => {
    if (socket.sent.length === 2) setImmediate(() => a.close());
  };
  const started = performance.now();
  await assert.rejects(a.announce('10.215.0.10', 'eth0'), failsWith('E_ANNOUNCE_CLOSED'));
  assert.ok(performance.now() - started < 500, 'the pause between rounds was cut short');
  assert.equal(socket.sent.length, 2);
});

test('a link lookup that throws something other than an AnnounceError becomes E_ANNOUNCE_LINK with the cause kept', async () => {
  const cause = new Error('netlink: socket closed');
  const a = createL2Announcer({ logger, socket: recordingSocket(), links: () => Promise.reject(cause) });
  await assert.rejects(a.announce('10.215.0.10', 'eth0'), (e: unknown) => e instanceof AnnounceError && e.code === 'E_ANNOUNCE_LINK' && e.cause === cause && /netlink: socket closed/.test(e.message));
  a.close();
});

test('a bad MAC from the link lookup is E_ANNOUNCE_ADDRESS, before any frame', async () => {
  const socket = recordingSocket();
  const a = createL2Announcer({ logger, socket, links: () => Promise.resolve({ ifindex: 3, mac: '02:15' }) });
  await assert.rejects(a.announce('10.215.0.10', 'eth0'), failsWith('E_ANNOUNCE_ADDRESS', /not a MAC/));
  assert.equal(socket.sent.length, 0);
  a.close();
});

test('a bad configuration fails at creation with E_ANNOUNCE_CONFIG', () => {
  assert.throws(() => createL2Announcer({ logger, socket: recordingSocket(), links: linkTable(LINKS), config: { repeat: 0 } }), failsWith('E_ANNOUNCE_CONFIG', /repeat/));
});

test('the memory announcer records calls, outcomes included, and fails once on demand', async () => {
  const a = createMemoryAnnouncer();
  await a.announce('10.215.0.10', 'eth0');
  a.failNext(new AnnounceError('E_ANNOUNCE_SEND', 'injected'));
  await assert.rejects(a.announce('10.215.0.11', 'eth0'), failsWith('E_ANNOUNCE_SEND', /injected/));
  await a.announce('fd00:215::10', 'eth1');
  assert.deepEqual(a.calls.map((c) => [c.vip, c.ifname, c.outcome.ok]), [
    ['10.215.0.10', 'eth0', true],
    ['10.215.0.11', 'eth0', false],
    ['fd00:215::10', 'eth1', true],
  ]);
  assert.deepEqual(a.announced(), ['10.215.0.10', 'fd00:215::10']);
  assert.deepEqual(a.announced('eth0'), ['10.215.0.10']);
  assert.equal(a.closed, false);
  a.close();
  assert.equal(a.closed, true);
});
