import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { isRole, type Instance, type Pool } from '@shoal/model';
import { openStore, type ClusterStore } from '@shoal/store';
import { createApiApp } from '../src/index.js';

/** The app with identity read from a test header instead of a TLS certificate. */
async function setup(opts: { maxBodyBytes?: number } = {}): Promise<{ store: ClusterStore; call: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; json: any; headers: Headers }> }> {
  const store = await openStore();
  const app = createApiApp(
    {
      store,
      logger: pino({ level: 'silent' }),
      node: { name: 'test', version: '0.0.0', startedAt: new Date() },
      identify: (c) => {
        const role = c.req.header('x-test-role') ?? 'admin';
        return isRole(role) ? { name: `t-${role}`, role } : { error: 'no role' };
      },
    },
    opts,
  );
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
     
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text)), headers: res.headers };
  };
  return { store, call };
}

const web = { name: 'web', vip: '10.0.0.10', ports: [{ port: 80 }], backends: [{ ip: '10.1.0.1', port: 8080 }], labels: { env: 'prod' } };

test('an instance is created with defaults, an ETag and a Location, and read back', async () => {
  const { call } = await setup();
  const r = await call('POST', '/v1/instances', web);
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('etag'), '"1"');
  assert.equal(r.headers.get('location'), '/v1/instances/web');
  const inst = r.json as Instance;
  assert.match(inst.id, /^[0-9a-f-]{36}$/);
  assert.equal(inst.scheduler, 'rr');
  assert.equal(inst.forwarding, 'nat');
  assert.equal(inst.state, 'started');
  assert.deepEqual(inst.ports, [{ port: 80, protocol: 'tcp' }]);
  assert.equal(inst.healthCheck.type, 'tcp', 'a TCP instance is health-checked by default');
  assert.equal(inst.backends[0]?.weight, 1);
  const g = await call('GET', '/v1/instances/web');
  assert.equal(g.status, 200);
  assert.deepEqual(g.json, inst);
  const byId = await call('GET', `/v1/instances/${inst.id}`);
  assert.equal(byId.json.name, 'web');
});

test('every bad field is a 400 naming the field and why', async () => {
  const { call } = await setup();
  const r = await call('POST', '/v1/instances', { name: 'Bad_Name', vip: '10.0.0.300', ports: [{ port: 0 }, { port: 80, protocol: 'sctp' }], backends: [{ ip: 'x' }], colour: 'red' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'E_VALIDATION');
  const paths = (r.json.error.issues as { path: string }[]).map((i) => i.path).sort();
  for (const p of ['name', 'vip', 'ports.0.port', 'ports.1.protocol', 'backends.0.ip', 'colour']) assert.ok(paths.includes(p), `issue for ${p} in ${paths.join(' ')}`);
  const missing = await call('POST', '/v1/instances', { name: 'x', vip: '10.0.0.1' });
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.json.error.issues, [{ path: 'ports', message: 'is required' }]);
  const notJson = await call('POST', '/v1/instances', '{"name":');
  assert.equal(notJson.status, 400);
  assert.equal(notJson.json.error.code, 'E_BAD_REQUEST');
  const family = await call('POST', '/v1/instances', { name: 'mix', vip: '10.0.0.1', ports: [{ port: 80 }], backends: [{ ip: '2001:db8::1' }] });
  assert.equal(family.status, 400);
  assert.equal(family.json.error.issues[0].path, 'backends.0.ip');
});

