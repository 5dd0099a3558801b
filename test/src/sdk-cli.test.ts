import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createShoalClient, ShoalApiError, ShoalConnectionError, type ShoalClient } from '@shoal/client';
import { FLEXLB_TEMPLATE } from '@shoal/testkit';
import { freePort, hasCommand, makePki, shoalctl, startShoaldProcess, tempDir, type Pki, type ShoaldProcess } from './harness.js';

const skip = hasCommand('openssl') ? false : 'openssl is not installed (the test PKI is made with it)';
let root: Awaited<ReturnType<typeof tempDir>>;
let pki: Pki;
let shoald: ShoaldProcess;
let client: ShoalClient;
let deadEndpoint: string;

before(async () => {
  if (skip) return;
  root = await tempDir('sdk');
  pki = await makePki(root.path);
  shoald = await startShoaldProcess({ pki, root: root.path, config: { pools: [{ name: 'default', ranges: ['192.168.50.10-192.168.50.20'] }] } });
  deadEndpoint = `https://127.0.0.1:${await freePort()}`;
  const admin = await pki.pem('admin');
  // The first endpoint is a closed port: every call must fail over to the live node.
  client = createShoalClient({ endpoints: [deadEndpoint, shoald.url], ...admin });
});

after(async () => {
  client?.close();
  await shoald?.stop();
  await root?.remove();
});

function cliEnv(role = 'admin'): Record<string, string> {
  return {
    SHOAL_ENDPOINTS: `${deadEndpoint},${shoald.url}`,
    SHOAL_CA: join(pki.dir, 'ca.crt'),
    SHOAL_CERT: join(pki.dir, `${role}.crt`),
    SHOAL_KEY: join(pki.dir, `${role}.key`),
    HOME: root.path,
  };
}

test('the SDK drives a real shoald over mTLS, failing over from a dead endpoint', { skip }, async () => {
  const created = await client.createInstance({ name: 'sdk-web', ports: [{ port: 80 }], backends: [{ ip: '10.1.0.1', port: 8080 }], labels: { team: 'sdk' } });
  assert.equal(created.vip, '192.168.50.10');
  assert.equal(created.generation, 1);
  const backend = await client.addBackend('sdk-web', { ip: '10.1.0.2', port: 8080, weight: 4 });
  assert.equal(backend.weight, 4);
  const updated = await client.updateBackend('sdk-web', backend.id, { enabled: false });
  assert.equal(updated.enabled, false);
  const stopped = await client.stopInstance('sdk-web');
  assert.equal(stopped.state, 'stopped');
  assert.equal(stopped.generation, 4);
  await assert.rejects(client.patchInstance('sdk-web', { scheduler: 'wlc' }, { ifGeneration: 1 }), (err: unknown) => {
    assert.ok(err instanceof ShoalApiError);
    assert.equal(err.code, 'E_GENERATION_MISMATCH');
    assert.equal(err.status, 409);
    return true;
  });
  const patched = await client.patchInstance('sdk-web', { scheduler: 'wlc' }, { ifGeneration: 4 });
  assert.equal(patched.scheduler, 'wlc');
  assert.deepEqual((await client.listInstances({ labels: ['team=sdk'] })).map((i) => i.name), ['sdk-web']);
  await assert.rejects(client.createInstance({ name: 'BAD', ports: [] }), (err: unknown) => {
    assert.ok(err instanceof ShoalApiError);
    assert.equal(err.code, 'E_VALIDATION');
    assert.deepEqual(err.issues?.map((i) => i.path).sort(), ['name', 'ports']);
    return true;
  });
  await assert.rejects(client.getInstance('absent'), (err: unknown) => err instanceof ShoalApiError && err.code === 'E_NOT_FOUND');
  const status = await client.status();
  assert.equal(status.node.name, 'node1');
  const lb = await client.slb.createLoadBalancer({ name: 'sdk slb', port: 443 });
  assert.equal((await client.slb.addBackend(lb.uuid, { ip: '10.2.0.1', port: 443 })).type, 'MASQ');
  assert.equal((await client.slb.deleteLoadBalancer(lb.uuid)).uuid, lb.uuid);
  assert.equal((await client.deleteInstance('sdk-web')).name, 'sdk-web');
});

test('the SDK says clearly when no endpoint answers', { skip }, async () => {
  const admin = await pki.pem('admin');
  const lonely = createShoalClient({ endpoints: [deadEndpoint], ...admin, connectTimeoutMs: 1000 });
  try {
    await assert.rejects(lonely.listInstances(), (err: unknown) => err instanceof ShoalConnectionError && err.code === 'E_UNAVAILABLE');
  } finally {
    lonely.close();
  }
});

