import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createMemoryAnnouncer, createMemoryVipAddresses, createOwnershipController, type Candidate, type MemoryAnnouncer, type MemoryVipAddresses, type OwnershipController } from '../src/index.js';

const logger = pino({ level: 'silent' });
const VIPS = ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15', 'fd00::10'];

interface Node {
  name: string;
  controller: OwnershipController;
  addresses: MemoryVipAddresses;
  announcer: MemoryAnnouncer;
}

/** Three nodes sharing one membership view, each with its own drivers. */
function cluster(names: string[], opts: { vips?: string[]; leftovers?: Record<string, string[]> } = {}): { nodes: Node[]; live: Set<string>; vips: Set<string>; held: () => Map<string, string[]>; settle: () => Promise<void> } {
  const live = new Set(names);
  const vips = new Set(opts.vips ?? VIPS);
  const nodes = names.map((name) => {
    const addresses = createMemoryVipAddresses('eth0', opts.leftovers?.[name] ?? []);
    const announcer = createMemoryAnnouncer();
    // Each node sees the members its side of any partition sees: here, everyone in `live` if it is live.
    const controller = createOwnershipController({
      self: name,
      logger,
      addresses,
      announcer,
      reannounceIntervalMs: 0,
      claimDelayMs: 0,
      inputs: {
        candidates: (): Candidate[] => (live.has(name) ? [...live].map((n) => ({ name: n, priority: 100, networks: ['10.0.0.0/24', 'fd00::/64'] })) : [{ name, priority: 100, networks: ['10.0.0.0/24', 'fd00::/64'] }]),
        quorum: () => ({ live: live.has(name) ? live.size : 1, clusterSize: names.length, quorum: 'majority' }),
        vips: () => vips,
      },
    });
    return { name, controller, addresses, announcer };
  });
  const held = (): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    for (const n of nodes) for (const h of n.controller.status().held) out.set(h.vip, [...(out.get(h.vip) ?? []), n.name]);
    return out;
  };
  const settle = async (): Promise<void> => {
    for (const n of nodes) await n.controller.settled();
  };
  return { nodes, live, vips, held, settle };
}

test('each VIP is held by exactly one node and announced once when claimed', async () => {
  const c = cluster(['a', 'b', 'c']);
  for (const n of c.nodes) n.controller.start();
  await c.settle();
  const held = c.held();
  assert.equal(held.size, VIPS.length);
  for (const [vip, holders] of held) assert.equal(holders.length, 1, `${vip}: ${holders.join(',')}`);
  const announced = c.nodes.flatMap((n) => n.announcer.announced.map((a) => a.vip)).sort();
  assert.deepEqual(announced, [...VIPS].sort());
  for (const n of c.nodes) await n.controller.stop();
});

test("a dead node's VIPs move to the others, which announce them; the rest stay put", async () => {
  const c = cluster(['a', 'b', 'c']);
  for (const n of c.nodes) n.controller.start();
  await c.settle();
  const before = c.held();
  const [a, b] = c.nodes as [Node, Node, Node];
  c.live.delete('c');
  (c.nodes[2] as Node).controller.trigger('killed');
  await (c.nodes[2] as Node).controller.stop();
  for (const n of [a, b]) n.announcer.announced.length = 0;
  for (const n of [a, b]) n.controller.trigger('c is dead', { announceAll: false });
  await c.settle();
  const after = new Map<string, string>();
  for (const n of [a, b]) for (const h of n.controller.status().held) after.set(h.vip, n.name);
  assert.equal(after.size, VIPS.length, 'every VIP has a live holder');
  for (const [vip, holders] of before) {
    if (holders[0] !== 'c') assert.equal(after.get(vip), holders[0], `${vip} moved though its owner lives`);
  }
  const moved = [...before].filter(([, h]) => h[0] === 'c').map(([v]) => v).sort();
  assert.deepEqual([...a.announcer.announced, ...b.announcer.announced].map((x) => x.vip).sort(), moved, 'exactly the moved VIPs are announced');
  for (const n of [a, b]) await n.controller.stop();
});

test('a node that loses quorum releases every VIP; the majority side takes them over', async () => {
  const c = cluster(['a', 'b', 'c']);
  for (const n of c.nodes) n.controller.start();
  await c.settle();
  c.live.delete('c'); // c is cut off: it sees only itself, 1 of 3
  for (const n of c.nodes) n.controller.trigger('partition');
  await c.settle();
  const cNode = c.nodes[2] as Node;
  assert.deepEqual(cNode.controller.status().held, []);
  assert.equal(cNode.controller.status().quorum, false);
  const held = c.held();
  assert.equal(held.size, VIPS.length);
  for (const holders of held.values()) assert.ok(!holders.includes('c'));
  for (const n of c.nodes) await n.controller.stop();
});