test('names are unique and a VIP is exclusive unless instances share a key on different ports', async () => {
  const { call } = await setup();
  assert.equal((await call('POST', '/v1/instances', web)).status, 201);
  const dupName = await call('POST', '/v1/instances', { ...web, vip: '10.0.0.11' });
  assert.equal(dupName.status, 409);
  assert.equal(dupName.json.error.issues[0].path, 'name');
  const dupVip = await call('POST', '/v1/instances', { ...web, name: 'other', ports: [{ port: 443 }] });
  assert.equal(dupVip.status, 409);
  assert.equal(dupVip.json.error.code, 'E_CONFLICT');
  // Same VIP written differently is still the same VIP.
  const spelled = await call('POST', '/v1/instances', { name: 'v6a', vip: '2001:db8:0:0::1', ports: [{ port: 80 }] });
  assert.equal(spelled.json.vip, '2001:db8::1');
  assert.equal((await call('POST', '/v1/instances', { name: 'v6b', vip: '2001:DB8::0001', ports: [{ port: 81 }] })).status, 409);
  const a = await call('POST', '/v1/instances', { name: 'dns-tcp', vip: '10.0.0.53', sharingKey: 'dns', ports: [{ port: 53, protocol: 'tcp' }] });
  const b = await call('POST', '/v1/instances', { name: 'dns-udp', vip: '10.0.0.53', sharingKey: 'dns', ports: [{ port: 53, protocol: 'udp' }] });
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.equal(b.json.healthCheck.type, 'none', 'a UDP-only instance has no default health check');
  const c = await call('POST', '/v1/instances', { name: 'dns-again', vip: '10.0.0.53', sharingKey: 'dns', ports: [{ port: 53, protocol: 'udp' }] });
  assert.equal(c.status, 409);
  assert.equal(c.json.error.issues[0].path, 'ports');
});

test('VIPs come from the pool, skip buggy addresses, run out with a clear error and return on delete', async () => {
  const { call } = await setup();
  const noPool = await call('POST', '/v1/instances', { name: 'a', ports: [{ port: 80 }] });
  assert.equal(noPool.status, 400);
  assert.equal(noPool.json.error.issues[0].path, 'vip');
  const p = await call('POST', '/v1/pools', { name: 'default', ranges: ['192.168.0.255-192.168.1.1'], avoidBuggyIps: true });
  assert.equal(p.status, 201);
  const a = await call('POST', '/v1/instances', { name: 'a', ports: [{ port: 80 }] });
  assert.equal(a.json.vip, '192.168.1.1', '.255 and .0 are skipped');
  assert.equal(a.json.pool, 'default');
  const b = await call('POST', '/v1/instances', { name: 'b', ports: [{ port: 80 }] });
  assert.equal(b.status, 409);
  assert.equal(b.json.error.code, 'E_POOL_EXHAUSTED');
  assert.equal((await call('DELETE', '/v1/instances/a')).status, 200);
  const again = await call('POST', '/v1/instances', { name: 'b', ports: [{ port: 80 }] });
  assert.equal(again.json.vip, '192.168.1.1', 'the deleted VIP went back to the pool');
  const inUse = await call('DELETE', '/v1/pools/default');
  assert.equal(inUse.status, 409);
  const overlap = await call('POST', '/v1/pools', { name: 'other', ranges: ['192.168.1.0/24'] });
  assert.equal(overlap.status, 409);
  const shrink = await call('PUT', '/v1/pools/default', { name: 'default', ranges: ['192.168.0.255'] });
  assert.equal(shrink.status, 409, 'a pool cannot drop an allocated VIP');
  const pools = await call('GET', '/v1/pools');
  assert.deepEqual((pools.json.items as Pool[]).map((x) => x.name), ['default']);
});

test('If-Match guards writes with the generation', async () => {
  const { call } = await setup();
  await call('POST', '/v1/instances', web);
  const stale = await call('PATCH', '/v1/instances/web', { scheduler: 'wlc' }, { 'if-match': '"7"' });
  assert.equal(stale.status, 409);
  assert.equal(stale.json.error.code, 'E_GENERATION_MISMATCH');
  const ok = await call('PATCH', '/v1/instances/web', { scheduler: 'wlc' }, { 'if-match': '"1"' });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.generation, 2);
  assert.equal(ok.headers.get('etag'), '"2"');
  const bad = await call('DELETE', '/v1/instances/web', undefined, { 'if-match': 'yesterday' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.issues[0].path, 'If-Match');
  assert.equal((await call('GET', '/v1/instances/web')).status, 200, 'nothing was lost');
});