test('shoalctl: create, list, backends, modify, stop/start, pools, status and delete against a real shoald', { skip }, async () => {
  const env = cliEnv();
  let r = await shoalctl(['instance', 'create', 'cli-web', '--port', '80', '--backend', '10.3.0.1:8080', '--backend', '10.3.0.2:8080@3', '--label', 'env=cli'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['instance', 'list', '-o', 'json'], env);
  assert.equal(r.code, 0, r.stderr);
  const listed = (JSON.parse(r.stdout) as { items: { name: string; vip: string; backends: { weight: number }[] }[] }).items;
  const web = listed.find((i) => i.name === 'cli-web');
  assert.ok(web);
  assert.match(web.vip, /^192\.168\.50\./);
  assert.deepEqual(web.backends.map((b) => b.weight).sort(), [1, 3]);
  r = await shoalctl(['instance', 'list'], env);
  assert.match(r.stdout, /NAME\s+VIP/);
  assert.match(r.stdout, /cli-web/);
  r = await shoalctl(['backend', 'add', 'cli-web', '10.3.0.3:8080', '--weight', '2'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['backend', 'remove', 'cli-web', '10.3.0.1:8080'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['backend', 'list', 'cli-web', '-o', 'json'], env);
  assert.deepEqual((JSON.parse(r.stdout) as { items: { ip: string }[] }).items.map((b) => b.ip).sort(), ['10.3.0.2', '10.3.0.3']);
  r = await shoalctl(['instance', 'modify', 'cli-web', '--scheduler', 'wlc'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['instance', 'stop', 'cli-web'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['instance', 'get', 'cli-web', '-o', 'yaml'], env);
  assert.match(r.stdout, /state: stopped/);
  assert.match(r.stdout, /scheduler: wlc/);
  r = await shoalctl(['instance', 'start', 'cli-web'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['pool', 'create', 'extra', '--range', '10.77.0.0/30'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['pool', 'list', '-o', 'json'], env);
  assert.deepEqual((JSON.parse(r.stdout) as { items: { name: string }[] }).items.map((p) => p.name), ['default', 'extra']);
  r = await shoalctl(['status', '-o', 'json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { node: { name: string } }).node.name, 'node1');
  // This node runs no BGP: the command says so rather than printing an empty table.
  r = await shoalctl(['bgp', 'peers'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /BGP is not enabled on this node/);
  r = await shoalctl(['bgp', 'routes', '-o', 'json'], env);
  assert.deepEqual(JSON.parse(r.stdout), { enabled: false });
  r = await shoalctl(['instance', 'delete', 'cli-web'], env);
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['pool', 'delete', 'extra'], env);
  assert.equal(r.code, 0, r.stderr);
});

test("shoalctl creates from FlexLB's instance template file as is", { skip }, async () => {
  const file = join(root.path, 'inst1.json');
  await writeFile(
    file,
    JSON.stringify(FLEXLB_TEMPLATE),
  );
  const r = await shoalctl(['instance', 'create', '-f', file, '-o', 'json'], cliEnv());
  assert.equal(r.code, 0, r.stderr);
  const inst = await client.getInstance('inst1');
  assert.equal(inst.vip, '192.168.2.1');
  assert.deepEqual(inst.ports, [{ port: 8080, protocol: 'tcp' }]);
  assert.equal(inst.scheduler, 'rr');
  assert.equal(inst.backends.length, 3);
  assert.ok(inst.backends.every((b) => b.port === 30080 && b.weight === 100));
  assert.equal(inst.healthCheck.type, 'http');
  await client.deleteInstance('inst1');
});

test('shoalctl exit codes and messages are what a shell user expects', { skip }, async () => {
  let r = await shoalctl(['instance', 'get', 'nope'], cliEnv());
  assert.equal(r.code, 3);
  assert.match(r.stderr, /not found/);
  r = await shoalctl(['instance', 'create', 'x', '--port', '80', '--bogus'], cliEnv());
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--bogus/);
  r = await shoalctl(['instance', 'create', 'bad', '--port', '80', '--vip', '10.0.0.300'], cliEnv());
  assert.equal(r.code, 2, 'a malformed flag value is a usage error');
  assert.match(r.stderr, /--vip/);
  // Well-formed flags the server refuses: the API's field issues are printed, exit 1.
  r = await shoalctl(['instance', 'create', 'mixed', '--port', '80', '--vip', '10.99.0.9', '--backend', '[2001:db8::1]:80'], cliEnv());
  assert.equal(r.code, 1);
  assert.match(r.stderr, /backends\.0\.ip/);
  r = await shoalctl(['instance', 'create', 'v', '--port', '80', '--vip', '10.99.0.1'], cliEnv('viewer'));
  assert.equal(r.code, 5);
  r = await shoalctl(['instance', 'create', 'dup', '--port', '80', '--vip', '10.99.0.2'], cliEnv());
  assert.equal(r.code, 0, r.stderr);
  r = await shoalctl(['instance', 'create', 'dup', '--port', '80', '--vip', '10.99.0.3'], cliEnv());
  assert.equal(r.code, 4);
  r = await shoalctl(['instance', 'list'], { ...cliEnv(), SHOAL_ENDPOINTS: deadEndpoint });
  assert.equal(r.code, 6);
  await client.deleteInstance('dup');
});
