import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance } from '@shoal/model';
import { ShoalError } from '@shoal/model';
import { createShoalClient, ShoalApiError, ShoalConnectionError, type ShoalClient, type ShoalClientInit } from '../src/index.js';
import { deadUrl, makePki, sampleInstance, startFakeServer, startRawServer, type FakeServer, type Pki } from './fixtures.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.cleanup());

function clientFor(endpoints: string[], extra: Partial<ShoalClientInit> = {}): ShoalClient {
  return createShoalClient({ endpoints, ca: pki.ca, cert: pki.cert('admin'), key: pki.key('admin'), ...extra });
}

/** Runs `body` with a fake server and client, and always closes both. */
async function withServer(routes: Parameters<typeof startFakeServer>[1], body: (server: FakeServer, client: ShoalClient) => Promise<void>): Promise<void> {
  const server = await startFakeServer(pki, routes);
  const client = clientFor([server.url]);
  try {
    await body(server, client);
  } finally {
    client.close();
    await server.close();
  }
}

describe('typed calls', () => {
  test('routes return typed bodies and path segments are percent-encoded', async () => {
    await withServer(
      {
        'GET /healthz': () => ({ status: 200, body: { status: 'ok' } }),
        'GET /v1/status': () => ({ status: 200, body: { node: { name: 'node1', version: '0.1.0', startedAt: '2026-01-01T00:00:00Z', uptimeS: 5 }, store: { instances: 1 } } }),
        'GET /v1/instances': () => ({ status: 200, body: { items: [sampleInstance('web', 4)] } }),
        'GET /v1/instances/a%20b%2Fc': () => ({ status: 200, body: sampleInstance('abc', 2), headers: { etag: '"2"' } }),
        'POST /v1/instances': (r) => ({ status: 201, body: { ...sampleInstance((JSON.parse(r.body) as { name: string }).name), generation: 1 } }),
        'GET /v1/instances/web/backends': () => ({ status: 200, body: { items: sampleInstance('web').backends } }),
        'POST /loadbalancer': () => ({ status: 201, body: { uuid: 'u1', name: 'test lb', eip: '10.0.0.10', port: 80, backends: null } }),
      },
      async (server, client) => {
        assert.deepEqual(await client.healthz(), { status: 'ok' });
        const status = await client.status();
        assert.equal(status.node.name, 'node1');
        assert.deepEqual(status['store'], { instances: 1 });

        const list: Instance[] = await client.listInstances({ labels: ['env=prod', 'tier'] });
        assert.equal(list[0]?.generation, 4);
        assert.equal(server.requests.at(-1)?.url, '/v1/instances?label=env%3Dprod&label=tier');

        const got = await client.getInstance('a b/c');
        assert.equal(got.generation, 2);

        const created = await client.createInstance({ name: 'api', ports: [{ port: 443 }] });
        assert.equal(created.name, 'api');
        const sent = server.requests.at(-1);
        assert.equal(sent?.headers['content-type'], 'application/json');
        assert.deepEqual(JSON.parse(sent?.body ?? ''), { name: 'api', ports: [{ port: 443 }] });
        assert.match(String(sent?.headers['x-request-id']), /^[0-9a-f-]{36}$/);
        assert.equal(sent?.client, 'admin', 'the client certificate was presented');

        assert.equal((await client.listBackends('web'))[0]?.ip, '10.1.0.1');
        const lb = await client.slb.createLoadBalancer({ name: 'test lb', port: 80 });
        assert.equal(lb.backends, null);

        const raw = await client.request<Instance>('GET', '/v1/instances/a%20b%2Fc');
        assert.equal(raw.generation, 2, 'the ETag generation is exposed');
      },
    );
  });

  test('If-Match carries the generation, and a mismatch is E_GENERATION_MISMATCH with status 409', async () => {
    await withServer(
      {
        'PATCH /v1/instances/web': (r) =>
          r.headers['if-match'] === '"3"'
            ? { status: 200, body: sampleInstance('web', 4) }
            : { status: 409, body: { error: { code: 'E_GENERATION_MISMATCH', message: 'instance "web" is at generation 4, not 2' } } },
        'DELETE /v1/instances/web': () => ({ status: 200, body: sampleInstance('web', 5) }),
      },
      async (server, client) => {
        const inst = await client.patchInstance('web', { scheduler: 'wrr' }, { ifGeneration: 3 });
        assert.equal(inst.generation, 4);
        assert.equal(server.requests[0]?.headers['if-match'], '"3"');
        await assert.rejects(client.patchInstance('web', { scheduler: 'wrr' }, { ifGeneration: 2 }), (err: unknown) => {
          assert.ok(err instanceof ShoalApiError);
          assert.equal(err.code, 'E_GENERATION_MISMATCH');
          assert.equal(err.status, 409);
          return true;
        });
        await client.deleteInstance('web');
        assert.equal(server.requests.at(-1)?.headers['if-match'], undefined, 'no If-Match unless asked');
      },
    );
  });

  test('readyz reports a 503 as not ready instead of throwing', async () => {
    await withServer({ 'GET /readyz': () => ({ status: 503, body: { status: 'not ready' } }) }, async (_server, client) => {
      assert.deepEqual(await client.readyz(), { ready: false, status: 'not ready' });
    });
  });
});