test('a membership change re-announces everything held; a failed add is retried on the next pass', async () => {
  const c = cluster(['a'], { vips: ['10.0.0.10', '10.0.0.11'] });
  const a = c.nodes[0] as Node;
  a.addresses.failNextAdd('10.0.0.11');
  a.controller.start();
  await c.settle();
  assert.deepEqual(a.controller.status().held.map((h) => h.vip), ['10.0.0.10']);
  assert.match(a.controller.status().lastError ?? '', /10\.0\.0\.11/);
  a.announcer.announced.length = 0;
  a.controller.trigger('member joined', { announceAll: true });
  await c.settle();
  assert.deepEqual(a.controller.status().held.map((h) => h.vip), ['10.0.0.10', '10.0.0.11']);
  assert.deepEqual(a.announcer.announced.map((x) => x.vip).sort(), ['10.0.0.10', '10.0.0.11']);
  await a.controller.stop();
});

test('VIPs a previous run left are adopted when still ours and released when not', async () => {
  const c = cluster(['a'], { vips: ['10.0.0.10'], leftovers: { a: ['10.0.0.10', '10.0.0.99'] } });
  const a = c.nodes[0] as Node;
  a.controller.start();
  await c.settle();
  assert.deepEqual(a.controller.status().held.map((h) => h.vip), ['10.0.0.10']);
  assert.deepEqual(a.addresses.ops, ['remove 10.0.0.99'], 'the kept VIP is not re-added');
  await a.controller.releaseAll();
  assert.deepEqual(a.controller.status().held, []);
});

test('a node just started claims nothing while others are alive, until the claim delay is over; alone it claims at once', async () => {
  let clock = 1_000;
  const live = ['a', 'b'];
  const addresses = createMemoryVipAddresses();
  const controller = createOwnershipController({
    self: 'a',
    logger,
    addresses,
    announcer: createMemoryAnnouncer(),
    reannounceIntervalMs: 0,
    claimDelayMs: 60_000,
    now: () => clock,
    inputs: {
      candidates: () => live.map((n) => ({ name: n, priority: n === 'a' ? 200 : 100, networks: ['10.0.0.0/24'] })),
      quorum: () => ({ live: live.length, clusterSize: 2, quorum: 'majority' }),
      vips: () => ['10.0.0.10'],
    },
  });
  controller.start();
  await controller.settled();
  assert.deepEqual(controller.status().held, [], 'b may still hold it: a waits');
  clock += 60_001;
  controller.trigger('later');
  await controller.settled();
  assert.deepEqual(controller.status().held.map((h) => h.vip), ['10.0.0.10']);
  await controller.stop();

  const alone = createOwnershipController({
    self: 'a',
    logger,
    addresses: createMemoryVipAddresses(),
    announcer: createMemoryAnnouncer(),
    reannounceIntervalMs: 0,
    claimDelayMs: 60_000,
    inputs: { candidates: () => [{ name: 'a', priority: 100, networks: ['10.0.0.0/24'] }], quorum: () => ({ live: 1, clusterSize: 1, quorum: 'majority' }), vips: () => ['10.0.0.10'] },
  });
  alone.start();
  await alone.settled();
  assert.deepEqual(alone.status().held.map((h) => h.vip), ['10.0.0.10']);
  await alone.stop();
});

