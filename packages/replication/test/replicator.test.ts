import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { openStore, type ClusterStore } from '@shoal/store';
import { ShoalError, type InstanceSpec } from '@shoal/model';
import { createMemoryReplicaNetwork, createReplicator, decodeMessages, ReplicationProtocolError, type MemoryReplicaNetwork, type Replicator, type ReplicationInit } from '../src/index.js';

const logger = pino({ level: 'silent' });

function spec(name: string, vip: string): InstanceSpec {
  return {
    name,
    vip,
    ports: [{ port: 80, protocol: 'tcp' }],
    scheduler: 'rr',
    forwarding: 'nat',
    persistenceTimeoutS: 0,
    backends: [{ ip: '10.9.0.1', weight: 1, enabled: true }],
    state: 'started',
    labels: {},
    healthCheck: { type: 'none' },
  } as unknown as InstanceSpec;
}

interface Node {
  name: string;
  store: ClusterStore;
  replicator: Replicator;
}

interface Cluster {
  nodes: Node[];
  net: MemoryReplicaNetwork;
  /** Names the directory reports as alive. */
  alive: Set<string>;
  add(name: string): Promise<Node>;
  stop(): Promise<void>;
}

async function cluster(names: string[], init: ReplicationInit = {}, seed = 1): Promise<Cluster> {
  const net = createMemoryReplicaNetwork(seed);
  const alive = new Set<string>();
  const all = new Set<string>();
  const nodes: Node[] = [];
  const add = async (name: string): Promise<Node> => {
    const store = await openStore();
    all.add(name);
    alive.add(name);
    const replicator = createReplicator(
      {
        store,
        self: name,
        logger,
        link: net.link(name),
        directory: {
          livePeers: () => [...alive].filter((n) => n !== name).map((n) => ({ name: n, url: `mem://${n}` })),
          clusterSize: () => all.size,
        },
      },
      { antiEntropyIntervalMs: 200, digestSettleMs: 50, retryMinMs: 10, retryMaxMs: 100, ...init },
    );
    net.attach(name, replicator);
    const node = { name, store, replicator };
    nodes.push(node);
    replicator.start();
    for (const n of nodes) n.replicator.membershipChanged();
    return node;
  };
  for (const n of names) await add(n);
  return {
    nodes,
    net,
    alive,
    add,
    async stop() {
      for (const n of nodes) {
        await n.replicator.stop();
        await n.store.close();
      }
    },
  };
}

