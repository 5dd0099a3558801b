import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readdirSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import sys from 'syscall-napi';

import { BgpError } from '../src/errors.js';
import { createBgpSpeaker } from '../src/speaker.js';
import { createTcpTransport, normalizeSocketAddress } from '../src/tcp-transport.js';
import type { BgpConnection } from '../src/transport.js';
import { testLogger } from './speaker-fakes.js';

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return done();
}

/** The IP_TTL (or IPV6_UNICAST_HOPS) of every socket this process holds. */
function socketTtls(ipv6: boolean): number[] {
  const out: number[] = [];
  const nr = sys.__NR_getsockopt;
  if (nr === undefined) return out;
  for (const name of readdirSync('/proc/self/fd')) {
    const value = Buffer.alloc(4);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(4);
    try {
      sys.syscall.sync(nr, BigInt(name), ipv6 ? 41n : 0n, ipv6 ? 16n : 2n, value, length);
      out.push(value.readInt32LE());
    } catch {
      // not a socket, or not of that family
    }
  }
  return out;
}

async function pair(host: string, ttl?: number): Promise<{ client: BgpConnection; server: BgpConnection; close: () => Promise<void> }> {
  const transport = createTcpTransport({ logger: testLogger() });
  let server: BgpConnection | undefined;
  const listener = await transport.listen({ port: 0, addresses: [host] }, (c) => {
    server = c;
  });
  const client = await transport.connect({ remoteAddress: host, remotePort: listener.port, localAddress: host, ...(ttl === undefined ? {} : { ttl }) });
  assert.ok(await waitFor(() => server !== undefined, 2000));
  return { client, server: server as unknown as BgpConnection, close: () => listener.close() };
}

test('IPv4-mapped addresses are reported as IPv4, IPv6 canonically', () => {
  assert.equal(normalizeSocketAddress('::ffff:10.240.0.2'), '10.240.0.2');
  assert.equal(normalizeSocketAddress('FD00:240:0::2'), 'fd00:240::2');
  assert.equal(normalizeSocketAddress('10.0.0.1'), '10.0.0.1');
});

test('TCP: a connection with a TTL and a bound source address carries bytes both ways and reports its close', async () => {
  const { client, server, close } = await pair('127.0.0.1', 7);
  assert.equal(client.localAddress, '127.0.0.1');
  assert.equal(client.remoteAddress, '127.0.0.1');
  assert.equal(server.remotePort, client.localPort);
  assert.ok(socketTtls(false).includes(7), 'the connecting socket has IP_TTL 7');
  const got: number[] = [];
  server.onData((chunk) => got.push(...chunk));
  client.write(Uint8Array.of(1, 2, 3));
  assert.ok(await waitFor(() => got.length === 3, 2000));
  assert.equal(server.setTtl?.(5), true, 'TTL of an accepted connection');
  assert.ok(socketTtls(false).includes(5));
  let closed = false;
  server.onClose(() => {
    closed = true;
  });
  client.end();
  assert.ok(await waitFor(() => closed, 2000));
  await close();
});

test('TCP over IPv6 loopback with a hop limit', async (t) => {
  let conn: Awaited<ReturnType<typeof pair>>;
  try {
    conn = await pair('::1', 9);
  } catch (err) {
    t.skip(`no IPv6 loopback here: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  assert.equal(conn.client.remoteAddress, '::1');
  assert.ok(socketTtls(true).includes(9), 'the connecting socket has IPV6_UNICAST_HOPS 9');
  conn.client.destroy();
  await conn.close();
});

test('TCP: a refused connect rejects with E_BGP_SOCKET and the errno', async () => {
  const transport = createTcpTransport();
  const probe = await transport.listen({ port: 0, addresses: ['127.0.0.1'] }, () => undefined);
  const port = probe.port;
  await probe.close();
  await assert.rejects(transport.connect({ remoteAddress: '127.0.0.1', remotePort: port, ttl: 64 }), (e: unknown) => e instanceof BgpError && e.code === 'E_BGP_SOCKET' && /ECONNREFUSED/.test(e.message));
});

test('two speakers over real TCP on 127.0.0.1 establish, announce, and end with Cease', async () => {
  const transport = createTcpTransport({ logger: testLogger() });
  const probe = await transport.listen({ port: 0, addresses: ['127.0.0.1'] }, () => undefined);
  const port = probe.port;
  await probe.close();
  const router = createBgpSpeaker(
    { asn: 4200000001, routerId: '10.0.0.1', listen: { port, addresses: ['127.0.0.1'] }, peers: [{ address: '127.0.0.1', asn: 64512, holdTimeS: 3, passive: true }] },
    { logger: testLogger(), transport },
  );
  const speaker = createBgpSpeaker(
    { asn: 64512, routerId: '10.0.0.2', listen: false, peers: [{ address: '127.0.0.1', port, asn: 4200000001, holdTimeS: 3, ttl: 64, localAddress: '127.0.0.1' }] },
    { logger: testLogger(), transport },
  );
  try {
    await router.start();
    await speaker.start();
    speaker.setRoutes([{ prefix: { family: 'ipv4', address: '10.96.0.10', length: 32 } }]);
    assert.ok(await waitFor(() => speaker.peers()[0]?.state === 'Established' && router.peers()[0]?.state === 'Established', 3000));
    assert.ok(await waitFor(() => speaker.peers()[0]?.routesAdvertised === 1, 1000));
    assert.ok(await waitFor(() => (router.peers()[0]?.counters.updatesIn ?? 0) >= 2, 1000), 'the route and End-of-RIB arrived');
    await speaker.stop();
    assert.ok(await waitFor(() => router.peers()[0]?.lastNotificationReceived !== undefined, 2000));
    assert.equal(router.peers()[0]?.lastNotificationReceived?.text, 'Cease/Administrative Shutdown');
  } finally {
    await speaker.stop();
    await router.stop();
  }
});

test('TCP: a peer that stops reading is reset once more than maxQueuedBytes wait, instead of growing memory', async () => {
  // The peer: accepts and never reads (pauseOnConnect), like a hostile router that keeps the connection open.
  const held: Socket[] = [];
  const deaf = createServer({ pauseOnConnect: true }, (s) => {
    s.on('error', () => undefined);
    held.push(s);
  });
  await new Promise<void>((resolve) => deaf.listen(0, '127.0.0.1', resolve));
  const address = deaf.address();
  assert.ok(address !== null && typeof address === 'object');
  const transport = createTcpTransport({ logger: testLogger(), maxQueuedBytes: 256 * 1024 });
  const client = await transport.connect({ remoteAddress: '127.0.0.1', remotePort: address.port });
  let closedWith: Error | undefined;
  let closed = false;
  client.onClose((err) => {
    closed = true;
    closedWith = err;
  });
  try {
    const chunk = new Uint8Array(64 * 1024);
    // Far more than the kernel's socket buffers take (a few MB each way on loopback).
    for (let i = 0; i < 2048 && !closed; i++) {
      client.write(chunk);
      if (i % 64 === 63) await new Promise((r) => setImmediate(r));
    }
    assert.ok(await waitFor(() => closed, 5000), 'the connection was reset');
    assert.ok(closedWith instanceof BgpError && closedWith.code === 'E_BGP_SOCKET', String(closedWith));
    assert.match(closedWith.message, /not reading/);
  } finally {
    client.destroy();
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => deaf.close(() => resolve()));
  }
});
