import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InstancePatchSchema,
  InstanceSpecSchema,
  PoolSpecSchema,
  ShoalError,
  parseOrThrow,
  resolveInstanceConflicts,
  resolvePoolConflicts,
  type InstanceSpecInput,
  type InstancePatchInput,
} from '@shoal/model';
import { openStore, type ClusterStore } from '../src/index.js';

const spec = (name: string, vip: string | undefined, extra: Partial<InstanceSpecInput> = {}) =>
  parseOrThrow(InstanceSpecSchema, { name, ...(vip === undefined ? {} : { vip }), ports: [{ port: 80 }], ...extra });
const patch = (p: InstancePatchInput) => parseOrThrow(InstancePatchSchema, p);
const poolSpec = (name: string, ...ranges: string[]) => parseOrThrow(PoolSpecSchema, { name, ranges });

/** A clock shared by the stores of one test: each reading is a second after the last, so who wrote first is clear. */
function steppingClock(): () => Date {
  let t = Date.UTC(2026, 0, 1);
  return () => new Date((t += 1000));
}

/** `n` in-memory stores sharing one stepping clock, closed after `body`. */
async function withCluster(n: number, body: (stores: ClusterStore[]) => Promise<void>): Promise<void> {
  const now = steppingClock();
  const stores = await Promise.all(Array.from({ length: n }, () => openStore({ now })));
  try {
    await body(stores);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

/** Every store sends its whole state to every other: afterwards all hold every write. */
async function exchangeAll(stores: readonly ClusterStore[]): Promise<void> {
  for (const from of stores) {
    const update = from.encodeStateAsUpdate();
    for (const to of stores) if (to !== from) await to.applyRemoteUpdate(update, 'peer');
  }
}

/** What must be equal on every node holding the same writes. */
function view(s: ClusterStore) {
  return {
    instances: s.listInstances(),
    conflicts: [...s.listConflicts()].sort(([a], [b]) => (a < b ? -1 : 1)),
    pools: s.listPools().map((p) => ({ ...p, conflict: s.poolConflict(p.name) })),
  };
}

/** The store's cached, candidates-only answer is the resolver's over everything. */
function assertMatchesFullResolution(s: ClusterStore, label = ''): void {
  const instances = s.listInstances();
  const full = resolveInstanceConflicts(instances);
  assert.deepEqual(new Map(s.listConflicts()), full, `conflicts ${label}`);
  for (const i of instances) assert.deepEqual(s.instanceConflict(i.id), full.get(i.id), `instanceConflict(${i.name}) ${label}`);
  const pools = resolvePoolConflicts(s.listPools());
  for (const p of s.listPools()) assert.deepEqual(s.poolConflict(p.name), pools.get(p.name), `poolConflict(${p.name}) ${label}`);
}

function assertConverged(stores: readonly ClusterStore[]): void {
  const first = stores[0];
  assert.ok(first);
  for (const s of stores) {
    assert.deepEqual(view(s), view(first));
    assertMatchesFullResolution(s);
  }
}

test('two instances named "web" written on two nodes at once: the older is served on both, the other is marked', async () => {
  await withCluster(2, async (stores) => {
    const [a, b] = stores as [ClusterStore, ClusterStore];
    const older = await a.createInstance(spec('web', '10.0.0.1'));
    const younger = await b.createInstance(spec('web', '10.0.0.2'));
    await exchangeAll(stores);
    assertConverged(stores);
    for (const s of stores) {
      assert.equal(s.listInstances().length, 2, 'both are kept');
      assert.equal(s.getInstance('web')?.id, older.id);
      assert.equal(s.instanceConflict(older.id), undefined);
      assert.deepEqual({ ...s.instanceConflict(younger.id), message: '' }, { reason: 'name', withId: older.id, withName: 'web', message: '' });
      assert.match(s.instanceConflict(younger.id)?.message ?? '', /was created first with this name/);
    }
    await assert.rejects(a.createInstance(spec('web', '10.0.0.3')), { code: 'E_CONFLICT' }, 'local writes still refuse a taken name');
  });
});

test('two instances on one VIP and port written at once: the younger is in conflict everywhere', async () => {
  await withCluster(2, async (stores) => {
    const [a, b] = stores as [ClusterStore, ClusterStore];
    const web = await a.createInstance(spec('web', '10.0.0.1'));
    const api = await b.createInstance(spec('api', '10.0.0.1'));
    await exchangeAll(stores);
    assertConverged(stores);
    for (const s of stores) {
      assert.equal(s.instanceConflict(api.id)?.reason, 'vip');
      assert.equal(s.instanceConflict(api.id)?.withId, web.id);
      assert.equal(s.instanceConflict(web.id), undefined);
    }
    // The winner stays editable; the loser is not, until it leaves the VIP.
    await a.addBackend('web', { ip: '10.1.0.1', weight: 1, enabled: true });
    await assert.rejects(b.addBackend('api', { ip: '10.1.0.1', weight: 1, enabled: true }), { code: 'E_CONFLICT' });
    await assert.rejects(a.createInstance(spec('dns', '10.0.0.1')), { code: 'E_CONFLICT' }, 'local writes still refuse a VIP in use');
    await b.patchInstance('api', patch({ vip: '10.0.0.2' }));
    await exchangeAll(stores);
    assertConverged(stores);
    assert.equal(a.listConflicts().size, 0);
  });
});

test('one pool address given out on two nodes at once: the younger instance is in conflict, the next allocation skips it', async () => {
  await withCluster(2, async (stores) => {
    const [a, b] = stores as [ClusterStore, ClusterStore];
    await a.createPool(poolSpec('default', '10.9.0.0/29'));
    await exchangeAll(stores);
    const web = await a.createInstance(spec('web', undefined));
    const api = await b.createInstance(spec('api', undefined));
    assert.equal(web.vip, api.vip, 'both nodes picked the first free address');
    await exchangeAll(stores);
    assertConverged(stores);
    for (const s of stores) {
      assert.equal(s.instanceConflict(api.id)?.reason, 'vip');
      assert.equal(s.instanceConflict(web.id), undefined);
    }
    const next = await b.createInstance(spec('db', undefined));
    assert.notEqual(next.vip, web.vip);
  });
});

test('instances with one sharing key on different ports share a VIP after a merge without conflict', async () => {
  await withCluster(3, async (stores) => {
    const [a, b, c] = stores as [ClusterStore, ClusterStore, ClusterStore];
    await a.createInstance(spec('web', '10.0.0.1', { sharingKey: 'front', ports: [{ port: 80 }] }));
    await b.createInstance(spec('dns', '10.0.0.1', { sharingKey: 'front', ports: [{ port: 53, protocol: 'udp' }] }));
    await c.createInstance(spec('tls', '10.0.0.1', { sharingKey: 'front', ports: [{ port: 443 }] }));
    await exchangeAll(stores);
    assertConverged(stores);
    assert.equal(a.listConflicts().size, 0);
    assert.equal(a.listInstances().length, 3);
  });
});

test('overlapping pools created at once: the younger allocates nothing until fixed, on every node', async () => {
  await withCluster(2, async (stores) => {
    const [a, b] = stores as [ClusterStore, ClusterStore];
    await a.createPool(poolSpec('wide', '10.9.0.0/24'));
    await b.createPool(poolSpec('default', '10.9.0.0/29'));
    await exchangeAll(stores);
    assertConverged(stores);
    for (const s of stores) {
      assert.equal(s.poolConflict('default')?.withName, 'wide');
      assert.equal(s.poolConflict('wide'), undefined);
    }
    const named = await b.createInstance(spec('named', undefined, { pool: 'default' })).catch((err: unknown) => err);
    assert.ok(named instanceof ShoalError && named.code === 'E_CONFLICT', String(named));
    assert.deepEqual(named.issues?.map((i) => i.path), ['pool']);
    const unnamed = await b.createInstance(spec('unnamed', undefined)).catch((err: unknown) => err);
    assert.ok(unnamed instanceof ShoalError && unnamed.code === 'E_CONFLICT', 'the default pool is in conflict: no silent fallback');
    assert.deepEqual(unnamed.issues?.map((i) => i.path), ['pool']);
    assert.equal((await b.createInstance(spec('web', undefined, { pool: 'wide' }))).vip, '10.9.0.0');
    await a.replacePool('wide', poolSpec('wide', '10.9.0.0/24', '10.9.1.0/24'));
    await assert.rejects(a.createPool(poolSpec('third', '10.9.0.4/30')), { code: 'E_CONFLICT' }, 'local writes still refuse an overlap, with a conflicted pool too');
    await b.replacePool('default', poolSpec('default', '10.8.0.0/29'));
    await exchangeAll(stores);
    assertConverged(stores);
    assert.equal(a.poolConflict('default'), undefined);
    assert.equal((await a.createInstance(spec('api', undefined))).vip, '10.8.0.0');
  });
});

test('deleting the winner makes the loser win, on every node', async () => {
  await withCluster(3, async (stores) => {
    const [a, b, c] = stores as [ClusterStore, ClusterStore, ClusterStore];
    const web1 = await a.createInstance(spec('web', '10.0.0.1'));
    const web2 = await b.createInstance(spec('web', '10.0.0.2'));
    const dns1 = await a.createInstance(spec('dns', '10.0.0.9'));
    const dns2 = await c.createInstance(spec('dns2', '10.0.0.9'));
    await exchangeAll(stores);
    assert.deepEqual([...a.listConflicts().keys()].sort(), [web2.id, dns2.id].sort());
    await c.deleteInstance('web');
    await b.deleteInstance(dns1.id);
    await exchangeAll(stores);
    assertConverged(stores);
    for (const s of stores) {
      assert.equal(s.listConflicts().size, 0);
      assert.equal(s.getInstance('web')?.id, web2.id);
    }
    assert.equal(web1.name, 'web');
  });
});

test('renaming the loser clears the conflict, on every node', async () => {
  await withCluster(2, async (stores) => {
    const [a, b] = stores as [ClusterStore, ClusterStore];
    await a.createInstance(spec('web', '10.0.0.1'));
    const loser = await b.createInstance(spec('web', '10.0.0.2'));
    await exchangeAll(stores);
    assert.equal(a.instanceConflict(loser.id)?.reason, 'name');
    await assert.rejects(a.patchInstance(loser.id, patch({ name: 'api', vip: '10.0.0.1' })), { code: 'E_CONFLICT' }, 'the fix may not take a VIP in use');
    await a.patchInstance(loser.id, patch({ name: 'web-2' }));
    await exchangeAll(stores);
    assertConverged(stores);
    assert.equal(b.listConflicts().size, 0);
    assert.equal(b.getInstance('web-2')?.id, loser.id);
  });
});

test('an instance that lost its VIP holds no name: a younger one with that name is served and answers to it', async () => {
  await withCluster(3, async (stores) => {
    const [a, b, c] = stores as [ClusterStore, ClusterStore, ClusterStore];
    const api = await a.createInstance(spec('api', '10.0.0.1'));
    const oldWeb = await b.createInstance(spec('web', '10.0.0.1'));
    // c has seen neither, so its local check lets it take the name.
    const newWeb = await c.createInstance(spec('web', '10.0.0.7'));
    await exchangeAll(stores);
    assertConverged(stores);
    for (const s of stores) {
      assert.equal(s.instanceConflict(api.id), undefined);
      assert.equal(s.instanceConflict(oldWeb.id)?.reason, 'vip');
      assert.equal(s.instanceConflict(newWeb.id), undefined);
      assert.equal(s.getInstance('web')?.id, newWeb.id, 'the name answers with the instance served, not the oldest');
    }
  });
});

test('every kind of local write advances the local clock', async () => {
  const s = await openStore();
  try {
    const writes: [string, () => Promise<unknown>][] = [
      ['createPool', () => s.createPool(poolSpec('default', '10.9.0.0/29'))],
      ['replacePool', () => s.replacePool('default', poolSpec('default', '10.9.0.0/28'))],
      ['createPool (other)', () => s.createPool(poolSpec('spare', '10.8.0.0/29'))],
      ['deletePool', () => s.deletePool('spare')],
      ['createInstance', () => s.createInstance(spec('web', '10.0.0.1', { backends: [{ ip: '10.1.0.1' }] }))],
      ['replaceInstance', () => s.replaceInstance('web', spec('web', '10.0.0.1', { scheduler: 'wrr' }))],
      ['patchInstance', () => s.patchInstance('web', patch({ scheduler: 'lc' }))],
      ['setInstanceState', () => s.setInstanceState('web', 'stopped')],
      ['addBackend', () => s.addBackend('web', { id: '0b7e9f1c-2222-4a2b-8c3d-000000000009', ip: '10.1.0.9', weight: 1, enabled: true })],
      ['updateBackend', () => s.updateBackend('web', '0b7e9f1c-2222-4a2b-8c3d-000000000009', { weight: 5 })],
      ['removeBackend', () => s.removeBackend('web', '0b7e9f1c-2222-4a2b-8c3d-000000000009')],
      ['deleteInstance', () => s.deleteInstance('web')],
    ];
    for (const [what, write] of writes) {
      const before = s.localClock();
      await write();
      const after = s.localClock();
      assert.equal(after.clientId, before.clientId);
      assert.ok(after.clock > before.clock, `${what} advanced the clock (${before.clock} -> ${after.clock})`);
    }
  } finally {
    await s.close();
  }
});

// ---- seeded random network -------------------------------------------------------------

/**
 * mulberry32: small, fast, good enough to pick operations. The seed fixes the operations and
 * ids; Yjs picks each document's client id at random, which may change how a concurrent
 * overwrite of one key merges, so a failure replays its operations, not always its merges.
 */
function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] as T,
    chance: (p) => next() < p,
  };
}

