/**
 * Whole clusters on the in-memory network with a hand-driven clock and seeded randomness (like
 * yjs's seeded random network tests): minutes of protocol time in milliseconds, identical on
 * every run. Bounds are computed from the configuration, not tuned to what a run happened to do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, type SwimConfig } from '../src/index.js';
import { suspicionTimeoutMs } from '../src/suspicion.js';
import { Cluster, type TestNode } from './fakes.js';

/** Detection bound for a crashed member of an n-member cluster (see the test for the reasoning). */
function detectionBoundMs(cfg: SwimConfig, n: number): number {
  const maxSuspicion = cfg.suspicionMaxTimeoutMult * suspicionTimeoutMs(cfg.suspicionMult, n, cfg.probeIntervalMs);
  return n * cfg.probeIntervalMs + maxSuspicion + 2 * cfg.probeIntervalMs;
}

const eventsAbout = (node: TestNode, member: string) => node.events.filter((e) => e.member === member);

for (const [n, seeds] of [[5, [1, 2, 3]], [10, [1, 2]]] as const) {
  test(`${n} members joining through one seed all see each other alive, with no suspicion on the way (seeds ${seeds.join(',')})`, async () => {
    for (const seed of seeds) {
      const c = new Cluster({ seed });
      await c.startAll(n);
      const ok = await c.clock.advanceUntil(() => c.converged(), 10_000);
      assert.ok(ok, `seed ${seed}: not converged after 10 s: ${JSON.stringify(c.nodes.map((x) => x.swim.members().map((m) => `${m.name}:${m.state}`)))}`);
      // And it stays that way.
      await c.clock.advance(30_000);
      assert.ok(c.converged(), `seed ${seed}: diverged later`);
      for (const node of c.nodes) {
        assert.equal(node.swim.members().length, n);
        assert.deepEqual(node.events.filter((e) => e.event !== 'join'), [], `seed ${seed}: ${node.name} saw ${JSON.stringify(node.events)}`);
        assert.equal(node.events.length, n - 1, `${node.name} saw one join per other member`);
      }
      await c.shutdown();
    }
  });
}

for (const n of [5, 10]) {
  test(`a crashed member of ${n} is suspected and then declared dead by every other member within the detection bound`, async () => {
    const c = new Cluster({ seed: 11 });
    await c.startAll(n);
    assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
    await c.clock.advance(5_000);

    const victim = c.node(3);
    const killedAt = c.clock.now();
    await c.kill(3);
    const live = c.nodes.filter((x) => x !== victim);
    // Every live member probes the victim within one pass of its shuffled round-robin (n - 1
    // rounds, SWIM 4.3); the suspicion then runs at most the Lifeguard maximum, and less as
    // the others confirm it. Two more rounds cover gossip of the verdict.
    const bound = detectionBoundMs(c.config, n);
    const minSuspicion = suspicionTimeoutMs(c.config.suspicionMult, n, c.config.probeIntervalMs);
    const allDead = await c.clock.advanceUntil(() => live.every((x) => x.swim.member(victim.name)?.state === 'dead'), bound);
    assert.ok(allDead, `not dead everywhere within ${bound} ms: ${JSON.stringify(live.map((x) => x.swim.member(victim.name)?.state))}`);

    for (const node of live) {
      const about = eventsAbout(node, victim.name).filter((e) => e.at >= killedAt).map((e) => e.event);
      assert.deepEqual(about, ['suspect', 'dead'], `${node.name} saw ${JSON.stringify(about)}`);
      const dead = eventsAbout(node, victim.name).find((e) => e.event === 'dead');
      const suspect = eventsAbout(node, victim.name).find((e) => e.event === 'suspect');
      assert.ok(dead !== undefined && suspect !== undefined);
      // Nobody can be quicker than one probe round plus the minimum suspicion timeout.
      assert.ok(dead.at - killedAt >= minSuspicion, `${node.name} declared it dead after only ${dead.at - killedAt} ms`);
    }
    // With confirmations flowing, the verdict comes well before the Lifeguard maximum.
    const firstDead = Math.min(...live.map((x) => eventsAbout(x, victim.name).find((e) => e.event === 'dead')?.at ?? Infinity));
    assert.ok(firstDead - killedAt <= n * c.config.probeIntervalMs + 3 * minSuspicion, `first dead after ${firstDead - killedAt} ms`);
    // Only the victim.
    assert.deepEqual(c.deadEvents().filter((d) => d.e.member !== victim.name), []);
    assert.ok(c.converged(live));
    await c.shutdown();
  });
}

