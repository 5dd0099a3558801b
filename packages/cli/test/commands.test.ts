import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { connectFlags, deadUrl, FLEXLB_TEMPLATE, makePki, runCli, sampleInstance, startFakeServer, type FakeServer, type Pki, type Route } from './fixtures.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.cleanup());

async function withServer(routes: Record<string, Route>, body: (server: FakeServer, flags: string[]) => Promise<void>): Promise<void> {
  const server = await startFakeServer(pki, routes);
  try {
    await body(server, connectFlags(pki, server.url));
  } finally {
    await server.close();
  }
}

const web = sampleInstance('web', 7);
const json = (r: { body: string }): unknown => JSON.parse(r.body);

test('instance list prints a table, JSON or YAML of what the server returned', async () => {
  await withServer({ 'GET /v1/instances': () => ({ status: 200, body: { items: [web] } }) }, async (server, flags) => {
    const table = await runCli(['instance', 'ls', ...flags]);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stdout, 'NAME  VIP        PORTS   SCHEDULER  BACKENDS  STATE    GEN\nweb   10.0.0.10  80/tcp  rr         1         started  7\n');

    const asJson = await runCli(['instances', 'list', '-o', 'json', '--label', 'env=prod', ...flags]);
    assert.deepEqual(JSON.parse(asJson.stdout), { items: [web] });
    assert.equal(server.requests.at(-1)?.url, '/v1/instances?label=env%3Dprod');

    const asYaml = await runCli(['--output=yaml', 'instance', 'list', ...flags]);
    assert.deepEqual(parseYaml(asYaml.stdout), { items: [web] });
  });
});

test('instance list marks an instance a merge left in conflict, and instance get says why', async () => {
  const message = 'instance "web" (id 0b7e9f1c-1111-4a2b-8c3d-000000000001) was created first with this name; this one is not served until renamed or deleted';
  const loser = {
    ...sampleInstance('web', 2),
    id: '0b7e9f1c-1111-4a2b-8c3d-000000000002',
    vip: '10.0.0.11',
    status: { backends: {}, conflict: { reason: 'name', withId: '0b7e9f1c-1111-4a2b-8c3d-000000000001', withName: 'web', message } },
  };
  await withServer(
    {
      'GET /v1/instances': () => ({ status: 200, body: { items: [web, loser] } }),
      'GET /v1/instances/0b7e9f1c-1111-4a2b-8c3d-000000000002': () => ({ status: 200, body: loser }),
    },
    async (_server, flags) => {
      const table = await runCli(['instance', 'list', ...flags]);
      assert.equal(table.code, 0, table.stderr);
      assert.equal(
        table.stdout,
        [
          'NAME  VIP        PORTS   SCHEDULER  BACKENDS  STATE     GEN',
          'web   10.0.0.10  80/tcp  rr         1         started   7',
          'web   10.0.0.11  80/tcp  rr         1         conflict  2',
          '',
        ].join('\n'),
      );
      const got = await runCli(['instance', 'get', loser.id, ...flags]);
      assert.equal(got.code, 0, got.stderr);
      assert.ok(got.stdout.includes(`\nState         started\nConflict      ${message}\n`), got.stdout);
    },
  );
});

test('instance create from flags sends the spec the flags describe', async () => {
  await withServer({ 'POST /v1/instances': (r) => ({ status: 201, body: { ...web, ...(json(r) as object), generation: 1 } }) }, async (server, flags) => {
    const r = await runCli(
      [
        'instance', 'create', 'web', '--port', '80', '--port', '443/tcp', '--vip', '10.0.0.10', '--backend', '10.1.0.1:8080@3', '--backend', '[2001:db8::5]:8080',
        '--scheduler', 'wrr', '--forwarding', 'tunnel', '--persistence', '300', '--label', 'env=prod', '--health', 'http', '--health-path', '/healthz',
        '--health-interval', '500', '--sharing-key', 'k1', '--description', 'front door', '--stopped', ...flags,
      ],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^instance\/web created \(vip 10\.0\.0\.10, ports 80\/tcp,443\/tcp, generation 1\)\n$/);
    assert.deepEqual(json(server.requests[0] ?? { body: '' }), {
      name: 'web',
      ports: [{ port: 80, protocol: 'tcp' }, { port: 443, protocol: 'tcp' }],
      vip: '10.0.0.10',
      scheduler: 'wrr',
      forwarding: 'tunnel',
      persistenceTimeoutS: 300,
      sharingKey: 'k1',
      description: 'front door',
      backends: [{ ip: '10.1.0.1', port: 8080, weight: 3 }, { ip: '2001:db8::5', port: 8080 }],
      labels: { env: 'prod' },
      healthCheck: { type: 'http', path: '/healthz', intervalMs: 500, timeoutMs: 500 },
      state: 'stopped',
    });
  });
});

