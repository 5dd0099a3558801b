// Virtual router id assignment: table-driven cases, then seeded property tests over random
// replicated states (uniqueness, range, capacity, order independence, stability of older instances).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@shoal/model';
import { assignVirtualRouterIds, pickVrid, planVirtualRouterIds, type VridCandidate, type VridRange } from '../src/index.js';

const at = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const inst = (id: string, s: number, requestedVrid?: number): VridCandidate => (requestedVrid === undefined ? { id, createdAt: at(s) } : { id, createdAt: at(s), requestedVrid });
const asObject = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));

const cases: { name: string; instances: VridCandidate[]; range: VridRange; want: Record<string, number>; unassigned?: string[] }[] = [
  { name: 'each keeps its distinct requested id', instances: [inst('a', 1, 7), inst('b', 2, 3), inst('c', 3, 9)], range: { min: 1, max: 10 }, want: { a: 7, b: 3, c: 9 } },
  { name: 'no requested id: lowest free, oldest first', instances: [inst('b', 2), inst('a', 1), inst('c', 3)], range: { min: 5, max: 10 }, want: { a: 5, b: 6, c: 7 } },
  { name: 'two nodes stored the same id concurrently: the older keeps it, the younger gets the lowest free', instances: [inst('y', 2, 1), inst('x', 1, 1), inst('z', 0, 2)], range: { min: 1, max: 10 }, want: { z: 2, x: 1, y: 3 } },
  { name: 'same createdAt: the id (code-unit order) breaks the tie', instances: [inst('b', 1, 4), inst('B', 1, 4), inst('a', 1, 4)], range: { min: 1, max: 9 }, want: { B: 4, a: 1, b: 2 } },
  { name: 'a requested id outside the range is replaced, even by one a younger instance asked for', instances: [inst('a', 1, 200), inst('b', 2, 0), inst('c', 3, 11)], range: { min: 10, max: 20 }, want: { a: 10, b: 11, c: 12 } },
  { name: 'a fallback skips ids older instances requested', instances: [inst('a', 1, 1), inst('b', 2, 2), inst('c', 3, 1)], range: { min: 1, max: 5 }, want: { a: 1, b: 2, c: 3 } },
  { name: 'beyond capacity the youngest get none', instances: [inst('a', 1, 2), inst('b', 2), inst('c', 3, 2), inst('d', 4)], range: { min: 1, max: 2 }, want: { a: 2, b: 1 }, unassigned: ['c', 'd'] },
  { name: 'an unreadable createdAt sorts after every readable one', instances: [{ id: 'bad', createdAt: 'yesterday', requestedVrid: 1 }, inst('good', 9, 1)], range: { min: 1, max: 3 }, want: { good: 1, bad: 2 } },
  { name: 'timestamps compare as times, not as text', instances: [{ id: 'late', createdAt: '2026-01-01T00:00:00Z', requestedVrid: 1 }, { id: 'early', createdAt: '2026-01-01T00:00:00.000+01:00', requestedVrid: 1 }], range: { min: 1, max: 3 }, want: { early: 1, late: 2 } },
  { name: 'no instances, no ids', instances: [], range: { min: 1, max: 255 }, want: {} },
];

for (const c of cases) {
  test(`vrid: ${c.name}`, () => {
    const plan = planVirtualRouterIds(c.instances, c.range);
    assert.deepEqual(asObject(plan.vrids), c.want);
    assert.deepEqual(plan.unassigned, c.unassigned ?? []);
    assert.deepEqual(asObject(assignVirtualRouterIds(c.instances, c.range)), c.want);
  });
}

