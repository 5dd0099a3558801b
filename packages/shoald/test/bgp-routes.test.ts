import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance } from '@shoal/model';
import { bgpRoutes, parseCommunity, parseLargeCommunity, type BgpRoutesInput } from '../src/bgp-routes.js';

function instance(name: string, over: Partial<Instance> = {}): Instance {
  return {
    id: `id-${name}`,
    name,
    vip: '10.96.0.10',
    ports: [{ port: 80, protocol: 'tcp' }],
    scheduler: 'rr',
    forwarding: 'nat',
    persistenceTimeoutS: 0,
    backends: [
      { id: `${name}-b1`, ip: '10.1.0.1', weight: 1, enabled: true },
      { id: `${name}-b2`, ip: '10.1.0.2', weight: 1, enabled: true },
    ],
    healthCheck: { type: 'none' },
    state: 'started',
    labels: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    generation: 1,
    ...over,
  };
}

const base: BgpRoutesInput = { mode: 'ecmp', instances: [], conflicted: () => false, health: () => 'up', held: new Set(), advertisements: [{}] };

test('ecmp: every started instance with a backend able to take traffic is announced as a host route', () => {
  const got = bgpRoutes({ ...base, instances: [instance('web'), instance('v6', { vip: 'fd00:96::10' })] });
  assert.deepEqual(
    got.map((r) => `${r.vip}/${r.length} ${r.family}`),
    ['10.96.0.10/32 ipv4', 'fd00:96::10/128 ipv6'],
  );
});

test('a VIP is withdrawn when its instance stops, loses a conflict or has no backend left to take traffic', () => {
  const checked = instance('web', { healthCheck: { type: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1 } });
  assert.equal(bgpRoutes({ ...base, instances: [instance('web', { state: 'stopped' })] }).length, 0, 'stopped');
  assert.equal(bgpRoutes({ ...base, instances: [instance('web')], conflicted: () => true }).length, 0, 'conflicted');
  assert.equal(bgpRoutes({ ...base, instances: [instance('web', { backends: [] })] }).length, 0, 'no backends');
  const allDisabled = instance('web', { backends: [{ id: 'b1', ip: '10.1.0.1', weight: 1, enabled: false }, { id: 'b2', ip: '10.1.0.2', weight: 0, enabled: true }] });
  assert.equal(bgpRoutes({ ...base, instances: [allDisabled] }).length, 0, 'disabled or weight 0');
  assert.equal(bgpRoutes({ ...base, instances: [checked], health: () => 'down' }).length, 0, 'every check failing');
  assert.equal(bgpRoutes({ ...base, instances: [checked], health: () => 'unknown' }).length, 0, 'no check passed yet');
  assert.equal(bgpRoutes({ ...base, instances: [checked], health: (_i, b) => (b === 'web-b2' ? 'up' : 'down') }).length, 1, 'one backend up is enough');
});

test('owner mode announces only the VIPs this node holds', () => {
  const instances = [instance('a', { vip: '10.96.0.10' }), instance('b', { vip: '10.96.0.11' })];
  assert.deepEqual(bgpRoutes({ ...base, mode: 'owner', instances, held: new Set(['10.96.0.11']) }).map((r) => r.vip), ['10.96.0.11']);
  assert.deepEqual(bgpRoutes({ ...base, mode: 'owner', instances, held: new Set() }), []);
});

test('instances sharing a VIP make one route, and advertisement rules add communities by instance, pool or prefix', () => {
  const instances = [instance('web', { pool: 'public' }), instance('dns', { ports: [{ port: 53, protocol: 'udp' }] }), instance('other', { vip: '10.97.0.1' })];
  const got = bgpRoutes({
    ...base,
    instances,
    advertisements: [
      { communities: ['64512:1'] },
      { pools: ['public'], communities: ['64512:100', 'no-export'], largeCommunities: ['4200000001:1:2'] },
      { instances: ['dns'], med: 10, localPref: 200 },
      { prefixes: ['10.97.0.0/16'], asPathPrepend: 2, med: 5 },
      { instances: ['nobody'], communities: ['1:1'] },
    ],
  });
  // Without a catch-all rule, only selected VIPs go to BGP (the rest stay with layer 2).
  assert.deepEqual(bgpRoutes({ ...base, instances, advertisements: [{ pools: ['public'] }] }).map((r) => r.vip), ['10.96.0.10']);
  assert.deepEqual(bgpRoutes({ ...base, instances, advertisements: [] }), []);
  assert.equal(got.length, 2);
  const [shared, other] = got;
  assert.deepEqual(shared?.instances, ['dns', 'web']);
  assert.deepEqual(shared?.communities, [64512 * 65536 + 1, 64512 * 65536 + 100, 0xffffff01]);
  assert.deepEqual(shared?.largeCommunities, [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }]);
  assert.equal(shared?.med, 10);
  assert.equal(shared?.localPref, 200);
  assert.equal(shared?.asPathPrepend, undefined);
  assert.deepEqual(other?.communities, [64512 * 65536 + 1]);
  assert.equal(other?.asPathPrepend, 2);
  assert.equal(other?.med, 5);
});

test('community text: AS:value, well-known names, and large communities; anything else is rejected', () => {
  assert.equal(parseCommunity('64512:100'), 64512 * 65536 + 100);
  assert.equal(parseCommunity('NO-EXPORT'), 0xffffff01);
  assert.equal(parseCommunity('blackhole'), 0xffff029a);
  for (const bad of ['65536:1', '1:65536', '1', 'a:b', '1:2:3', '']) assert.equal(parseCommunity(bad), null, bad);
  assert.deepEqual(parseLargeCommunity('4200000001:1:2'), { globalAdmin: 4200000001, localData1: 1, localData2: 2 });
  for (const bad of ['4294967296:1:2', '1:2', '1:2:3:4', 'x:1:2']) assert.equal(parseLargeCommunity(bad), null, bad);
});
