import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InstanceSpecSchema, PoolSpecSchema, parseOrThrow, type Instance, type InstanceStatus } from '@shoal/model';
import { openStore, type ClusterStore } from '@shoal/store';
import { createApiApp } from '../src/index.js';

type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any }>;

/** The app over `store`, the caller an admin; `instanceStatus` stands in for the health view. */
function appOver(store: ClusterStore, instanceStatus?: (i: Instance) => InstanceStatus): Call {
  const app = createApiApp({
    store,
    logger: pino({ level: 'silent' }),
    node: { name: 'test', version: '0.0.0', startedAt: new Date() },
    identify: () => ({ name: 't-admin', role: 'admin' }),
    ...(instanceStatus === undefined ? {} : { instanceStatus }),
  });
  return async (method, path, body) => {
    const res = await app.request(path, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
  };
}

const spec = (name: string, vip: string) => parseOrThrow(InstanceSpecSchema, { name, vip, ports: [{ port: 80 }], backends: [{ ip: '10.1.0.1' }] });

/** Two nodes that each took "web" (and pool range 10.9.0.0/29) before hearing of the other, then synced. */
async function mergedPair(): Promise<{ a: ClusterStore; b: ClusterStore; winner: Instance; loser: Instance; close: () => Promise<void> }> {
  let t = Date.UTC(2026, 0, 1);
  const now = (): Date => new Date((t += 1000));
  const a = await openStore({ now });
  const b = await openStore({ now });
  const winner = await a.createInstance(spec('web', '10.0.0.1'));
  const loser = await b.createInstance(spec('web', '10.0.0.2'));
  await a.createPool(parseOrThrow(PoolSpecSchema, { name: 'wide', ranges: ['10.9.0.0/24'] }));
  await b.createPool(parseOrThrow(PoolSpecSchema, { name: 'narrow', ranges: ['10.9.0.0/29'] }));
  await b.applyRemoteUpdate(a.encodeStateAsUpdate(), 'peer');
  await a.applyRemoteUpdate(b.encodeStateAsUpdate(), 'peer');
  const close = async (): Promise<void> => {
    await Promise.all([a.close(), b.close()]);
  };
  return { a, b, winner, loser, close };
}

test('the API shows the instance a merge left in conflict, lists both, and answers the name with the winner', async () => {
  const { a, b, winner, loser, close } = await mergedPair();
  try {
    for (const store of [a, b]) {
      const call = appOver(store);
      const got = await call('GET', `/v1/instances/${loser.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.json.id, loser.id);
      assert.deepEqual(got.json.status.backends, {});
      assert.equal(got.json.status.conflict.reason, 'name');
      assert.equal(got.json.status.conflict.withId, winner.id);
      assert.equal(got.json.status.conflict.withName, 'web');
      assert.match(got.json.status.conflict.message, /created first with this name; this one is not served until renamed or deleted/);

      const list = await call('GET', '/v1/instances');
      assert.deepEqual(list.json.items.map((i: Instance) => i.id), [winner.id, loser.id]);
      assert.equal(list.json.items[0].status, undefined, 'the winner carries no conflict');
      assert.equal(list.json.items[1].status.conflict.withId, winner.id);

      const byName = await call('GET', '/v1/instances/web');
      assert.equal(byName.json.id, winner.id);
      assert.equal(byName.json.status, undefined);

      const slb = await call('GET', `/loadbalancer/${loser.id}`);
      assert.equal(slb.json.status.conflict.withId, winner.id);
      assert.equal((await call('GET', `/loadbalancer/${winner.id}`)).json.status, undefined);
    }
  } finally {
    await close();
  }
});

test('the conflict sits next to the backend health the node observed', async () => {
  const { a, winner, loser, close } = await mergedPair();
  try {
    const call = appOver(a, (i) => ({ backends: Object.fromEntries(i.backends.map((bk) => [bk.id, { health: 'up' as const }])) }));
    const got = await call('GET', `/v1/instances/${loser.id}`);
    assert.deepEqual(Object.values(got.json.status.backends), [{ health: 'up' }]);
    assert.equal(got.json.status.conflict.withId, winner.id);
    const backends = await call('GET', `/v1/instances/${loser.id}/backends`);
    assert.deepEqual(backends.json.items[0].status, { health: 'up' });
  } finally {
    await close();
  }
});

test('renaming the loser through the API by its id clears the conflict', async () => {
  const { a, loser, close } = await mergedPair();
  try {
    const call = appOver(a);
    const renamed = await call('PATCH', `/v1/instances/${loser.id}`, { name: 'web-2' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json.status, undefined);
    assert.equal((await call('GET', '/v1/instances/web-2')).json.id, loser.id);
  } finally {
    await close();
  }
});

test('a pool a merge left overlapping an older one shows its conflict and takes no instances', async () => {
  const { a, close } = await mergedPair();
  try {
    const call = appOver(a);
    const narrow = await call('GET', '/v1/pools/narrow');
    assert.equal(narrow.json.status.conflict.reason, 'overlap');
    assert.equal(narrow.json.status.conflict.withName, 'wide');
    assert.equal((await call('GET', '/v1/pools/wide')).json.status, undefined);
    const list = await call('GET', '/v1/pools');
    assert.deepEqual(list.json.items.map((p: { name: string; status?: unknown }) => [p.name, p.status !== undefined]), [['narrow', true], ['wide', false]]);
    const refused = await call('POST', '/v1/instances', { name: 'api', pool: 'narrow', ports: [{ port: 80 }] });
    assert.equal(refused.status, 409);
    assert.equal(refused.json.error.code, 'E_CONFLICT');
    assert.equal(refused.json.error.issues[0].path, 'pool');
    // GET, edit, PUT: the status in the body is ignored, and moving the ranges clears the conflict.
    const fixed = await call('PUT', '/v1/pools/narrow', { ...narrow.json, ranges: ['10.8.0.0/29'] });
    assert.equal(fixed.status, 200);
    assert.equal(fixed.json.status, undefined);
  } finally {
    await close();
  }
});