test('roles: a viewer reads and never writes; an operator cannot change pools', async () => {
  const { call } = await setup();
  await call('POST', '/v1/instances', web);
  const viewer = { 'x-test-role': 'viewer' };
  assert.equal((await call('GET', '/v1/instances', undefined, viewer)).status, 200);
  for (const [m, p, b] of [
    ['POST', '/v1/instances', { ...web, name: 'x' }],
    ['DELETE', '/v1/instances/web', undefined],
    ['POST', '/v1/instances/web/stop', undefined],
    ['POST', '/v1/instances/web/backends', { ip: '10.1.0.9' }],
    ['POST', '/loadbalancer', { name: 'x', port: 1 }],
  ] as const) {
    const r = await call(m, p, b, viewer);
    assert.equal(r.status, 403, `${m} ${p}`);
    assert.equal(r.json.error.code, 'E_FORBIDDEN');
  }
  assert.equal((await call('GET', '/v1/instances/web')).json.state, 'started');
  const op = await call('POST', '/v1/pools', { name: 'p', ranges: ['10.9.0.0/24'] }, { 'x-test-role': 'operator' });
  assert.equal(op.status, 403);
  assert.equal((await call('POST', '/v1/instances/web/stop', undefined, { 'x-test-role': 'operator' })).status, 200);
  const anon = await call('GET', '/v1/instances', undefined, { 'x-test-role': 'nobody' });
  assert.equal(anon.status, 401);
});

test('start, stop, backends and label filters', async () => {
  const { call } = await setup();
  await call('POST', '/v1/instances', web);
  await call('POST', '/v1/instances', { name: 'api', vip: '10.0.0.12', ports: [{ port: 443 }], labels: { env: 'dev', tier: 'api' } });
  assert.equal((await call('POST', '/v1/instances/web/stop')).json.state, 'stopped');
  assert.equal((await call('POST', '/v1/instances/web/start')).json.state, 'started');
  const added = await call('POST', '/v1/instances/web/backends', { ip: '10.1.0.2', port: 8080, weight: 3 });
  assert.equal(added.status, 201);
  assert.equal(added.json.weight, 3);
  const dup = await call('POST', '/v1/instances/web/backends', { ip: '10.1.0.2', port: 8080 });
  assert.equal(dup.status, 409);
  const upd = await call('PATCH', `/v1/instances/web/backends/${added.json.id}`, { weight: 0, enabled: false });
  assert.deepEqual([upd.json.weight, upd.json.enabled], [0, false]);
  const list = await call('GET', '/v1/instances/web/backends');
  assert.equal(list.json.items.length, 2);
  assert.equal((await call('DELETE', `/v1/instances/web/backends/${added.json.id}`)).status, 200);
  assert.equal((await call('DELETE', `/v1/instances/web/backends/${added.json.id}`)).status, 404);
  const prod = await call('GET', '/v1/instances?label=env=prod');
  assert.deepEqual(prod.json.items.map((i: Instance) => i.name), ['web']);
  const tiered = await call('GET', '/v1/instances?label=tier');
  assert.deepEqual(tiered.json.items.map((i: Instance) => i.name), ['api']);
  const notDev = await call('GET', '/v1/instances?label=env!=dev');
  assert.deepEqual(notDev.json.items.map((i: Instance) => i.name), ['web']);
  assert.equal((await call('GET', '/v1/instances?label=bad key')).status, 400);
});

test('PUT replaces the spec, keeps ids of backends that stay, accepts a GET body back', async () => {
  const { call } = await setup();
  const created = (await call('POST', '/v1/instances', web)).json as Instance;
  const body = { ...created, scheduler: 'wlc', backends: [...created.backends, { ip: '10.1.0.3', port: 8080 }] };
  const r = await call('PUT', '/v1/instances/web', body, { 'if-match': '"1"' });
  assert.equal(r.status, 200);
  assert.equal(r.json.scheduler, 'wlc');
  assert.equal(r.json.vip, '10.0.0.10');
  assert.equal(r.json.backends.find((b: { ip: string }) => b.ip === '10.1.0.1').id, created.backends[0]?.id);
  assert.equal(r.json.createdAt, created.createdAt);
  const rename = await call('PATCH', '/v1/instances/web', { name: 'www', description: 'front door' });
  assert.equal(rename.json.name, 'www');
  assert.equal((await call('GET', '/v1/instances/web')).status, 404);
  const cleared = await call('PATCH', '/v1/instances/www', { description: null });
  assert.equal(cleared.json.description, undefined);
});

