import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HealthCheck } from '@shoal/model';
import { createNetProber, type ActiveHealthCheck, type ProbeResult } from '../src/index.js';

const prober = createNetProber();
const HOST = '127.0.0.1';

async function listen(server: Server): Promise<number> {
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await listen(s);
  s.close();
  await once(s, 'close');
  return port;
}

/** Tracks the server side of every connection, to prove the prober closes its sockets. */
function track(server: Server): Set<Socket> {
  const open = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  return open;
}

async function allClosed(open: Set<Socket>): Promise<void> {
  for (let i = 0; i < 100 && open.size > 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(open.size, 0, 'every probe connection is closed');
}

async function timed(p: Promise<ProbeResult>): Promise<{ result: ProbeResult; ms: number }> {
  const start = performance.now();
  const result = await p;
  return { result, ms: performance.now() - start };
}

const tcp = (timeoutMs = 2000): ActiveHealthCheck => ({ type: 'tcp', intervalMs: 5000, timeoutMs, rise: 2, fall: 3 });
const http = (path: string, extra: Partial<Extract<HealthCheck, { type: 'http' }>> = {}): ActiveHealthCheck =>
  ({ type: 'http', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3, path, expectedStatus: [200], ...extra });

const seenHosts: (string | undefined)[] = [];
function answer(req: IncomingMessage, res: ServerResponse): void {
  seenHosts.push(req.headers.host);
  if (req.url === '/hang') return; // never answers
  res.writeHead(req.url === '/unavailable' ? 503 : 200, { 'content-type': 'text/plain' });
  res.end('a body nobody reads\n'.repeat(1000));
}

let httpServer: ReturnType<typeof createHttpServer>;
let httpPort = 0;
let httpSockets: Set<Socket>;
before(async () => {
  httpServer = createHttpServer(answer);
  httpSockets = track(httpServer);
  httpPort = await listen(httpServer);
});
after(() => {
  httpServer.closeAllConnections();
  httpServer.close();
});

test('TCP: a listening port is a success', async () => {
  const server = createTcpServer((s) => s.on('error', () => undefined));
  const open = track(server);
  const port = await listen(server);
  const { result } = await timed(prober.probe({ ip: HOST, port, check: tcp() }, new AbortController().signal));
  assert.deepEqual(result, { ok: true, detail: 'connected' });
  await allClosed(open);
  server.close();
});

test('TCP: a closed port fails fast, long before the timeout', async () => {
  const { result, ms } = await timed(prober.probe({ ip: HOST, port: await closedPort(), check: tcp(5000) }, new AbortController().signal));
  assert.deepEqual(result, { ok: false, detail: 'connect ECONNREFUSED' });
  assert.ok(ms < 1000, `${ms} ms`);
});

test('HTTP: a status in expectedStatus is a success, another is a failure', async () => {
  const signal = new AbortController().signal;
  assert.deepEqual(await prober.probe({ ip: HOST, port: httpPort, check: http('/ok') }, signal), { ok: true, detail: 'HTTP 200' });
  assert.deepEqual(await prober.probe({ ip: HOST, port: httpPort, check: http('/unavailable') }, signal), { ok: false, detail: 'HTTP 503' });
  assert.deepEqual(await prober.probe({ ip: HOST, port: httpPort, check: http('/unavailable', { expectedStatus: [200, 503] }) }, signal), { ok: true, detail: 'HTTP 503' });
  await allClosed(httpSockets);
});

test('HTTP: the Host header is the check host, else the backend address and port', async () => {
  const signal = new AbortController().signal;
  seenHosts.length = 0;
  await prober.probe({ ip: HOST, port: httpPort, check: http('/ok') }, signal);
  await prober.probe({ ip: HOST, port: httpPort, check: http('/ok', { host: 'www.example.org' }) }, signal);
  assert.deepEqual(seenHosts, [`${HOST}:${httpPort}`, 'www.example.org']);
});

test('HTTP: a server that never answers fails at the timeout, and the socket is closed', async () => {
  const { result, ms } = await timed(prober.probe({ ip: HOST, port: httpPort, check: http('/hang', { timeoutMs: 300 }) }, new AbortController().signal));
  assert.deepEqual(result, { ok: false, detail: 'timeout after 300 ms' });
  assert.ok(ms >= 290 && ms < 1500, `${ms} ms`);
  await allClosed(httpSockets);
});

test('an aborted probe lets go at once', async () => {
  const ac = new AbortController();
  const probe = timed(prober.probe({ ip: HOST, port: httpPort, check: http('/hang', { timeoutMs: 5000 }) }, ac.signal));
  setTimeout(() => { ac.abort(); }, 50);
  const { result, ms } = await probe;
  assert.deepEqual(result, { ok: false, detail: 'aborted' });
  assert.ok(ms < 1000, `${ms} ms`);
  await allClosed(httpSockets);
});

const run = promisify(execFile);
async function hasOpenssl(): Promise<boolean> {
  try {
    await run('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

test('HTTPS: a self-signed backend passes with tlsVerify false and fails with tlsVerify true', async (t) => {
  if (!(await hasOpenssl())) {
    t.skip('openssl not installed (deploy/setup.sh installs it)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'shoal-health-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert]);
    const server = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, answer);
    const open = track(server);
    const port = await listen(server);
    const https = (tlsVerify: boolean): ActiveHealthCheck =>
      ({ type: 'https', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3, path: '/ok', expectedStatus: [200], tlsVerify, host: 'localhost' });
    const signal = new AbortController().signal;
    assert.deepEqual(await prober.probe({ ip: HOST, port, check: https(false) }, signal), { ok: true, detail: 'HTTP 200' });
    const verified = await prober.probe({ ip: HOST, port, check: https(true) }, signal);
    assert.equal(verified.ok, false);
    assert.match(verified.detail, /SELF_SIGNED|CERT/);
    await allClosed(open);
    server.closeAllConnections();
    server.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
