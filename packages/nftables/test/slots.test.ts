import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VirtualService } from '@shoal/dataplane';
import { apportionSlots, chooseTier, interleave, planSlots, slotAlgorithm } from '../src/index.js';

const svc = (weights: readonly number[], extra: Partial<VirtualService> = {}): VirtualService => ({
  protocol: 'tcp', vip: '10.0.0.1', port: 80, family: 4, scheduler: 'rr', persistenceTimeoutS: 0,
  servers: weights.map((weight, i) => ({ ip: `10.1.0.${i + 10}`, port: 8080, weight, forwarding: 'nat' as const })),
  ...extra,
});

const counts = (s: VirtualService): number[] => {
  const plan = planSlots(s);
  return s.servers.map((r) => plan.slots.filter((x) => x.ip === r.ip).length);
};

test('equal weights split 12 slots evenly for 1, 2, 3, 4 and 6 backends', () => {
  assert.deepEqual(counts(svc([1])), [12]);
  assert.deepEqual(counts(svc([1, 1])), [6, 6]);
  assert.deepEqual(counts(svc([1, 1, 1])), [4, 4, 4]);
  assert.deepEqual(counts(svc([5, 5, 5, 5])), [3, 3, 3, 3]);
  assert.deepEqual(counts(svc([1, 1, 1, 1, 1, 1])), [2, 2, 2, 2, 2, 2]);
});

test('weights shape slot counts exactly (3:1 -> 9:3) and a weight-0 server gets no slot', () => {
  assert.deepEqual(counts(svc([3, 1])), [9, 3]);
  assert.deepEqual(counts(svc([3, 1, 0])), [9, 3, 0]);
  assert.equal(planSlots(svc([3, 1, 0])).tier, 12);
});

test('uneven weights use largest remainders, ties to the earlier server', () => {
  assert.deepEqual(apportionSlots([5, 3, 1], 12), [7, 4, 1]);
  assert.deepEqual(apportionSlots([1, 1, 1, 1, 1], 12), [3, 3, 2, 2, 2]);
});

test('a tier is chosen so the lightest server gets its share: 1:100 uses 120 slots, 13 servers use 120', () => {
  assert.equal(chooseTier([1, 100]), 120);
  assert.deepEqual(counts(svc([1, 100])), [1, 119]);
  assert.equal(chooseTier(Array.from({ length: 13 }, () => 1)), 120);
  assert.equal(chooseTier([1, 65535]), 12000);
  const extreme = apportionSlots([1, 65535, 65535], 12000);
  assert.equal(extreme.reduce((a, b) => a + b, 0), 12000);
  assert.ok(extreme.every((c) => c >= 1));
});

test('no active server means no slots (the node refuses the connection)', () => {
  assert.deepEqual(planSlots(svc([0, 0])).slots, []);
  assert.deepEqual(planSlots(svc([])).slots, []);
});

test('slots interleave backends and the plan does not depend on server order', () => {
  assert.deepEqual(interleave(['a', 'b', 'c'], [4, 4, 4], 12).join(''), 'abcabcabcabc');
  const s = svc([3, 1]);
  const reversed = { ...s, servers: [...s.servers].reverse() };
  assert.deepEqual(planSlots(reversed), planSlots(s));
});

test('schedulers map to numgen or source hash; persistence forces source hash', () => {
  for (const scheduler of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'twos'] as const) assert.equal(slotAlgorithm({ scheduler, persistenceTimeoutS: 0 }), 'rr');
  for (const scheduler of ['sh', 'mh', 'dh', 'lblc', 'lblcr'] as const) assert.equal(slotAlgorithm({ scheduler, persistenceTimeoutS: 0 }), 'sh');
  assert.equal(slotAlgorithm({ scheduler: 'rr', persistenceTimeoutS: 60 }), 'sh');
});

test('backends of the other address family get no slots', () => {
  const s = svc([1], { servers: [{ ip: '10.1.0.1', port: 80, weight: 1, forwarding: 'nat' }, { ip: 'fd00::1', port: 80, weight: 1, forwarding: 'tunnel' }] });
  assert.deepEqual(new Set(planSlots(s).slots.map((r) => r.ip)), new Set(['10.1.0.1']));
});
