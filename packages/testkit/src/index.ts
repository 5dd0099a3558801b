/**
 * Test fixtures: a PKI made by certs/shoal-certs.sh at test time, and a small real HTTPS
 * server with mutual TLS standing in for shoald (TLS and the network are the point here).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Compiled tests live in packages/client/dist/test; the repository root is four levels up. */
/** The repository root (this file runs from packages/testkit/dist/src/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CERTS_SCRIPT = join(REPO_ROOT, 'certs', 'shoal-certs.sh');

export interface Pki {
  readonly dir: string;
  /** PEM contents of DIR/NAME.crt / NAME.key. */
  cert(name: string): string;
  key(name: string): string;
  readonly ca: string;
  /** A second, independent CA with a client `intruder:admin`. */
  readonly other: { readonly ca: string; readonly cert: string; readonly key: string };
  cleanup(): void;
}

export function makePki(prefix = 'shoal-test-'): Pki {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const main = join(dir, 'main');
  const other = join(dir, 'other');
  const run = (...args: string[]): void => void execFileSync('bash', [CERTS_SCRIPT, ...args], { stdio: 'pipe' });
  run('bootstrap', '--dir', main);
  run('client', '--dir', main, '--name', 'stale', '--role', 'admin', '--expired');
  run('bootstrap', '--dir', other, '--client', 'intruder:admin');
  const read = (d: string, f: string): string => readFileSync(join(d, f), 'utf8');
  return {
    dir: main,
    cert: (name) => read(main, `${name}.crt`),
    key: (name) => read(main, `${name}.key`),
    ca: read(main, 'ca.crt'),
    other: { ca: read(other, 'ca.crt'), cert: read(other, 'intruder.crt'), key: read(other, 'intruder.key') },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** CN of the verified client certificate. */
  readonly client: string | undefined;
}

export type Reply = { status: number; body?: unknown; text?: string; headers?: Record<string, string> } | 'destroy' | 'cut-body';
export type Route = (req: SeenRequest) => Reply;

export interface FakeServer {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/** Routes are keyed "METHOD /path" (path without query); unknown routes answer 404 Shoal-style. */
export async function startFakeServer(pki: Pki, routes: Record<string, Route>): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const server = createHttpsServer(
    { requestCert: true, rejectUnauthorized: true, ca: pki.ca, cert: pki.cert('node1'), key: pki.key('node1') },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const peer = (req.socket as unknown as TLSSocket).getPeerCertificate();
        const cn = peer.subject?.CN;
        const seen: SeenRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          client: Array.isArray(cn) ? cn[0] : cn,
        };
        requests.push(seen);
        const route = routes[`${seen.method} ${seen.url.split('?')[0] ?? ''}`];
        const reply: Reply = route
          ? route(seen)
          : { status: 404, body: { error: { code: 'E_NOT_FOUND', message: `no route ${seen.method} ${seen.url}` } } };
        if (reply === 'destroy') {
          req.socket.destroy();
          return;
        }
        if (reply === 'cut-body') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"items":[');
          setTimeout(() => req.socket.destroy(), 20);
          return;
        }
        const text = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
        res.writeHead(reply.status, { 'content-type': reply.text === undefined ? 'application/json' : 'text/plain', ...reply.headers });
        res.end(text);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A TCP listener that misbehaves below HTTP: resets every connection, or never answers. */
export async function startRawServer(mode: 'reset' | 'silent'): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    if (mode === 'reset') s.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A URL on which nothing listens: bind port 0, note the port, close. */
export async function deadUrl(): Promise<string> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `https://127.0.0.1:${port}`;
}

/** A minimal valid Instance as the server would return it. */
export function sampleInstance(name: string, generation = 1): Record<string, unknown> {
  return {
    id: '0b7e9f1c-1111-4a2b-8c3d-000000000001',
    name,
    vip: '10.0.0.10',
    ports: [{ port: 80, protocol: 'tcp' }],
    scheduler: 'rr',
    forwarding: 'nat',
    persistenceTimeoutS: 0,
    backends: [{ id: '0b7e9f1c-2222-4a2b-8c3d-000000000001', ip: '10.1.0.1', port: 8080, weight: 1, enabled: true }],
    healthCheck: { type: 'tcp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 },
    state: 'started',
    labels: { env: 'prod' },
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    generation,
  };
}

/** FlexLB's test/instance_template.json with <NAME> inst1 and <VIP> 192.168.2.1. */
export const FLEXLB_TEMPLATE = {
  name: 'inst1',
  frontend_interface: 'enp4s3',
  frontend_ipaddress: '192.168.2.1',
  frontend_port: 8080,
  frontend_net_prefix: 24,
  frontend_options: '',
  mode: 'tcp',
  state: 'MASTER',
  priority: 100,
  balance: 'roundrobin',
  backend_options: ['httpchk GET /'],
  backend_check_commands: { check_type: 'http-check', commands: ['expect status 200'] },
  backend_default_server: 'inter 2s downinter 5s rise 2 fall 2 slowstart 60s maxconn 2000 maxqueue 2000 weight 100',
  backend_servers: [
    { name: 'app1', ipaddress: '192.168.1.141', port: 30080, options: 'check' },
    { name: 'app2', ipaddress: '192.168.1.142', port: 30080, options: 'check' },
    { name: 'app3', ipaddress: '192.168.1.143', port: 30080, options: 'check' },
  ],
};

export * from './bgp-lab.js';
export * from './ipvs-vm.js';
export * from './netns.js';
