import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryNetwork, createSwim, Keyring, SwimError, swimConfig, type Member, type SwimInit } from '../src/index.js';
import { encodeMessage, encodeCompound, freezeMeta, type Message } from '../src/codec.js';
import { seededRandom, randomInt } from '../src/random.js';
import { parseSeed, pushPullScale } from '../src/swim.js';
import { newBootId, seal } from '../src/security.js';
import { Cluster, ManualClock, TEST_KEY, testLogger } from './fakes.js';

function init(overrides: Partial<SwimInit> = {}): SwimInit {
  const clock = new ManualClock();
  const net = createMemoryNetwork({ clock });
  return { name: 'n1', config: swimConfig('lan'), keyring: new Keyring(TEST_KEY), logger: testLogger(), transport: net.transport('10.0.0.1', 7946), clock, ...overrides };
}

const swimError = (code: string, message?: RegExp) => (e: unknown) => e instanceof SwimError && e.code === code && (message === undefined || message.test(e.message));

test('createSwim refuses a bad name, address, metadata or config with typed errors', () => {
  assert.throws(() => createSwim(init({ name: '' })), swimError('E_CONFIG', /name/));
  assert.throws(() => createSwim(init({ name: 'x'.repeat(129) })), swimError('E_CONFIG', /name: longer than 128/));
  assert.throws(() => createSwim(init({ advertiseAddress: '0.0.0.0' })), swimError('E_CONFIG', /advertiseAddress: required/));
  assert.throws(() => createSwim(init({ advertiseAddress: 'host.example' })), swimError('E_CONFIG', /advertiseAddress/));
  assert.throws(() => createSwim(init({ advertisePort: 0 })), swimError('E_CONFIG', /advertisePort/));
  assert.throws(() => createSwim(init({ meta: { big: 'x'.repeat(600) } })), swimError('E_META_TOO_LARGE', /metaMaxBytes is 512/));
  assert.throws(() => createSwim(init({ meta: { n: 1 as unknown as string } })), swimError('E_CONFIG', /meta\.n: must be a string/));
  assert.throws(() => createSwim(init({ config: { ...swimConfig('lan'), gossipNodes: -1 } })), swimError('E_CONFIG', /gossipNodes/));
  assert.throws(() => createSwim(init({ keyring: null as unknown as Keyring })), swimError('E_CONFIG', /keyring/));
});

test('a lone member sees itself alive at incarnation 1 with its metadata', async () => {
  const i = init({ meta: { role: 'director' } });
  const swim = createSwim(i);
  const self = swim.member('n1');
  assert.deepEqual({ ...self }, { name: 'n1', address: '10.0.0.1', port: 7946, state: 'alive', incarnation: 1, meta: { role: 'director' }, stateChangedAtMs: 0 });
  assert.deepEqual(swim.members().map((m) => m.name), ['n1']);
  assert.equal(swim.member('nobody'), undefined);
  assert.equal(await swim.join([]), 0);
  assert.equal(await swim.join(['10.0.0.1:7946']), 0, 'our own address is skipped');
  await swim.leave();
  assert.equal(swim.member('n1')?.state, 'left', 'leave with nobody to tell returns at once');
  await swim.shutdown();
  await swim.shutdown();
});

test('join resolves with how many seeds answered, and rejects with E_JOIN only when none did', async () => {
  const c = new Cluster({ seed: 2 });
  await c.startAll(2);
  const newcomer = c.start(5);
  const answered = await c.clock.settle(newcomer.swim.join(['10.0.0.1:7946', '10.0.0.2:7946', '10.0.0.99:7946']));
  assert.equal(answered, 2);
  const loner = c.start(6);
  await assert.rejects(c.clock.settle(loner.swim.join(['10.0.0.98:7946', '10.0.0.99:7946'])), swimError('E_JOIN', /none of 2 seeds/));
  await assert.rejects(loner.swim.join(['no-port']), swimError('E_CONFIG', /seed "no-port"/));
  await assert.rejects(loner.swim.join(['10.0.0.1:70000']), swimError('E_CONFIG'));
  await loner.swim.shutdown();
  await assert.rejects(loner.swim.join(['10.0.0.1:7946']), swimError('E_SHUTDOWN'));
  await assert.rejects(loner.swim.leave(), swimError('E_SHUTDOWN'));
  assert.throws(() => { loner.swim.updateMeta({}); }, swimError('E_SHUTDOWN'));
  await c.shutdown();
});

test('off() stops a listener, and a listener that throws does not stop the others or the node', async () => {
  const c = new Cluster({ seed: 3 });
  c.start(0);
  const seen: string[] = [];
  const bad = () => { throw new Error('listener bug'); };
  const good = (m: Member) => seen.push(m.name);
  const removed = (m: Member) => seen.push(`removed saw ${m.name}`);
  c.node(0).swim.on('join', bad);
  c.node(0).swim.on('join', good);
  c.node(0).swim.on('join', removed);
  c.node(0).swim.off('join', removed);
  for (const i of [1, 2]) await c.clock.settle(c.start(i).swim.join(['10.0.0.1:7946']));
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 5000));
  assert.deepEqual(seen.sort(), ['node-1', 'node-2']);
  await c.shutdown();
});

test('updateMeta refuses metadata over the limit and changes nothing', async () => {
  const c = new Cluster({ seed: 4 });
  await c.startAll(2);
  const before = c.node(0).swim.member('node-0');
  assert.throws(() => { c.node(0).swim.updateMeta({ x: 'y'.repeat(1000) }); }, swimError('E_META_TOO_LARGE'));
  assert.deepEqual(c.node(0).swim.member('node-0'), before);
  await c.shutdown();
});