function names(store: ClusterStore): string[] {
  return store.listInstances().map((i) => `${i.name}@${i.vip}`);
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function converged(c: Cluster): boolean {
  const first = c.nodes[0];
  if (!first) return true;
  const want = JSON.stringify(names(first.store));
  return c.nodes.every((n) => JSON.stringify(names(n.store)) === want && n.replicator.digest() === first.replicator.digest());
}

let current: Cluster | undefined;
afterEach(async () => {
  await current?.stop();
  current = undefined;
});

describe('replication', () => {
  it('a write on any node appears on every node', async () => {
    const c = (current = await cluster(['a', 'b', 'c']));
    for (const [i, n] of c.nodes.entries()) await n.store.createInstance(spec(`web${i}`, `192.0.2.${i + 1}`));
    await until('all three instances everywhere', () => c.nodes.every((n) => n.store.listInstances().length === 3));
    assert.ok(converged(c));
  });

  it('a majority write resolves once two of three nodes hold it, and all of them later', async () => {
    const c = (current = await cluster(['a', 'b', 'c']));
    const a = c.nodes[0] as Node;
    const need = a.replicator.required('majority');
    assert.equal(need, 2);
    a.replicator.assertReachable(need);
    await a.store.createInstance(spec('web', '192.0.2.1'));
    await a.replicator.awaitReplicated(need);
    const holders = c.nodes.filter((n) => n.store.getInstance('web')).length;
    assert.ok(holders >= 2, `held by ${holders}`);
    await a.replicator.awaitReplicated(a.replicator.required('all'));
    assert.ok(c.nodes.every((n) => n.store.getInstance('web')));
  });

  it('a write concern above the cluster size is a validation error naming the field', async () => {
    const c = (current = await cluster(['a', 'b']));
    assert.throws(
      () => c.nodes[0]?.replicator.required(3),
      (e: unknown) => e instanceof ShoalError && e.code === 'E_VALIDATION' && e.issues?.[0]?.path === 'writeConcern',
    );
  });

  it('a write that cannot reach its concern fails with E_QUORUM, and is refused up front when too few nodes are alive', async () => {
    const c = (current = await cluster(['a', 'b', 'c']));
    const a = c.nodes[0] as Node;
    c.net.partition(['a'], ['b', 'c']);
    await a.store.createInstance(spec('lonely', '192.0.2.9'));
    await assert.rejects(a.replicator.awaitReplicated(2, 150), (e: unknown) => e instanceof ShoalError && e.code === 'E_QUORUM' && /1 of the 2/.test(e.message));
    // Membership notices: now the write is refused before it is made.
    c.alive.delete('b');
    c.alive.delete('c');
    a.replicator.membershipChanged();
    assert.throws(() => a.replicator.assertReachable(2), (e: unknown) => e instanceof ShoalError && e.code === 'E_QUORUM' && /nothing was written/.test(e.message));
  });

  it('a partition heals and both sides converge, writes from both sides kept', async () => {
    const c = (current = await cluster(['a', 'b', 'c']));
    c.net.partition(['a'], ['b', 'c']);
    await c.nodes[0]?.store.createInstance(spec('left', '192.0.2.1'));
    await c.nodes[1]?.store.createInstance(spec('right', '192.0.2.2'));
    await until('b and c share the write', () => c.nodes[2]?.store.getInstance('right') !== undefined);
    await c.nodes[2]?.store.patchInstance('right', { description: 'edited on c' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.nodes[0]?.store.getInstance('right'), undefined);
    c.net.heal();
    await until('convergence after heal', () => converged(c));
    for (const n of c.nodes) {
      assert.deepEqual(names(n.store), ['left@192.0.2.1', 'right@192.0.2.2']);
      assert.equal(n.store.getInstance('right')?.description, 'edited on c');
    }
  });

  it('a node with an empty store that joins gets the full state', async () => {
    const c = (current = await cluster(['a', 'b']));
    for (let i = 0; i < 50; i++) await c.nodes[i % 2]?.store.createInstance(spec(`svc${i}`, `198.51.100.${i + 1}`));
    const d = await c.add('d');
    await until('newcomer caught up', () => d.store.listInstances().length === 50);
    await until('convergence', () => converged(c));
  });

  it('a node that was away catches up when it returns, and its own writes reach the others', async () => {
    // Anti-entropy far away: the return itself must trigger the exchanges.
    const c = (current = await cluster(['a', 'b', 'c'], { antiEntropyIntervalMs: 600_000, retryMaxMs: 60_000 }));
    const cNode = c.nodes[2] as Node;
    c.alive.delete('c');
    c.net.partition(['c'], ['a', 'b']);
    for (const n of c.nodes) n.replicator.membershipChanged();
    await c.nodes[0]?.store.createInstance(spec('while-away', '192.0.2.5'));
    await cNode.store.createInstance(spec('from-c', '192.0.2.6'));
    c.net.heal();
    c.alive.add('c');
    for (const n of c.nodes) n.replicator.membershipChanged();
    await until('convergence after return', () => converged(c));
    assert.ok(cNode.store.getInstance('while-away'));
    assert.ok(c.nodes[0]?.store.getInstance('from-c'));
    // a itself brought c up to date (c's acknowledgement of a's writes is what shows it).
    const a = c.nodes[0] as Node;
    await until("c acknowledges a's writes", () => a.replicator.status().peers.find((p) => p.name === 'c')?.ackedLocalClock === a.replicator.status().localClock);
  });

  it('under 30% message loss a seeded run of random writes converges once loss stops', async () => {
    for (const seed of [1, 2, 3]) {
      const c = await cluster(['a', 'b', 'c', 'd', 'e'], {}, seed);
      try {
        c.net.setLoss(0.3);
        let x = seed * 7919;
        const rand = (n: number): number => (x = (x * 48271) % 2147483647) % n;
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 60; i++) {
          const node = c.nodes[rand(5)] as Node;
          const name = `s${seed}-${i}`;
          writes.push(node.store.createInstance(spec(name, `203.0.113.${i + 1}`)));
          if (i % 10 === 9) await Promise.all(writes.splice(0));
        }
        await Promise.all(writes);
        c.net.setLoss(0);
        await until(`convergence (seed ${seed})`, () => converged(c), 10_000);
        assert.equal(c.nodes[0]?.store.listInstances().length, 60);
      } finally {
        await c.stop();
      }
    }
  });

  it('a garbage, truncated or wrongly typed body is refused with a protocol error and changes nothing', async () => {
    const c = (current = await cluster(['a']));
    const a = c.nodes[0] as Node;
    await a.store.createInstance(spec('keep', '192.0.2.1'));
    const before = a.replicator.digest();
    const bodies = [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]), new Uint8Array([2, 50, 1, 2]), new Uint8Array([7, 1, 0]), new Uint8Array([0, 3, 0xff, 0xff, 0xff])];
    for (const body of bodies) {
      await assert.rejects(a.replicator.receivePush(body, 'mallory'), (e: unknown) => e instanceof ReplicationProtocolError || (e instanceof ShoalError && e.code === 'E_BAD_REQUEST'));
      await assert.rejects(a.replicator.answerSync(body, 'mallory'), (e: unknown) => e instanceof ShoalError && e.code === 'E_BAD_REQUEST');
    }
    // A well-framed update whose payload is not a Yjs update.
    await assert.rejects(a.replicator.receivePush(new Uint8Array([2, 3, 9, 9, 9]), 'mallory'), (e: unknown) => e instanceof ShoalError && e.code === 'E_BAD_REQUEST');
    assert.equal(a.replicator.digest(), before);
    assert.deepEqual(names(a.store), ['keep@192.0.2.1']);
    assert.throws(() => decodeMessages(new Uint8Array([1])), ReplicationProtocolError);
  });

  it('status shows each peer with the clock it acknowledged', async () => {
    const c = (current = await cluster(['a', 'b']));
    const a = c.nodes[0] as Node;
    await a.store.createInstance(spec('web', '192.0.2.1'));
    await a.replicator.awaitReplicated(2);
    const s = a.replicator.status();
    assert.equal(s.clusterSize, 2);
    assert.equal(s.peers.length, 1);
    assert.equal(s.peers[0]?.name, 'b');
    assert.equal(s.peers[0]?.ackedLocalClock, s.localClock);
    assert.ok(s.localClock > 0);
  });
});