test('instance create -f takes a FlexLB template (from stdin), translates it and reports ignored fields', async () => {
  await withServer({ 'POST /v1/instances': (r) => ({ status: 201, body: { ...web, ...(json(r) as object) } }) }, async (server, flags) => {
    const r = await runCli(['instance', 'create', '-f', '-', ...flags], { stdin: JSON.stringify(FLEXLB_TEMPLATE) });
    assert.equal(r.code, 0, r.stderr);
    const sent = json(server.requests[0] ?? { body: '' }) as { name: string; scheduler: string; backends: unknown[] };
    assert.equal(sent.name, 'inst1');
    assert.equal(sent.scheduler, 'rr');
    assert.equal(sent.backends.length, 3);
    assert.match(r.stderr, /^shoalctl: ignored FlexLB field: frontend_interface$/m);
    assert.match(r.stderr, /^shoalctl: ignored FlexLB field: backend_default_server: slowstart 60s$/m);
  });
});

test('instance modify with flags reads the instance, merges labels and ports, and writes conditionally', async () => {
  await withServer(
    {
      'GET /v1/instances/web': () => ({ status: 200, body: { ...web, labels: { env: 'prod', old: 'x' } } }),
      'PATCH /v1/instances/web': (r) => ({ status: 200, body: { ...web, ...(json(r) as object), generation: 8 } }),
    },
    async (server, flags) => {
      const r = await runCli(['instance', 'modify', 'web', '--label', 'team=edge', '--label', 'old-', '--add-port', '443', '--scheduler', 'lc', ...flags]);
      assert.equal(r.code, 0, r.stderr);
      const patch = server.requests[1];
      assert.equal(patch?.method, 'PATCH');
      assert.equal(patch?.headers['if-match'], '"7"', 'conditional on the generation it read');
      assert.deepEqual(json(patch ?? { body: '' }), {
        scheduler: 'lc',
        labels: { env: 'prod', team: 'edge' },
        ports: [{ port: 80, protocol: 'tcp' }, { port: 443, protocol: 'tcp' }],
      });
    },
  );
});

test('instance modify -f replaces (PUT) with the file, minus server-owned fields, conditional on its generation', async () => {
  const dir = join(pki.dir, 'edit');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'web.yaml');
  writeFileSync(file, `# edited from "instance get web -o yaml"\n${JSON.stringify({ ...web, scheduler: 'sh' })}\n`);
  await withServer({ 'PUT /v1/instances/web': (r) => ({ status: 200, body: { ...web, ...(json(r) as object), generation: 8 } }) }, async (server, flags) => {
    const r = await runCli(['instance', 'modify', 'web', '-f', file, ...flags]);
    assert.equal(r.code, 0, r.stderr);
    const put = server.requests[0];
    assert.equal(put?.headers['if-match'], '"7"');
    const body = json(put ?? { body: '' }) as Record<string, unknown>;
    assert.equal(body['scheduler'], 'sh');
    for (const owned of ['id', 'createdAt', 'updatedAt', 'generation']) assert.ok(!(owned in body), `${owned} is not sent`);
  });
});