test('vrid: reassigned lists the instances to store back, and storing them makes the map a fixed point', () => {
  const instances = [inst('a', 1, 3), inst('b', 2, 3), inst('c', 3)];
  const plan = planVirtualRouterIds(instances, { min: 1, max: 9 });
  assert.deepEqual(plan.reassigned, [
    { id: 'b', requested: 3, assigned: 1 },
    { id: 'c', requested: undefined, assigned: 2 },
  ]);
  const stored = instances.map((i) => ({ ...i, requestedVrid: plan.vrids.get(i.id) ?? 0 }));
  const again = planVirtualRouterIds(stored, { min: 1, max: 9 });
  assert.deepEqual(again.reassigned, []);
  // Once every stored id is distinct, removing an old instance moves nobody.
  assert.deepEqual(asObject(assignVirtualRouterIds(stored.slice(1), { min: 1, max: 9 })), { b: 1, c: 2 });
});

test('vrid: a bad range or a duplicate id is a ValidationError naming the field', () => {
  const paths = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      return e.issues?.map((i) => i.path) ?? [];
    }
    assert.fail('no error');
  };
  assert.deepEqual(paths(() => assignVirtualRouterIds([], { min: 0, max: 10 })), ['range.min']);
  assert.deepEqual(paths(() => assignVirtualRouterIds([], { min: 1, max: 256 })), ['range.max']);
  assert.deepEqual(paths(() => assignVirtualRouterIds([], { min: 1.5, max: 2 })), ['range.min']);
  assert.deepEqual(paths(() => assignVirtualRouterIds([], { min: 9, max: 3 })), ['range']);
  assert.deepEqual(paths(() => pickVrid(new Set(), { min: 3, max: 2 })), ['range']);
  assert.deepEqual(paths(() => assignVirtualRouterIds([inst('a', 1), inst('a', 2)], { min: 1, max: 9 })), ['instances.1.id']);
});

test('pickVrid: the lowest id not taken, undefined when the range is full', () => {
  assert.equal(pickVrid(new Set(), { min: 1, max: 255 }), 1);
  assert.equal(pickVrid(new Set([10, 11, 13]), { min: 10, max: 20 }), 12);
  assert.equal(pickVrid(new Set([1, 2, 3]), { min: 1, max: 3 }), undefined);
  assert.equal(pickVrid(new Set([1, 2, 3, 300]), { min: 4, max: 4 }), 4);
});

// ---- seeded properties ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface World {
  instances: VridCandidate[];
  range: VridRange;
}

/** A replicated state: few distinct timestamps (ties), requested ids colliding, missing or out of range. */
function randomWorld(random: () => number, nextId: { n: number }): World {
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const min = int(1, 20);
  const range = { min, max: min + int(0, 12) };
  const instances: VridCandidate[] = [];
  for (let i = int(0, 20); i > 0; i--) instances.push(randomInstance(random, range, nextId));
  return { instances, range };
}

function randomInstance(random: () => number, range: VridRange, nextId: { n: number }, createdAtS?: number): VridCandidate {
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const id = `i${(nextId.n++).toString(36)}`;
  const s = createdAtS ?? int(0, 6);
  const r = random();
  if (r < 0.2) return inst(id, s);
  if (r < 0.3) return inst(id, s, int(0, 255)); // often out of range
  return inst(id, s, int(range.min, range.max));
}

function sortedIds(instances: readonly VridCandidate[]): string[] {
  return [...instances].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((i) => i.id);
}

function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const SEEDS = Array.from({ length: 400 }, (_, i) => 0x5eed + i);

test('vrid property: ids are unique, in range, as many as fit, and only the youngest go without', () => {
  for (const seed of SEEDS) {
    const random = mulberry32(seed);
    const { instances, range } = randomWorld(random, { n: 0 });
    const plan = planVirtualRouterIds(instances, range);
    const values = [...plan.vrids.values()];
    assert.equal(new Set(values).size, values.length, `seed ${seed}: an id given twice`);
    for (const v of values) assert.ok(v >= range.min && v <= range.max, `seed ${seed}: ${v} outside ${range.min}..${range.max}`);
    const capacity = range.max - range.min + 1;
    assert.equal(plan.vrids.size, Math.min(instances.length, capacity), `seed ${seed}`);
    assert.deepEqual(plan.unassigned, sortedIds(instances).slice(capacity), `seed ${seed}: the unassigned are the youngest`);
  }
});

