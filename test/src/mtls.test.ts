import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand, makePki, startShoaldProcess, tempDir, type Pki, type ShoaldProcess } from './harness.js';
import { httpsJson } from './http.js';

const skip = hasCommand('openssl') ? false : 'openssl is not installed (the test PKI is made with it)';
let root: Awaited<ReturnType<typeof tempDir>>;
let pki: Pki;
let shoald: ShoaldProcess;

before(async () => {
  if (skip) return;
  root = await tempDir('mtls');
  pki = await makePki(root.path);
  shoald = await startShoaldProcess({ pki, root: root.path });
});

after(async () => {
  await shoald?.stop();
  await root?.remove();
});

async function refused(material: Parameters<typeof httpsJson>[1]): Promise<string> {
  const before = shoald.logs().split('\n').filter((l) => l.includes('"msg":"request"')).length;
  const err = await httpsJson(`${shoald.url}/v1/instances`, material).then(
    (r) => assert.fail(`expected the handshake to fail, got HTTP ${r.status}`),
    (e: unknown) => e as Error & { code?: string },
  );
  await new Promise((r) => setTimeout(r, 100));
  const afterCount = shoald.logs().split('\n').filter((l) => l.includes('"msg":"request"')).length;
  assert.equal(afterCount, before, 'a refused client never reached a handler');
  return `${err.code ?? ''} ${err.message}`;
}

test('a client without a certificate is refused in the TLS handshake', { skip }, async () => {
  const { ca } = await pki.pem('admin');
  const why = await refused({ ca });
  assert.match(why, /certificate required|ECONNRESET|socket hang up|alert/i);
});

test('a certificate from another CA is refused in the TLS handshake', { skip }, async () => {
  const { ca } = await pki.pem('admin');
  const other = await pki.pem('other:admin');
  const why = await refused({ ca, cert: other.cert, key: other.key });
  assert.match(why, /unknown ca|ECONNRESET|socket hang up|alert/i);
});

test('an expired certificate from the right CA is refused in the TLS handshake', { skip }, async () => {
  const expired = await pki.pem('expired-admin');
  const why = await refused(expired);
  assert.match(why, /expired|ECONNRESET|socket hang up|alert/i);
});

test('over real mTLS an admin writes, a viewer reads but gets 403 on every write, and requests are logged with the client', { skip }, async () => {
  const admin = await pki.pem('admin');
  const viewer = await pki.pem('viewer');
  const created = await httpsJson(`${shoald.url}/v1/instances`, admin, 'POST', { name: 'web', vip: '10.0.0.10', ports: [{ port: 80 }] }, { 'x-request-id': 'it-create-1' });
  assert.equal(created.status, 201);
  assert.equal(created.headers['x-request-id'], 'it-create-1');
  const read = await httpsJson(`${shoald.url}/v1/instances/web`, viewer);
  assert.equal(read.status, 200);
  assert.equal(read.json.vip, '10.0.0.10');
  for (const [method, path, body] of [
    ['POST', '/v1/instances', { name: 'x', vip: '10.0.0.11', ports: [{ port: 80 }] }],
    ['DELETE', '/v1/instances/web', undefined],
    ['POST', '/v1/instances/web/stop', undefined],
    ['POST', '/v1/pools', { name: 'p', ranges: ['10.9.0.0/24'] }],
  ] as const) {
    const r = await httpsJson(`${shoald.url}${path}`, viewer, method, body);
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.json.error.code, 'E_FORBIDDEN');
  }
  assert.equal((await httpsJson(`${shoald.url}/v1/instances/web`, admin)).json.state, 'started');
  const line = shoald
    .logs()
    .split('\n')
    .find((l) => l.includes('it-create-1'));
  assert.ok(line, 'the request was logged');
  const entry = JSON.parse(line) as { client: string; status: number; latencyMs: number; requestId: string };
  assert.equal(entry.client, 'admin/admin');
  assert.equal(entry.status, 201);
  assert.equal(typeof entry.latencyMs, 'number');
});