describe('API errors', () => {
  test('a 400 body becomes a ShoalApiError with code, status, issues and request id', async () => {
    const body = {
      error: { code: 'E_VALIDATION', message: 'backends.0.ip: "x" is not an IPv4 or IPv6 address', issues: [{ path: 'backends.0.ip', message: '"x" is not an IPv4 or IPv6 address' }], requestId: 'req-7' },
    };
    await withServer({ 'POST /v1/instances': () => ({ status: 400, body }) }, async (server, client) => {
      const err = await client.createInstance({ name: 'web', ports: [{ port: 80 }], backends: [{ ip: 'x' }] }).then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ShoalApiError);
      assert.ok(err instanceof ShoalError, 'callers can catch ShoalError for every failure');
      assert.equal(err.code, 'E_VALIDATION');
      assert.equal(err.status, 400);
      assert.deepEqual(err.issues, body.error.issues);
      assert.equal(err.requestId, 'req-7');
      assert.equal(err.endpoint, server.url);
      assert.deepEqual(err.body, body);
    });
  });

  test('a non-JSON error body maps to a code by status and keeps the text', async () => {
    await withServer(
      {
        'GET /v1/pools': () => ({ status: 503, text: 'upstream down' }),
        'GET /v1/pools/x': () => ({ status: 500, text: '<html>oops</html>' }),
        'GET /v1/pools/y': () => ({ status: 404, text: 'nope' }),
      },
      async (_server, client) => {
        await assert.rejects(client.listPools(), { name: 'ShoalApiError', code: 'E_UNAVAILABLE', status: 503, message: /upstream down/ });
        await assert.rejects(client.getPool('x'), { code: 'E_INTERNAL', status: 500, message: /oops/ });
        await assert.rejects(client.getPool('y'), { code: 'E_NOT_FOUND', status: 404 });
      },
    );
  });
});