test('vrid property: every node gets the same map whatever order its store lists instances in', () => {
  for (const seed of SEEDS) {
    const random = mulberry32(seed);
    const { instances, range } = randomWorld(random, { n: 0 });
    const a = asObject(assignVirtualRouterIds(instances, range));
    const b = asObject(assignVirtualRouterIds(shuffled(random, instances), range));
    assert.deepEqual(b, a, `seed ${seed}`);
  }
});

test('vrid property: an instance keeps its requested id unless an older instance already holds it', () => {
  for (const seed of SEEDS) {
    const random = mulberry32(seed);
    const { instances, range } = randomWorld(random, { n: 0 });
    const vrids = assignVirtualRouterIds(instances, range);
    const heldByOlder = new Set<number>();
    const byId = new Map(instances.map((i) => [i.id, i]));
    for (const id of sortedIds(instances)) {
      const r = byId.get(id)?.requestedVrid;
      if (r !== undefined && r >= range.min && r <= range.max && !heldByOlder.has(r)) assert.equal(vrids.get(id), r, `seed ${seed}: ${id} lost its requested id ${r}`);
      const got = vrids.get(id);
      if (got !== undefined) heldByOlder.add(got);
    }
  }
});

test('vrid property: adding or removing a younger instance never changes an older instance\'s id', () => {
  for (const seed of SEEDS) {
    const random = mulberry32(seed);
    const nextId = { n: 0 };
    const { instances, range } = randomWorld(random, nextId);
    const before = assignVirtualRouterIds(instances, range);
    const order = sortedIds(instances);

    // Added: created after (or at the same second as) some of the existing ones.
    const added = randomInstance(random, range, nextId, Math.floor(random() * 8));
    const after = assignVirtualRouterIds([...instances, added], range);
    const addedAt = sortedIds([...instances, added]).indexOf(added.id);
    for (const id of sortedIds([...instances, added]).slice(0, addedAt)) assert.equal(after.get(id), before.get(id), `seed ${seed}: adding ${added.id} moved older ${id}`);

    // Removed: a random one; every instance older than it keeps its id.
    if (instances.length === 0) continue;
    const victim = order[Math.floor(random() * order.length)] as string;
    const without = assignVirtualRouterIds(instances.filter((i) => i.id !== victim), range);
    for (const id of order.slice(0, order.indexOf(victim))) assert.equal(without.get(id), before.get(id), `seed ${seed}: removing ${victim} moved older ${id}`);
  }
});

test('vrid property: two nodes creating at once each pick the lowest free id; after replication the map is still unique', () => {
  for (const seed of SEEDS.slice(0, 100)) {
    const random = mulberry32(seed);
    const nextId = { n: 0 };
    const { instances, range } = randomWorld(random, nextId);
    const existing = assignVirtualRouterIds(instances, range);
    const taken = new Set([...existing.values(), ...instances.flatMap((i) => (i.requestedVrid === undefined ? [] : [i.requestedVrid]))]);
    // Both nodes see the same state and pick the same id for their new instance.
    const picked = pickVrid(taken, range);
    const later = 100;
    const x = picked === undefined ? inst(`x${seed}`, later) : inst(`x${seed}`, later, picked);
    const y = picked === undefined ? inst(`y${seed}`, later + Math.floor(random() * 2)) : inst(`y${seed}`, later + Math.floor(random() * 2), picked);
    const merged = assignVirtualRouterIds([...instances, y, x], range);
    const values = [...merged.values()];
    assert.equal(new Set(values).size, values.length, `seed ${seed}`);
    for (const [id, v] of existing) assert.equal(merged.get(id), v, `seed ${seed}: existing ${id} moved`);
    const first = sortedIds([x, y])[0] as string;
    if (picked !== undefined) assert.equal(merged.get(first), picked, `seed ${seed}: the older newcomer keeps the id it stored`);
  }
});
