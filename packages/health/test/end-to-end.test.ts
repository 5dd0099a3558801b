import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { HealthCheck } from '@shoal/model';
import { createHealthChecker, type HealthChange, type HealthChecker } from '../src/index.js';
import { backend, instance } from './fakes.js';

/** The next change to `to`, or a failure after `boundMs` (a bound, not a sleep). */
function nextChange(checker: HealthChecker, to: HealthChange['to'], boundMs: number): Promise<HealthChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no change to ${to} within ${boundMs} ms`)); }, boundMs);
    const off = checker.onChange((c) => {
      if (c.to !== to) return;
      clearTimeout(timer);
      off();
      resolve(c);
    });
  });
}

test('a stopped HTTP backend goes down within about fall x interval + timeout, and up again after rise successes', async () => {
  const server = createServer((_req, res) => { res.writeHead(200).end('ok'); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const port = address.port;

  const check: HealthCheck = { type: 'http', intervalMs: 100, timeoutMs: 50, rise: 2, fall: 3, path: '/healthz', expectedStatus: [200] };
  const checker = createHealthChecker();
  try {
    const up = nextChange(checker, 'up', 2000);
    checker.setTargets([instance('web', [backend(1, { ip: '127.0.0.1', port })], { healthCheck: check })]);
    assert.match((await up).reason, /first probe succeeded/);

    const down = nextChange(checker, 'down', 3000);
    server.closeAllConnections();
    server.close();
    let start = performance.now();
    const wentDown = await down;
    let ms = performance.now() - start;
    assert.match(wentDown.reason, /3 consecutive failed probes/);
    // 3 failures at ~100 ms apart (±10 %), the first within one interval: 200..~400 ms.
    assert.ok(ms >= 150 && ms < 1500, `down after ${ms} ms`);
    assert.equal(checker.state('web', 'b1'), 'down');

    const backUp = nextChange(checker, 'up', 3000);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    start = performance.now();
    const cameUp = await backUp;
    ms = performance.now() - start;
    assert.match(cameUp.reason, /2 consecutive successful probes/);
    assert.ok(ms >= 50 && ms < 1500, `up after ${ms} ms`);
  } finally {
    await checker.close();
    server.closeAllConnections();
    server.close();
  }
});