test('backend remove by IP:PORT resolves the id first; add takes IPv6 as [addr]:port', async () => {
  const withPortless = { ...web, backends: [...(web['backends'] as object[]), { id: '0b7e9f1c-2222-4a2b-8c3d-000000000002', ip: '10.1.0.2', weight: 1, enabled: true }] };
  await withServer(
    {
      'GET /v1/instances/web': () => ({ status: 200, body: withPortless }),
      'DELETE /v1/instances/web/backends/0b7e9f1c-2222-4a2b-8c3d-000000000002': () => ({ status: 200, body: withPortless.backends[1] }),
      'POST /v1/instances/web/backends': (r) => ({ status: 201, body: { id: '0b7e9f1c-2222-4a2b-8c3d-000000000003', weight: 1, enabled: true, ...(json(r) as object) } }),
    },
    async (server, flags) => {
      // The backend has no port of its own: it serves on the VIP's port 80.
      const rm = await runCli(['backend', 'rm', 'web', '10.1.0.2:80', ...flags]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(server.requests[1]?.url, '/v1/instances/web/backends/0b7e9f1c-2222-4a2b-8c3d-000000000002');

      const missing = await runCli(['backend', 'remove', 'web', '10.9.9.9', ...flags]);
      assert.equal(missing.code, 3, 'not found');
      assert.match(missing.stderr, /backend 10\.9\.9\.9 of instance "web" not found/);

      const add = await runCli(['backend', 'add', 'web', '[2001:db8::7]:8443', '--weight', '0', '--disabled', '-o', 'json', ...flags]);
      assert.equal(add.code, 0, add.stderr);
      assert.deepEqual(json(server.requests.at(-1) ?? { body: '' }), { ip: '2001:db8::7', port: 8443, weight: 0, enabled: false });
      assert.equal((JSON.parse(add.stdout) as { ip: string }).ip, '2001:db8::7');
    },
  );
});

test('server errors become exit codes, with one line per field issue', async () => {
  const error = (status: number, code: string, message: string, issues?: unknown[]): Route => () => ({ status, body: { error: { code, message, ...(issues ? { issues } : {}) } } });
  await withServer(
    {
      'POST /v1/instances': error(400, 'E_VALIDATION', 'backends.0.ip: "1.2.3" is not an IPv4 or IPv6 address', [{ path: 'backends.0.ip', message: '"1.2.3" is not an IPv4 or IPv6 address' }]),
      'GET /v1/instances/ghost': error(404, 'E_NOT_FOUND', 'instance "ghost" not found'),
      'DELETE /v1/instances/web': error(409, 'E_GENERATION_MISMATCH', 'instance "web" is at generation 8, not 7'),
      'GET /v1/pools': error(403, 'E_FORBIDDEN', 'role "viewer" of viewer may not write here'),
      'GET /v1/status': error(503, 'E_QUORUM', 'no quorum'),
    },
    async (_server, flags) => {
      const bad = await runCli(['instance', 'create', 'web', '--port', '80', '--backend', '1.2.3.4', ...flags]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr, 'shoalctl: invalid request (E_VALIDATION)\n  backends.0.ip: "1.2.3" is not an IPv4 or IPv6 address\n');
      assert.equal((await runCli(['instance', 'get', 'ghost', ...flags])).code, 3);
      const stale = await runCli(['instance', 'delete', 'web', '--if-generation', '7', ...flags]);
      assert.equal(stale.code, 4);
      assert.match(stale.stderr, /^shoalctl: instance "web" is at generation 8, not 7\n$/);
      assert.equal((await runCli(['pool', 'list', ...flags])).code, 5);
      assert.equal((await runCli(['status', ...flags])).code, 6);
    },
  );
});

test('connection failures: nothing listening is exit 6; a certificate the cluster refuses is exit 5', async () => {
  const dead = await runCli(['status', ...connectFlags(pki, await deadUrl())]);
  assert.equal(dead.code, 6);
  assert.match(dead.stderr, /^shoalctl: no endpoint answered\n {2}https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);

  await withServer({ 'GET /v1/status': () => ({ status: 200, body: {} }) }, async (server) => {
    const expired = await runCli(['status', ...connectFlags(pki, server.url, 'stale')]);
    assert.equal(expired.code, 5, expired.stderr);
    assert.equal(server.requests.length, 0);
  });
});

test('settings: flags beat environment variables, which beat the config file', async () => {
  await withServer({ 'GET /v1/status': (r) => ({ status: 200, body: { node: { name: 'node1', version: '0.1.0', startedAt: 'x', uptimeS: 1 }, client: r.client } }) }, async (server) => {
    // Config file in HOME, with paths relative to it and the output format.
    const home = join(pki.dir, 'home');
    mkdirSync(join(home, '.config', 'shoal'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'shoal', 'shoalctl.yaml'),
      `endpoints:\n  - ${server.url}\nca: ../../../ca.crt\ncert: ../../../viewer.crt\nkey: ../../../viewer.key\noutput: json\n`,
    );
    const fromFile = await runCli(['status'], { homeDir: home });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal((JSON.parse(fromFile.stdout) as { client: string }).client, 'viewer');

    const env = { SHOAL_CERT: join(pki.dir, 'operator.crt'), SHOAL_KEY: join(pki.dir, 'operator.key') };
    const fromEnv = await runCli(['status'], { homeDir: home, env });
    assert.equal((JSON.parse(fromEnv.stdout) as { client: string }).client, 'operator');

    const fromFlags = await runCli(['status', '-o', 'table', '--cert', join(pki.dir, 'admin.crt'), '--key', join(pki.dir, 'admin.key')], { homeDir: home, env });
    assert.match(fromFlags.stdout, /^client\s+admin$/m);
    assert.match(fromFlags.stdout, /^node\.name\s+node1$/m);

    writeFileSync(join(home, 'bad.yaml'), 'endpoints: [x]\ncolour: blue\n');
    const bad = await runCli(['status', '--config', join(home, 'bad.yaml')], { homeDir: home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown key "colour"/);
  });
});
