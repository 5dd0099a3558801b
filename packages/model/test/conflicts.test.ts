import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveInstanceConflicts, resolvePoolConflicts, type ConflictCandidate, type PortSpec } from '../src/index.js';

interface Inst extends ConflictCandidate {
  readonly ports: readonly PortSpec[];
}

/** An instance created at second `t` (ties broken by id). */
function inst(id: string, name: string, vip: string, t: number, extra: { ports?: number[]; udp?: number[]; sharingKey?: string } = {}): Inst {
  const ports: PortSpec[] = [...(extra.ports ?? [80]).map((port) => ({ port, protocol: 'tcp' as const })), ...(extra.udp ?? []).map((port) => ({ port, protocol: 'udp' as const }))];
  return { id, name, vip, ports, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, t)).toISOString(), ...(extra.sharingKey === undefined ? {} : { sharingKey: extra.sharingKey }) };
}

/** Loser id -> [reason, winner id]. */
type Expected = Record<string, ['name' | 'vip', string]>;

const INSTANCE_CASES: { name: string; instances: Inst[]; expect: Expected }[] = [
  { name: 'no clash, no conflict', instances: [inst('a', 'web', '10.0.0.1', 1), inst('b', 'api', '10.0.0.2', 2)], expect: {} },
  { name: 'a duplicate name: the older wins', instances: [inst('b', 'web', '10.0.0.2', 2), inst('a', 'web', '10.0.0.1', 1)], expect: { b: ['name', 'a'] } },
  { name: 'a name tie in the same millisecond goes to the smaller id', instances: [inst('b', 'web', '10.0.0.2', 1), inst('a', 'web', '10.0.0.1', 1)], expect: { b: ['name', 'a'] } },
  { name: 'one VIP and port twice (one pool address given twice)', instances: [inst('a', 'web', '10.0.0.1', 1), inst('b', 'api', '10.0.0.1', 2)], expect: { b: ['vip', 'a'] } },
  { name: 'one VIP, different ports, no sharing key', instances: [inst('a', 'web', '10.0.0.1', 1), inst('b', 'api', '10.0.0.1', 2, { ports: [443] })], expect: { b: ['vip', 'a'] } },
  {
    name: 'the same sharing key on different ports shares the VIP',
    instances: [inst('a', 'web', '10.0.0.1', 1, { sharingKey: 'k' }), inst('b', 'dns', '10.0.0.1', 2, { ports: [], udp: [53], sharingKey: 'k' })],
    expect: {},
  },
  {
    name: 'the same sharing key on the same port clashes',
    instances: [inst('a', 'web', '10.0.0.1', 1, { sharingKey: 'k' }), inst('b', 'web2', '10.0.0.1', 2, { sharingKey: 'k' })],
    expect: { b: ['vip', 'a'] },
  },
  {
    name: 'tcp/53 and udp/53 under one key are different ports',
    instances: [inst('a', 'dns-tcp', '10.0.0.1', 1, { ports: [53], sharingKey: 'k' }), inst('b', 'dns-udp', '10.0.0.1', 2, { ports: [], udp: [53], sharingKey: 'k' })],
    expect: {},
  },
  {
    name: 'different sharing keys clash',
    instances: [inst('a', 'web', '10.0.0.1', 1, { sharingKey: 'k1' }), inst('b', 'dns', '10.0.0.1', 2, { ports: [53], sharingKey: 'k2' })],
    expect: { b: ['vip', 'a'] },
  },
  {
    name: 'a name loser holds nothing: a younger instance on its VIP is served',
    instances: [inst('a', 'web', '10.0.0.1', 1), inst('b', 'web', '10.0.0.2', 2), inst('c', 'api', '10.0.0.2', 3)],
    expect: { b: ['name', 'a'] },
  },
  {
    name: 'a VIP loser holds nothing: a younger instance with its name is served',
    instances: [inst('a', 'web', '10.0.0.1', 1), inst('b', 'api', '10.0.0.1', 2), inst('c', 'api', '10.0.0.3', 3)],
    expect: { b: ['vip', 'a'] },
  },
  {
    name: 'name is checked before VIP',
    instances: [inst('a', 'web', '10.0.0.1', 1), inst('b', 'web', '10.0.0.1', 2)],
    expect: { b: ['name', 'a'] },
  },
  {
    name: 'three on one VIP and port: both younger ones lose to the oldest',
    instances: [inst('c', 'c', '10.0.0.1', 3), inst('b', 'b', '10.0.0.1', 2), inst('a', 'a', '10.0.0.1', 1)],
    expect: { b: ['vip', 'a'], c: ['vip', 'a'] },
  },
  {
    name: 'a sharing group where one member clashes on a port keeps the others',
    instances: [
      inst('a', 'web', '10.0.0.1', 1, { ports: [80], sharingKey: 'k' }),
      inst('b', 'tls', '10.0.0.1', 2, { ports: [443, 80], sharingKey: 'k' }),
      inst('c', 'alt', '10.0.0.1', 3, { ports: [443], sharingKey: 'k' }),
    ],
    expect: { b: ['vip', 'a'] },
  },
];