test('oversized bodies are refused with 413 and unknown routes with a JSON 404', async () => {
  const { call } = await setup({ maxBodyBytes: 2048 });
  const big = await call('POST', '/v1/instances', { ...web, description: 'x'.repeat(4000) });
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, 'E_PAYLOAD_TOO_LARGE');
  const nf = await call('GET', '/v2/nothing');
  assert.equal(nf.status, 404);
  assert.equal(nf.json.error.code, 'E_NOT_FOUND');
  assert.equal((await call('GET', '/healthz')).json.status, 'ok');
  const status = await call('GET', '/v1/status');
  assert.equal(status.json.node.name, 'test');
  assert.equal(status.json.store.instances, 0);
});

test("slb's flow: create from the default pool, add backends without a content type, delete returns the VIP", async () => {
  const { call } = await setup();
  await call('POST', '/v1/pools', { name: 'default', ranges: ['192.168.0.85-192.168.0.90'] });
  const lb = await call('POST', '/loadbalancer', { name: 'test loadbalancer', port: 6443 });
  assert.equal(lb.status, 201);
  assert.deepEqual(Object.keys(lb.json).sort(), ['backends', 'eip', 'name', 'port', 'uuid']);
  assert.equal(lb.json.name, 'test loadbalancer');
  assert.equal(lb.json.eip, '192.168.0.85');
  assert.equal(lb.json.port, 6443);
  const be = await call('POST', `/loadbalancer/${lb.json.uuid}/backend`, '{"ip":"10.80.96.25", "port": 6443}', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(be.status, 201);
  assert.equal(be.json.type, 'MASQ');
  const local = await call('POST', `/loadbalancer/${lb.json.uuid}/backend`, { ip: '10.80.96.26', port: 6443, type: 'LOCAL' });
  assert.equal(local.json.type, 'LOCAL');
  const badType = await call('POST', `/loadbalancer/${lb.json.uuid}/backend`, { ip: '10.80.96.27', port: 6443, type: 'NOPE' });
  assert.equal(badType.status, 400);
  assert.equal(badType.json.error.issues[0].path, 'type');
  const all = await call('GET', '/loadbalancers');
  assert.equal(all.json.length, 1);
  assert.equal(all.json[0].backends.length, 2);
  const native = await call('GET', '/v1/instances/test-loadbalancer');
  assert.equal(native.json.description, 'test loadbalancer');
  const delBe = await call('DELETE', `/loadbalancer/${lb.json.uuid}/backend/${be.json.uuid}`);
  assert.equal(delBe.json.uuid, be.json.uuid);
  const del = await call('DELETE', `/loadbalancer/${lb.json.uuid}`);
  assert.equal(del.status, 200);
  assert.equal((await call('GET', `/loadbalancer/${lb.json.uuid}`)).status, 404);
  const next = await call('POST', '/loadbalancer', { name: 'second', port: 80 });
  assert.equal(next.json.eip, '192.168.0.85', 'the VIP went back to the pool');
  const bad = await call('POST', '/loadbalancer', { name: 'x', port: 70000 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.issues[0].path, 'port');
});

test('observed backend health is shown as status on instances and backends, and ignored on PUT', async () => {
  const store = await openStore();
  const app = createApiApp({
    store,
    logger: pino({ level: 'silent' }),
    node: { name: 'test', version: '0.0.0', startedAt: new Date() },
    identify: () => ({ name: 't', role: 'admin' }),
    instanceStatus: (inst) => ({ backends: Object.fromEntries(inst.backends.map((b) => [b.id, { health: b.ip.endsWith('.1') ? 'up' : 'down', reason: 'test' }])) }),
  });
  const post = await app.request('/v1/instances', { method: 'POST', body: JSON.stringify({ ...web, backends: [{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }] }) });
  const inst = (await post.json()) as Instance & { status: { backends: Record<string, { health: string }> } };
  const byIp = Object.fromEntries(inst.backends.map((b) => [b.ip, inst.status.backends[b.id]?.health]));
  assert.deepEqual(byIp, { '10.1.0.1': 'up', '10.1.0.2': 'down' });
  const backends = (await (await app.request('/v1/instances/web/backends')).json()) as { items: { ip: string; status: { health: string } }[] };
  assert.deepEqual(backends.items.map((b) => b.status.health), ['up', 'down']);
  const put = await app.request('/v1/instances/web', { method: 'PUT', body: JSON.stringify(inst) });
  assert.equal(put.status, 200, 'a GET body with status goes back as is');
  await store.close();
});