const NAMES = ['web', 'api', 'dns', 'db', 'mail'] as const;
const VIPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', undefined] as const;
const PORT_SETS = [[{ port: 80 }], [{ port: 443 }], [{ port: 53, protocol: 'udp' }], [{ port: 80 }, { port: 443 }]] as const;
/** Clear of the default pool (10.9.0.0/29), so local checks pass and only merges overlap. */
const POOL_NAMES = ['p1', 'p2', 'p3', 'p4'] as const;
const POOL_RANGES = ['10.9.1.0/30', '10.9.1.2/31', '10.9.1.0/29', '10.9.2.0/30', '10.9.1.4-10.9.2.1'] as const;

/** How many instance and pool conflicts a run saw at some point: a run that saw none proved nothing. */
interface RunTally {
  instanceConflicts: number;
  poolConflicts: number;
}

async function randomNetwork(seed: number, steps: number): Promise<RunTally> {
  const tally: RunTally = { instanceConflicts: 0, poolConflicts: 0 };
  const rng = prng(seed);
  const n = 3 + rng.int(3);
  // Time moves 0 or 1 s per reading: many ties in createdAt, which the id then breaks.
  let t = Date.UTC(2026, 0, 1);
  const now = (): Date => new Date((t += rng.chance(0.5) ? 1000 : 0));
  const hex = (k: number): string => Array.from({ length: k }, () => rng.int(16).toString(16)).join('');
  const newId = (): string => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
  const stores = await Promise.all(Array.from({ length: n }, () => openStore({ now, newId })));
  const ignoreRefusal = (err: unknown): void => {
    if (!(err instanceof ShoalError)) throw err;
  };
  try {
    await stores[0]?.createPool(poolSpec('default', '10.9.0.0/29'));
    await exchangeAll(stores);
    for (let step = 0; step < steps; step++) {
      const s = rng.pick(stores);
      const existing = s.listInstances();
      const target = existing.length > 0 ? rng.pick(existing).id : 'none';
      const op = rng.int(10);
      const write = async (): Promise<unknown> => {
        switch (op) {
          case 0:
          case 1:
          case 2: {
            const key = rng.chance(0.4) ? 'k' : undefined;
            return s.createInstance(spec(rng.pick(NAMES), rng.pick(VIPS), { ports: [...rng.pick(PORT_SETS)], ...(key === undefined ? {} : { sharingKey: key }) }));
          }
          case 3:
            return s.patchInstance(target, patch({ name: rng.pick(NAMES) + (rng.chance(0.3) ? '-2' : '') }));
          case 4:
            return s.patchInstance(target, patch({ vip: rng.pick(VIPS) ?? '10.0.0.4' }));
          case 5:
            return s.deleteInstance(target);
          case 6:
            return rng.chance(0.5) ? s.addBackend(target, { ip: `10.1.0.${rng.int(250) + 1}`, weight: 1, enabled: true }) : s.setInstanceState(target, rng.chance(0.5) ? 'stopped' : 'started');
          case 7:
            return rng.chance(0.7) ? s.createPool(poolSpec(rng.pick(POOL_NAMES), rng.pick(POOL_RANGES))) : s.deletePool(rng.pick(POOL_NAMES));
          default: {
            // A partial exchange: one peer catches the other up from its state vector.
            const to = rng.pick(stores);
            if (to !== s) await to.applyRemoteUpdate(s.encodeStateAsUpdate(to.encodeStateVector()), 'peer');
            return undefined;
          }
        }
      };
      await write().catch(ignoreRefusal);
      assertMatchesFullResolution(s, `seed ${seed} step ${step}`);
      tally.instanceConflicts = Math.max(tally.instanceConflicts, s.listConflicts().size);
      tally.poolConflicts = Math.max(tally.poolConflicts, s.listPools().filter((p) => s.poolConflict(p.name)).length);
    }
    await exchangeAll(stores);
    assertConverged(stores);
    return tally;
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

const poolConflictsSeen: number[] = [];
for (const seed of [1, 2, 3, 42, 1337, 20260101]) {
  test(`a seeded random network of 3-5 nodes writing colliding instances converges on one conflict map (seed ${seed})`, async () => {
    const tally = await randomNetwork(seed, 400);
    assert.ok(tally.instanceConflicts > 0, 'the run made at least one conflict');
    poolConflictsSeen.push(tally.poolConflicts);
  });
}

test('the random networks made overlapping pools too', () => {
  assert.ok(poolConflictsSeen.some((n) => n > 0), `pool conflicts seen per seed: ${poolConflictsSeen.join(', ')}`);
});
