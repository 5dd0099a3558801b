import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance } from '@shoal/model';
import { createMemoryDataplane, createReconciler, desiredServices, planChanges, serviceKey, type VirtualService } from '../src/index.js';

let seq = 0;
function instance(name: string, over: Partial<Instance> = {}): Instance {
  seq++;
  return {
    id: `id-${name}`,
    name,
    vip: '10.0.0.1',
    ports: [{ port: 80, protocol: 'tcp' }],
    scheduler: 'rr',
    forwarding: 'nat',
    persistenceTimeoutS: 0,
    backends: [
      { id: `${name}-b1`, ip: '10.1.0.1', weight: 1, enabled: true },
      { id: `${name}-b2`, ip: '10.1.0.2', port: 8080, weight: 3, enabled: true },
    ],
    healthCheck: { type: 'none' },
    state: 'started',
    labels: {},
    createdAt: `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`,
    updatedAt: '2026-01-01T00:00:00.000Z',
    generation: 1,
    ...over,
  };
}

test('a started instance becomes one virtual service per port with its backends', () => {
  const got = desiredServices({ instances: [instance('web', { ports: [{ port: 80, protocol: 'tcp' }, { port: 53, protocol: 'udp' }] })] });
  assert.deepEqual(got.map(serviceKey), ['tcp|10.0.0.1|80', 'udp|10.0.0.1|53']);
  const tcp = got[0];
  assert.ok(tcp);
  assert.deepEqual(tcp.servers, [
    { ip: '10.1.0.1', port: 80, weight: 1, forwarding: 'nat' },
    { ip: '10.1.0.2', port: 8080, weight: 3, forwarding: 'nat' },
  ]);
  assert.equal(tcp.family, 4);
});

test('a stopped or not-served instance has nothing in the kernel', () => {
  assert.deepEqual(desiredServices({ instances: [instance('web', { state: 'stopped' })] }), []);
  assert.deepEqual(desiredServices({ instances: [instance('web')], serves: () => false }), []);
});

test('an instance in conflict gets no virtual service; the one that won the VIP and port does, even if younger', () => {
  const older = instance('web', { backends: [{ id: 'o', ip: '10.1.0.7', weight: 1, enabled: true }] });
  const younger = instance('web-new', { backends: [{ id: 'y', ip: '10.1.0.8', weight: 1, enabled: true }] });
  const elsewhere = instance('api', { vip: '10.0.0.2' });
  const conflicted = (id: string) => id === older.id;
  const got = desiredServices({ instances: [older, younger, elsewhere], conflicted });
  assert.deepEqual(got.map(serviceKey), ['tcp|10.0.0.1|80', 'tcp|10.0.0.2|80']);
  assert.deepEqual(got[0]?.servers.map((r) => r.ip), ['10.1.0.8']);
  assert.deepEqual(desiredServices({ instances: [elsewhere], conflicted: () => true }), []);
});

test('failing and disabled backends are quiesced at weight 0; no check means trust the weight', () => {
  const checked = instance('web', {
    healthCheck: { type: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 },
    backends: [
      { id: 'up', ip: '10.1.0.1', weight: 5, enabled: true },
      { id: 'down', ip: '10.1.0.2', weight: 5, enabled: true },
      { id: 'unknown', ip: '10.1.0.3', weight: 5, enabled: true },
      { id: 'off', ip: '10.1.0.4', weight: 5, enabled: false, forwarding: 'dr' },
    ],
  });
  const health = (_i: string, b: string) => (b === 'up' ? 'up' : b === 'down' ? 'down' : 'unknown');
  const s = desiredServices({ instances: [checked], health })[0];
  assert.deepEqual(s?.servers.map((r) => [r.ip, r.weight, r.forwarding]), [
    ['10.1.0.1', 5, 'nat'],
    ['10.1.0.2', 0, 'nat'],
    ['10.1.0.3', 0, 'nat'],
    ['10.1.0.4', 0, 'dr'],
  ]);
  const unchecked = desiredServices({ instances: [instance('api')], health: () => 'down' })[0];
  assert.deepEqual(unchecked?.servers.map((r) => r.weight), [1, 3]);
});