test('a live member that is suspected refutes: its incarnation rises and every suspicion ends in alive, not dead', async () => {
  const c = new Cluster({ seed: 5 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  const target = c.node(2);
  const before = target.swim.member(target.name)?.incarnation ?? 0;
  const others = c.nodes.filter((x) => x !== target);

  // Cut it off just until someone suspects it, then heal.
  c.net.partition([target.address], others.map((x) => x.address));
  const suspected = await c.clock.advanceUntil(() => others.some((x) => x.swim.member(target.name)?.state === 'suspect'), 20_000, 5);
  assert.ok(suspected, 'nobody suspected the cut-off member');
  c.net.heal();

  const refuted = await c.clock.advanceUntil(() => c.converged(), 10_000);
  assert.ok(refuted, 'suspicion not refuted');
  await c.clock.advance(30_000);
  assert.ok(c.converged());
  assert.ok(target.swim.stats().refutations >= 1);
  const after = target.swim.member(target.name)?.incarnation ?? 0;
  assert.ok(after > before, `incarnation ${before} -> ${after}`);
  for (const node of others) {
    assert.equal(node.swim.member(target.name)?.incarnation, after, `${node.name} has the refuting incarnation`);
    const about = eventsAbout(node, target.name).map((e) => e.event).filter((e) => e !== 'join');
    // Everyone who suspected it saw it come back alive.
    if (about.includes('suspect')) assert.equal(about.at(-1), 'alive', `${node.name} saw ${JSON.stringify(about)}`);
  }
  assert.deepEqual(c.deadEvents(), []);
  await c.shutdown();
});

test('a partitioned cluster declares the other side dead, and after healing reconnects and converges back to all alive', async () => {
  const c = new Cluster({ seed: 21 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  const a = c.nodes.slice(0, 3);
  const b = c.nodes.slice(3);
  c.net.partition(a.map((x) => x.address), b.map((x) => x.address));

  const split = await c.clock.advanceUntil(
    () => a.every((x) => b.every((y) => x.swim.member(y.name)?.state === 'dead' && y.swim.member(x.name)?.state === 'dead')),
    detectionBoundMs(c.config, 5) * 2,
  );
  assert.ok(split, 'the halves did not declare each other dead');
  assert.ok(c.converged(a) && c.converged(b), 'each half stays alive to itself');
  await c.clock.advance(60_000);

  c.net.heal();
  const healedAt = c.clock.now();
  // Reconnect runs every reconnectIntervalMs with a random dead member; a refutation then
  // spreads by gossip. Two intervals and some gossip rounds.
  const bound = 2 * c.config.reconnectIntervalMs + 10_000;
  const merged = await c.clock.advanceUntil(() => c.converged(), bound, 50);
  assert.ok(merged, `not converged within ${bound} ms of healing: ${JSON.stringify(c.nodes.map((x) => x.swim.members().map((m) => `${m.name}:${m.state}`)))}`);
  for (const x of c.nodes) {
    for (const y of (a.includes(x) ? b : a)) {
      assert.ok(eventsAbout(x, y.name).some((e) => e.event === 'join' && e.at >= healedAt), `${x.name} saw ${y.name} rejoin`);
    }
  }
  await c.clock.advance(30_000);
  assert.ok(c.converged(), 'stays converged');
  await c.shutdown();
});

test('10% packet loss declares no live member dead', async () => {
  for (const seed of [3, 4]) {
    const c = new Cluster({ seed });
    await c.startAll(8);
    assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
    c.net.setLoss(0.1);
    await c.clock.advance(120_000);
    assert.deepEqual(c.deadEvents(), [], `seed ${seed}`);
    c.net.setLoss(0);
    assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000), `seed ${seed}: converged after the loss stops`);
    await c.shutdown();
  }
});

test('Lifeguard: a member whose message handling stalls for 2 s is not declared dead and declares no one dead', async () => {
  const c = new Cluster({ seed: 8 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  await c.clock.advance(3_000);
  const slow = c.node(2);
  const stalledAt = c.clock.now();
  c.net.stall(`${slow.address}:${slow.port}`, 2_000);

  let maxHealth = 0;
  for (let t = 0; t < 60_000; t += 100) {
    await c.clock.advance(100);
    maxHealth = Math.max(maxHealth, slow.swim.stats().healthScore);
  }
  assert.deepEqual(c.deadEvents(), [], '0 false dead');
  assert.ok(c.converged());
  // Its probes during the stall failed without the helpers' nacks: Lifeguard's local health
  // noticed that the problem was local.
  assert.ok(maxHealth >= 1, `health score peaked at ${maxHealth}`);
  assert.ok(slow.swim.stats().probeFailures >= 1);
  const suspicionsBySlow = slow.events.filter((e) => e.event === 'suspect' && e.at >= stalledAt).length;
  const refutedBySlow = slow.swim.stats().refutations;
  assert.ok(suspicionsBySlow + refutedBySlow >= 1, 'the stall was felt');
  await c.shutdown();
});

test('Lifeguard: with its dynamic suspicion off, a long-stalled member declares healthy members dead; with it on, it does not', async () => {
  const run = async (lifeguard: boolean) => {
    const config = lifeguard ? {} : { suspicionMaxTimeoutMult: 1, awarenessMaxMultiplier: 1 };
    const c = new Cluster({ seed: 9, config });
    await c.startAll(5);
    assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
    const slow = c.node(2);
    // Longer than the base suspicion timeout (4 s): the slow member's own timers run out
    // before the refutations it cannot yet read.
    c.net.stall(`${slow.address}:${slow.port}`, 6_000);
    await c.clock.advance(40_000);
    const byslow = slow.events.filter((e) => e.event === 'dead').map((e) => e.member);
    await c.shutdown();
    return byslow;
  };
  assert.deepEqual(await run(true), [], 'with Lifeguard the slow member accuses no one');
  assert.ok((await run(false)).length > 0, 'without Lifeguard it does');
});

test('rotating the key across a running cluster loses no one', async () => {
  const c = new Cluster({ seed: 13 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  const oldKey = c.nodes[0]?.keyring.primaryKey() ?? new Uint8Array();
  const newKey = generateKey();
  // The memberlist procedure: install everywhere, switch everywhere, remove everywhere.
  for (const node of c.nodes) {
    node.keyring.addKey(newKey);
    await c.clock.advance(700);
  }
  for (const node of c.nodes) {
    node.keyring.useKey(newKey);
    await c.clock.advance(700);
  }
  for (const node of c.nodes) {
    node.keyring.removeKey(oldKey);
    await c.clock.advance(700);
  }
  await c.clock.advance(40_000);
  assert.ok(c.converged());
  for (const node of c.nodes) {
    assert.deepEqual(node.events.filter((e) => e.event !== 'join'), [], `${node.name}: ${JSON.stringify(node.events)}`);
    assert.equal(node.swim.stats().dropped.decrypt, 0);
    assert.equal(node.keyring.keys().length, 1);
  }
  await c.shutdown();
});

test('a metadata update reaches every member as an update event with the new incarnation', async () => {
  const c = new Cluster({ seed: 17 });
  await c.startAll(6, { meta: (i) => ({ role: 'worker', zone: `z${i % 2}` }) });
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  assert.deepEqual(c.node(0).swim.member('node-4')?.meta, { role: 'worker', zone: 'z0' });
  const target = c.node(4);
  const before = target.swim.member(target.name)?.incarnation ?? 0;
  target.swim.updateMeta({ role: 'director', zone: 'z0' });
  const spread = await c.clock.advanceUntil(() => c.nodes.every((x) => x.swim.member(target.name)?.meta.role === 'director'), 5_000);
  assert.ok(spread);
  for (const node of c.nodes) {
    const update = eventsAbout(node, target.name).find((e) => e.event === 'update');
    assert.ok(update !== undefined, `${node.name} got an update event`);
    assert.deepEqual(update.meta, { role: 'director', zone: 'z0' });
    assert.equal(update.incarnation, before + 1);
  }
  await c.shutdown();
});

test('a graceful leave is seen as left everywhere, never as dead, even after the member stops', async () => {
  const c = new Cluster({ seed: 19 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  const leaver = c.node(4);
  await c.clock.settle(leaver.swim.leave());
  const others = c.nodes.filter((x) => x !== leaver);
  assert.ok(await c.clock.advanceUntil(() => others.every((x) => x.swim.member(leaver.name)?.state === 'left'), 5_000));
  await leaver.swim.shutdown();
  c.net.disconnect(`${leaver.address}:${leaver.port}`);
  await c.clock.advance(60_000);
  for (const node of others) {
    assert.equal(node.swim.member(leaver.name)?.state, 'left');
    assert.deepEqual(eventsAbout(node, leaver.name).map((e) => e.event), ['join', 'leave']);
  }
  assert.deepEqual(c.deadEvents(), []);
  assert.ok(c.converged(others));
  await c.shutdown();
});

test('a crashed member restarted under the same name rejoins as alive, above the incarnation it died with', async () => {
  const c = new Cluster({ seed: 23 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  const old = c.node(3);
  await c.kill(3);
  const live = c.nodes.filter((x) => x !== old);
  assert.ok(await c.clock.advanceUntil(() => live.every((x) => x.swim.member(old.name)?.state === 'dead'), detectionBoundMs(c.config, 5)));
  const deadIncarnation = Math.max(...live.map((x) => x.swim.member(old.name)?.incarnation ?? 0));

  c.net.reconnect(`${old.address}:${old.port}`);
  const reborn = c.start(3);
  const restartedAt = c.clock.now();
  await c.clock.settle(reborn.swim.join([`${Cluster.address(0)}:7946`]));
  // It hears it is dead at incarnation N through push-pull and refutes with N + 1; gossip does the rest.
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 5_000), 'rejoined within 5 s');
  assert.ok((reborn.swim.member(reborn.name)?.incarnation ?? 0) > deadIncarnation);
  for (const node of live) {
    assert.ok(eventsAbout(node, old.name).some((e) => e.event === 'join' && e.at >= restartedAt));
  }
  await c.shutdown();
});

test('a member restarted before anyone noticed takes its identity back without being declared dead', async () => {
  const c = new Cluster({ seed: 29 });
  await c.startAll(5);
  assert.ok(await c.clock.advanceUntil(() => c.converged(), 10_000));
  c.node(1).swim.updateMeta({ generation: '1' });
  await c.clock.advance(3_000);
  const before = c.node(0).swim.member('node-1')?.incarnation ?? 0;
  await c.node(1).swim.shutdown();
  const reborn = c.start(1, { meta: { generation: '2' } });
  await c.clock.settle(reborn.swim.join([`${Cluster.address(0)}:7946`]));
  assert.ok(await c.clock.advanceUntil(() => c.converged() && c.nodes.every((x) => x.swim.member('node-1')?.meta.generation === '2'), 5_000));
  assert.ok((reborn.swim.member('node-1')?.incarnation ?? 0) > before);
  await c.clock.advance(30_000);
  assert.deepEqual(c.deadEvents(), []);
  await c.shutdown();
});