test('a VIP handed back to a restarted node is never on no node: the holder keeps it until the newcomer is ready (make-before-break)', async () => {
  let clock = 1_000;
  const vip = '10.0.0.10';
  // a is the VIP's preferred owner (priority); b holds it while a is away.
  const readyGossip = new Map<string, boolean>([['b', true]]);
  const live = new Set(['b', 'c']);
  const drivers = new Map(['a', 'b', 'c'].map((n) => [n, createMemoryVipAddresses()]));
  const controllers = new Map<string, OwnershipController>();
  const holdersSeen: number[] = [];
  const holders = async (): Promise<number> => {
    let n = 0;
    for (const [name, d] of drivers) if (live.has(name) && (await d.held()).has(vip)) n++;
    return n;
  };
  const make = (name: string): OwnershipController =>
    createOwnershipController({
      self: name,
      logger,
      addresses: drivers.get(name) ?? assert.fail(name),
      announcer: createMemoryAnnouncer(),
      reannounceIntervalMs: 0,
      claimDelayMs: 5_000,
      now: () => clock,
      // What gossip would carry: the flag each node last published.
      onReadyChange: (ready) => readyGossip.set(name, ready),
      inputs: {
        candidates: () => [...live].map((n) => ({ name: n, priority: n === 'a' ? 200 : 100, networks: ['10.0.0.0/24'], ready: readyGossip.get(n) ?? false })),
        quorum: () => ({ live: live.size, clusterSize: 3, quorum: 'majority' }),
        vips: () => [vip],
      },
    });
  const everyonePass = async (): Promise<void> => {
    for (const [name, c] of controllers) if (live.has(name)) c.trigger('gossip');
    for (const c of controllers.values()) await c.settled();
    holdersSeen.push(await holders());
  };
  for (const n of ['b', 'c']) {
    const c = make(n);
    controllers.set(n, c);
    c.start();
    await c.settled();
  }
  clock += 5_001;
  // Two rounds: each node hears the other's readiness flag one gossip round after it flips.
  await everyonePass();
  await everyonePass();
  assert.equal(await holders(), 1, `b (or c) holds the VIP while a is away: ${JSON.stringify([...controllers.values()].map((c) => c.status()))}`);
  const before = (await drivers.get('b')?.held())?.has(vip) === true ? 'b' : 'c';

  // a comes back: alive, not ready. Nobody gives it the VIP, it claims nothing.
  live.add('a');
  const a = make('a');
  controllers.set('a', a);
  a.start();
  await a.settled();
  await everyonePass();
  assert.equal(a.status().ready, false);
  assert.equal(a.status().owners[vip], before, 'a, not ready, is out of its own election too');
  assert.equal((await drivers.get(before)?.held())?.has(vip), true, 'the holder keeps the VIP');
  assert.equal(readyGossip.get('a'), undefined, 'nothing published yet');

  // a's delay ends: a claims first (make), then the holder hears the flag and releases (break).
  clock += 5_001;
  a.trigger('claim delay over');
  await a.settled();
  holdersSeen.push(await holders());
  assert.equal(readyGossip.get('a'), true, 'a publishes its readiness');
  assert.equal((await drivers.get('a')?.held())?.has(vip), true);
  await everyonePass();
  assert.equal((await drivers.get(before)?.held())?.has(vip), false, 'the old holder released it');
  assert.equal(await holders(), 1);
  assert.ok(!holdersSeen.includes(0), `the VIP was on no node at some step: ${holdersSeen.join(',')}`);
  for (const c of controllers.values()) await c.stop();
});

test('a node that loses quorum is not ready again until it has held a quorum for the claim delay', async () => {
  let clock = 1_000;
  let live = 2;
  const published: boolean[] = [];
  const controller = createOwnershipController({
    self: 'a',
    logger,
    addresses: createMemoryVipAddresses(),
    announcer: createMemoryAnnouncer(),
    reannounceIntervalMs: 0,
    claimDelayMs: 5_000,
    now: () => clock,
    onReadyChange: (r) => published.push(r),
    inputs: {
      candidates: () => (live === 2 ? ['a', 'b'] : ['a']).map((n) => ({ name: n, priority: n === 'a' ? 200 : 100, networks: ['10.0.0.0/24'] })),
      quorum: () => ({ live, clusterSize: 3, quorum: 'majority' }),
      vips: () => ['10.0.0.10'],
    },
  });
  controller.start();
  await controller.settled();
  clock += 5_001;
  controller.trigger('t');
  await controller.settled();
  assert.deepEqual(controller.status().held.map((h) => h.vip), ['10.0.0.10']);
  live = 1; // cut off
  controller.trigger('t');
  await controller.settled();
  assert.deepEqual(controller.status().held, []);
  assert.equal(controller.status().ready, false);
  live = 2; // healed: the others may still hold its VIPs until they see it alive
  clock += 100;
  controller.trigger('t');
  await controller.settled();
  assert.deepEqual(controller.status().held, [], 'healed but within the claim delay');
  clock += 5_000;
  controller.trigger('t');
  await controller.settled();
  assert.deepEqual(controller.status().held.map((h) => h.vip), ['10.0.0.10']);
  assert.deepEqual(published, [true, false, true]);
  await controller.stop();
});

test('a closed ready gate (BGP owner mode without a session) keeps a node from holding VIPs, and opening it lets the node claim', async () => {
  let gate = false;
  const published: boolean[] = [];
  const controller = createOwnershipController({
    self: 'a',
    logger,
    addresses: createMemoryVipAddresses(),
    announcer: createMemoryAnnouncer(),
    reannounceIntervalMs: 0,
    claimDelayMs: 0,
    readyGate: () => gate,
    onReadyChange: (r) => published.push(r),
    inputs: { candidates: () => [{ name: 'a', priority: 100, networks: ['10.0.0.0/24'] }], quorum: () => ({ live: 1, clusterSize: 1, quorum: 'majority' }), vips: () => ['10.0.0.10'] },
  });
  controller.start();
  await controller.settled();
  assert.deepEqual(controller.status().held, [], 'no session: nothing held');
  gate = true;
  controller.trigger('BGP session changed');
  await controller.settled();
  assert.deepEqual(controller.status().held.map((h) => h.vip), ['10.0.0.10']);
  gate = false;
  controller.trigger('BGP session changed');
  await controller.settled();
  assert.deepEqual(controller.status().held, [], 'sessions lost: released, so a node that can announce takes it');
  assert.deepEqual(published, [true, false]);
  await controller.stop();
});