describe('failover', () => {
  test('a dead endpoint (closed port) is skipped, even for a POST, and the live one answers', async () => {
    const dead = await deadUrl();
    const server = await startFakeServer(pki, { 'POST /v1/instances/web/start': () => ({ status: 200, body: sampleInstance('web', 2) }) });
    const client = clientFor([dead, server.url]);
    try {
      assert.equal((await client.startInstance('web')).generation, 2);
      assert.equal(server.requests.length, 1);
    } finally {
      client.close();
      await server.close();
    }
  });

  test('after failing over, calls stick to the endpoint that answered', async () => {
    const flaky = await startRawServer('reset');
    const server = await startFakeServer(pki, { 'GET /healthz': () => ({ status: 200, body: { status: 'ok' } }) });
    const client = clientFor([flaky.url, server.url]);
    try {
      await client.healthz();
      assert.equal(flaky.connections(), 1);
      await client.healthz();
      await client.healthz();
      assert.equal(flaky.connections(), 1, 'the failed endpoint is not tried first again');
      assert.equal(server.requests.length, 3);
    } finally {
      client.close();
      await Promise.all([flaky.close(), server.close()]);
    }
  });

  test('a POST the server may have received is not retried elsewhere; a GET is', async () => {
    const swallow = await startFakeServer(pki, { 'POST /v1/instances': () => 'destroy', 'GET /v1/pools': () => 'destroy' });
    const live = await startFakeServer(pki, {
      'POST /v1/instances': () => ({ status: 201, body: sampleInstance('web') }),
      'GET /v1/pools': () => ({ status: 200, body: { items: [] } }),
    });
    const client = clientFor([swallow.url, live.url]);
    try {
      const err = await client.createInstance({ name: 'web', ports: [{ port: 80 }] }).then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ShoalConnectionError);
      assert.equal(err.code, 'E_UNAVAILABLE');
      assert.equal(err.mayHaveBeenProcessed, true);
      assert.equal(err.attempts.length, 1);
      assert.equal(err.attempts[0]?.phase, 'request');
      assert.equal(swallow.requests.length, 1, 'the server saw the POST exactly once');
      assert.equal(live.requests.length, 0, 'and it was not sent anywhere else');

      assert.deepEqual(await client.listPools(), [], 'an idempotent GET fails over');
      assert.equal(swallow.requests.length, 2);
      assert.equal(live.requests.length, 1);
    } finally {
      client.close();
      await Promise.all([swallow.close(), live.close()]);
    }
  });

  test('a response cut off mid-body is final, even for a GET', async () => {
    const cut = await startFakeServer(pki, { 'GET /v1/pools': () => 'cut-body' });
    const live = await startFakeServer(pki, { 'GET /v1/pools': () => ({ status: 200, body: { items: [] } }) });
    const client = clientFor([cut.url, live.url]);
    try {
      await assert.rejects(client.listPools(), (err: unknown) => {
        assert.ok(err instanceof ShoalConnectionError);
        assert.equal(err.attempts[0]?.phase, 'response');
        return true;
      });
      assert.equal(live.requests.length, 0);
    } finally {
      client.close();
      await Promise.all([cut.close(), live.close()]);
    }
  });

  test('a TLS handshake that never completes times out and a POST moves on', async () => {
    const silent = await startRawServer('silent');
    const live = await startFakeServer(pki, { 'POST /v1/pools': () => ({ status: 201, body: { name: 'p' } }) });
    const client = clientFor([silent.url, live.url], { connectTimeoutMs: 200 });
    try {
      await client.createPool({ name: 'p', ranges: ['10.0.0.0/24'] });
      assert.equal(live.requests.length, 1);
    } finally {
      client.close();
      await Promise.all([silent.close(), live.close()]);
    }
  });

  test('when every endpoint is dead the error lists each one', async () => {
    const a = await deadUrl();
    const b = await deadUrl();
    const client = clientFor([a, b]);
    try {
      await assert.rejects(client.healthz(), (err: unknown) => {
        assert.ok(err instanceof ShoalConnectionError);
        assert.equal(err.code, 'E_UNAVAILABLE');
        assert.deepEqual(
          err.attempts.map((x) => [x.endpoint, x.code, x.phase]),
          [
            [a, 'ECONNREFUSED', 'connect'],
            [b, 'ECONNREFUSED', 'connect'],
          ],
        );
        assert.equal(err.mayHaveBeenProcessed, false);
        assert.match(err.message, /no endpoint answered/);
        return true;
      });
    } finally {
      client.close();
    }
  });
});

describe('mutual TLS', () => {
  const refused = async (init: Partial<ShoalClientInit>): Promise<ShoalConnectionError> => {
    const server = await startFakeServer(pki, { 'GET /healthz': () => ({ status: 200, body: { status: 'ok' } }) });
    const client = clientFor([server.url], init);
    try {
      const err = await client.healthz().then(
        () => assert.fail('expected the server to refuse the client'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ShoalConnectionError);
      assert.equal(server.requests.length, 0, 'no request reached the HTTP layer');
      return err;
    } finally {
      client.close();
      await server.close();
    }
  };

  test('a client certificate from another CA is refused during the handshake', async () => {
    const err = await refused({ cert: pki.other.cert, key: pki.other.key });
    assert.equal(err.attempts[0]?.phase, 'tls');
  });

  test('an expired client certificate is refused', async () => {
    // Node servers drop a refused client without an alert, so the client sees a reset; what
    // matters is that it happened in the handshake (safe to fail over) and reached no handler.
    const err = await refused({ cert: pki.cert('stale'), key: pki.key('stale') });
    assert.equal(err.attempts[0]?.phase, 'tls');
  });

  test('a server whose certificate does not chain to our CA is refused', async () => {
    const err = await refused({ ca: pki.other.ca });
    assert.equal(err.attempts[0]?.phase, 'tls');
  });

  test('the endpoint list is validated up front', () => {
    assert.throws(() => createShoalClient({ endpoints: [] }), { code: 'E_CONFIG' });
    assert.throws(() => createShoalClient({ endpoints: ['ftp://x'] }), { code: 'E_CONFIG' });
    const c = createShoalClient({ endpoints: ['https://[::1]:7443/', 'http://127.0.0.1:8080'] });
    assert.deepEqual(c.endpoints, ['https://[::1]:7443', 'http://127.0.0.1:8080']);
    c.close();
  });
});