test('shutdown cancels every timer the members set', async () => {
  const c = new Cluster({ seed: 6 });
  await c.startAll(4);
  await c.clock.advance(5000);
  await c.shutdown();
  await c.clock.advance(100);
  assert.equal(c.clock.pending, 0);
});

test('stats count traffic, probes and drops', async () => {
  const c = new Cluster({ seed: 7 });
  await c.startAll(3);
  await c.clock.advance(10_000);
  const s = c.node(1).swim.stats();
  assert.ok(s.packetsSent > 10 && s.packetsReceived > 10 && s.bytesSent > 1000 && s.bytesReceived > 1000);
  assert.ok(s.probes >= 9 && s.streamsOpened >= 1);
  assert.deepEqual(s.dropped, { decrypt: 0, malformed: 0, replay: 0, tooLarge: 0 });
  assert.equal(s.healthScore, 0);
  assert.equal(s.probeFailures, 0);
  await c.shutdown();
});

test('a key-holding peer sending thousands of well-sealed but bogus messages cannot crash a member or stop it serving', async () => {
  const c = new Cluster({ seed: 31 });
  await c.startAll(4);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  const victim = c.node(1);
  const rogue = c.net.transport('10.0.0.66', 7946);
  const random = seededRandom(99);
  const bootId = newBootId();
  const names = ['node-0', 'node-1', 'node-2', 'node-3', 'ghost', 'x'.repeat(128), '__proto__', 'constructor'];
  const pick = <T>(xs: readonly T[]): T => xs[randomInt(random, xs.length)] as T;
  // Incarnations a member can still refute: one at 2^32 - 1 could never be beaten (a key holder
  // is trusted, as in memberlist; see the README's security notes).
  const inc = () => pick([0, 1, 2, randomInt(random, 20)]);
  const addr = () => pick(['10.0.0.1', '10.0.0.2', '10.0.0.77', '::1', '255.255.255.255']);
  const port = () => pick([1, 7946, 65535]);
  const bogus = (): Message => {
    switch (randomInt(random, 8)) {
      case 0: return { type: 'alive', incarnation: inc(), node: pick(names), address: addr(), port: port(), meta: freezeMeta([['k', 'v'.repeat(randomInt(random, 40))]]) };
      case 1: return { type: 'suspect', incarnation: inc(), node: pick(names), from: pick(names) };
      case 2: return { type: 'dead', incarnation: inc(), node: pick(names), from: pick(names) };
      case 3: return { type: 'ack', seq: randomInt(random, 2 ** 32) };
      case 4: return { type: 'nack', seq: randomInt(random, 2 ** 32) };
      case 5: return { type: 'ping', seq: randomInt(random, 2 ** 32), target: pick([...names, '']), sourceAddress: addr(), sourcePort: port(), sourceName: pick(names) };
      case 6: return { type: 'indirect-ping', seq: randomInt(random, 2 ** 32), target: pick(names), targetAddress: addr(), targetPort: port(), nack: random() < 0.5, sourceAddress: addr(), sourcePort: port(), sourceName: pick(names) };
      default: return { type: 'push-pull', join: false, members: [] };
    }
  };
  let seq = 0;
  for (let i = 0; i < 3000; i++) {
    const parts = Array.from({ length: 1 + randomInt(random, 4) }, () => encodeMessage(bogus()));
    const body = parts.length === 1 ? parts[0] ?? new Uint8Array() : encodeCompound(parts);
    rogue.sendPacket({ address: victim.address, port: victim.port }, seal(victim.keyring, 'packet', { sender: pick(['rogue', 'node-2']), bootId, seq: ++seq }, body));
    if (i % 100 === 0) await c.clock.advance(50);
  }
  await c.clock.advance(1000);
  assert.ok(victim.swim.stats().dropped.malformed > 0, 'push-pull in a packet is refused');
  // The victim is still a working member: it answers probes and a newcomer can join through it.
  const newcomer = c.start(7);
  assert.equal(await c.clock.settle(newcomer.swim.join([`${victim.address}:7946`])), 1);
  // Real members still converge once the rogue stops (its lies are refuted by their owners).
  const real = c.nodes;
  const settled = await c.clock.advanceUntil(() => real.every((a) => real.every((b) => a.swim.member(b.name)?.state === 'alive')), 60_000, 100);
  assert.ok(settled, JSON.stringify(real.map((a) => a.swim.members().map((m) => `${m.name}:${m.state}`))));
  await c.shutdown();
});

test('seeds are host:port or [v6]:port', () => {
  assert.deepEqual(parseSeed('10.0.0.1:7946'), { address: '10.0.0.1', port: 7946 });
  assert.deepEqual(parseSeed('[2001:db8::1]:7946'), { address: '2001:db8::1', port: 7946 });
  assert.deepEqual(parseSeed('node-a.internal:1'), { address: 'node-a.internal', port: 1 });
  for (const bad of ['10.0.0.1', '2001:db8::1:7946', ':7946', '10.0.0.1:0', '10.0.0.1:65536', '[::1]', '']) {
    assert.throws(() => parseSeed(bad), swimError('E_CONFIG'), bad);
  }
});

test('push-pull slows down as the cluster doubles past 32 members', () => {
  // memberlist util_test TestPushPullScale.
  for (let n = 0; n <= 32; n++) assert.equal(pushPullScale(1000, n), 1000);
  for (let n = 33; n <= 64; n++) assert.equal(pushPullScale(1000, n), 2000);
  for (let n = 65; n <= 128; n++) assert.equal(pushPullScale(1000, n), 3000);
});