for (const c of INSTANCE_CASES) {
  test(`instance conflicts: ${c.name}`, () => {
    const got = resolveInstanceConflicts(c.instances);
    assert.deepEqual(
      Object.fromEntries([...got].map(([id, k]) => [id, [k.reason, k.withId]])),
      c.expect,
    );
    // The answer is a function of the set, not of the order it came in.
    assert.deepEqual(resolveInstanceConflicts([...c.instances].reverse()), got);
    for (const [id, k] of got) {
      const winner = c.instances.find((i) => i.id === k.withId);
      assert.equal(k.withName, winner?.name, id);
    }
  });
}

test('conflict messages name the winner and say what fixes it', () => {
  const byName = resolveInstanceConflicts([inst('aaaa', 'web', '10.0.0.1', 1), inst('bbbb', 'web', '10.0.0.2', 2)]).get('bbbb');
  assert.equal(byName?.message, 'instance "web" (id aaaa) was created first with this name; this one is not served until renamed or deleted');
  const byVip = resolveInstanceConflicts([inst('aaaa', 'web', '10.0.0.1', 1), inst('bbbb', 'api', '10.0.0.1', 2)]).get('bbbb');
  assert.match(byVip?.message ?? '', /^instance "web" \(id aaaa\) was created first on this VIP \(10\.0\.0\.1 is used by instance "web".*\); this one is not served until its VIP or ports change or it is deleted$/);
});

const pool = (name: string, t: number, ...ranges: string[]) => ({ name, ranges, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, t)).toISOString() });

const POOL_CASES: { name: string; pools: ReturnType<typeof pool>[]; expect: Record<string, string> }[] = [
  { name: 'disjoint pools', pools: [pool('a', 1, '10.0.0.0/24'), pool('b', 2, '10.0.1.0/24')], expect: {} },
  { name: 'overlapping: the older wins', pools: [pool('b', 2, '10.0.0.128/25'), pool('a', 1, '10.0.0.0/24')], expect: { b: 'a' } },
  { name: 'a tie goes to the smaller name', pools: [pool('b', 1, '10.0.0.5'), pool('a', 1, '10.0.0.0-10.0.0.9')], expect: { b: 'a' } },
  {
    name: 'a conflicted pool does not block a younger one it overlaps',
    pools: [pool('a', 1, '10.0.0.0/25'), pool('b', 2, '10.0.0.0/24'), pool('c', 3, '10.0.0.128/25')],
    expect: { b: 'a' },
  },
  { name: 'IPv4 and IPv6 never overlap', pools: [pool('a', 1, '10.0.0.0/24'), pool('b', 2, '2001:db8::/64')], expect: {} },
];

for (const c of POOL_CASES) {
  test(`pool conflicts: ${c.name}`, () => {
    const got = resolvePoolConflicts(c.pools);
    assert.deepEqual(Object.fromEntries([...got].map(([name, k]) => [name, k.withName])), c.expect);
    assert.deepEqual(resolvePoolConflicts([...c.pools].reverse()), got);
    for (const k of got.values()) assert.match(k.message, new RegExp(`^pool "${k.withName}" was created first and overlaps this one`));
  });
}
