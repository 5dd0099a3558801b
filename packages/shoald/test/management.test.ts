import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { openStore } from '@shoal/store';
import { createManagementKeeper, managementSpec, parseApiAddress, sameManagement, type ApiEndpoint } from '../src/management.js';

const cfg = { vip: '10.0.0.100', port: 8443, instanceName: 'shoal-api' };

test('API addresses parse to endpoints only when the host is an IP', () => {
  assert.deepEqual(parseApiAddress('n1', '10.0.0.1:8443'), { node: 'n1', ip: '10.0.0.1', port: 8443 });
  assert.deepEqual(parseApiAddress('n2', '[fd00::2]:9443'), { node: 'n2', ip: 'fd00::2', port: 9443 });
  assert.equal(parseApiAddress('n3', 'lb3.example:8443'), null);
  assert.equal(parseApiAddress('n4', 'garbage'), null);
});

test('the management instance balances every node API of the VIP family, in a stable order', () => {
  const endpoints: ApiEndpoint[] = [
    { node: 'n2', ip: '10.0.0.2', port: 8443 },
    { node: 'n1', ip: '10.0.0.1', port: 8443 },
    { node: 'n6', ip: 'fd00::6', port: 8443 },
  ];
  const spec = managementSpec(cfg, endpoints);
  assert.equal(spec.name, 'shoal-api');
  assert.equal(spec.vip, '10.0.0.100');
  assert.deepEqual(spec.ports, [{ port: 8443, protocol: 'tcp' }]);
  assert.deepEqual(spec.backends.map((b) => `${b.name ?? ''} ${b.ip}:${b.port ?? ''}`), ['n1 10.0.0.1:8443', 'n2 10.0.0.2:8443']);
  assert.equal(spec.healthCheck?.type, 'tcp');
});

test('the keeper creates the instance, updates it when members change, and writes nothing when it is right or not its turn', async () => {
  const store = await openStore();
  let endpoints: ApiEndpoint[] = [{ node: 'n1', ip: '10.0.0.1', port: 8443 }];
  let keeper = true;
  const k = createManagementKeeper({ config: cfg, store, logger: pino({ level: 'silent' }), endpoints: () => endpoints, isKeeper: () => keeper });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
  k.trigger('start');
  await settle();
  const created = store.getInstance('shoal-api');
  assert.ok(created);
  assert.deepEqual(created.backends.map((b) => b.ip), ['10.0.0.1']);
  const clock = store.localClock().clock;
  k.trigger('nothing changed');
  await settle();
  assert.equal(store.localClock().clock, clock, 'no write when the instance is already right');
  endpoints = [...endpoints, { node: 'n2', ip: '10.0.0.2', port: 8443 }];
  k.trigger('n2 joined');
  await settle();
  assert.deepEqual(store.getInstance('shoal-api')?.backends.map((b) => b.ip), ['10.0.0.1', '10.0.0.2']);
  assert.equal(store.getInstance('shoal-api')?.id, created.id, 'updated in place');
  keeper = false;
  endpoints = [];
  k.trigger('not the keeper');
  await settle();
  assert.equal(store.getInstance('shoal-api')?.backends.length, 2);
  assert.ok(sameManagement(store.getInstance('shoal-api') as never, managementSpec(cfg, [{ node: 'n1', ip: '10.0.0.1', port: 8443 }, { node: 'n2', ip: '10.0.0.2', port: 8443 }])));
  k.stop();
  await store.close();
});