test('the plan is empty once applied, and changing one instance touches only its service', async () => {
  const dp = createMemoryDataplane();
  const a = instance('a', { vip: '10.0.0.1' });
  const b = instance('b', { vip: '10.0.0.2' });
  let desired = desiredServices({ instances: [a, b] });
  await dp.apply(planChanges(desired, await dp.dump()), desired);
  assert.deepEqual(await dp.dump(), desired);
  assert.deepEqual(planChanges(desired, await dp.dump()), [], 'idempotent');
  desired = desiredServices({ instances: [{ ...a, scheduler: 'wlc', backends: [a.backends[0]!] }, b] });
  const changes = planChanges(desired, await dp.dump());
  assert.deepEqual(changes.map((c) => c.op).sort(), ['delete-server', 'update-service']);
  assert.ok(changes.every((c) => c.service.vip === '10.0.0.1'), 'instance b is not touched');
  await dp.apply(changes, desired);
  assert.deepEqual(await dp.dump(), desired);
});

test('random desired and actual states always converge in one plan (seeded)', async () => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const randomState = (): VirtualService[] => {
    const out = new Map<string, VirtualService>();
    for (let i = rand(8); i > 0; i--) {
      const servers = new Map<string, VirtualService['servers'][number]>();
      for (let j = rand(5); j > 0; j--) {
        const ip = `10.1.0.${rand(6)}`;
        servers.set(ip, { ip, port: 80, weight: rand(4), forwarding: rand(2) ? 'nat' : 'dr' });
      }
      const s: VirtualService = {
        protocol: rand(2) ? 'tcp' : 'udp',
        vip: `10.0.0.${rand(4)}`,
        port: 80 + rand(2),
        family: 4,
        scheduler: rand(2) ? 'rr' : 'wlc',
        persistenceTimeoutS: rand(2) * 300,
        servers: [...servers.values()].sort((x, y) => (x.ip < y.ip ? -1 : 1)),
      };
      out.set(serviceKey(s), s);
    }
    return [...out.values()].sort((x, y) => (serviceKey(x) < serviceKey(y) ? -1 : 1));
  };
  for (let round = 0; round < 300; round++) {
    const dp = createMemoryDataplane();
    const actual = randomState();
    await dp.apply(planChanges(actual, []), actual);
    const desired = randomState();
    await dp.apply(planChanges(desired, await dp.dump()), desired);
    assert.deepEqual(await dp.dump(), desired, `round ${round}`);
  }
});

test('the reconciler restores a hand-deleted service, coalesces triggers and retries after a kernel error', async () => {
  const dp = createMemoryDataplane();
  let instances = [instance('web'), instance('api', { vip: '10.0.0.2' })];
  const rec = createReconciler({ dataplane: dp, desired: () => desiredServices({ instances }), retryBaseMs: 20 });
  try {
    const first = await rec.reconcileNow('test');
    assert.equal(first.changes, 6);
    dp.removeService('tcp|10.0.0.1|80');
    for (let i = 0; i < 50; i++) rec.trigger(`burst ${i}`);
    await rec.idle();
    assert.equal((await dp.dump()).length, 2, 'the deleted service is back');
    assert.ok(rec.status().runs <= 3, `50 triggers coalesced into ${rec.status().runs - 1} runs`);
    rec.start();
    dp.failNextApply(new Error('EBUSY'));
    instances = [instances[0]!];
    rec.trigger('delete api');
    await new Promise((r) => setTimeout(r, 200));
    await rec.idle();
    assert.equal(rec.status().failures, 1);
    assert.deepEqual((await dp.dump()).map(serviceKey), ['tcp|10.0.0.1|80'], 'the retry removed the deleted instance');
    instances = [{ ...instances[0]!, state: 'stopped' }];
    await rec.reconcileNow('stop');
    assert.deepEqual(await dp.dump(), [], 'a stopped instance leaves nothing');
  } finally {
    await rec.stop();
  }
});

test('a full-length persistence netmask is the default and is left out, so reconciles stay quiet', () => {
  const [v4] = desiredServices({ instances: [instance('a', { persistenceTimeoutS: 60, persistenceNetmask: 32 })] });
  assert.equal(v4?.persistenceNetmask, undefined);
  const [v4mask] = desiredServices({ instances: [instance('b', { persistenceTimeoutS: 60, persistenceNetmask: 24 })] });
  assert.equal(v4mask?.persistenceNetmask, 24);
  const [v6] = desiredServices({ instances: [instance('c', { vip: '2001:db8::1', persistenceTimeoutS: 60, persistenceNetmask: 128, backends: [] })] });
  assert.equal(v6?.persistenceNetmask, undefined);
});
