/**
 * Real UDP and TCP on 127.0.0.1, ports chosen by the kernel. Bounds here are generous (CI has
 * two busy cores); the timing-sensitive logic is covered with the fake clock in cluster.test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createSwim, createUdpTcpTransport, Keyring, swimConfig, type Member, type Stream, type Swim, type SwimStats, type Transport } from '../src/index.js';
import { encodeFrame, newBootId, seal } from '../src/security.js';
import { suspicionTimeoutMs } from '../src/suspicion.js';
import { TEST_KEY, testLogger } from './fakes.js';

/** A transport that keeps a copy of everything it receives (packets, and inbound stream bytes). */
function tap(inner: Transport): { transport: Transport; packets: Uint8Array[]; inboundStreams: Uint8Array[][] } {
  const packets: Uint8Array[] = [];
  const inboundStreams: Uint8Array[][] = [];
  const transport: Transport = {
    get address() { return inner.address; },
    get port() { return inner.port; },
    sendPacket: (to, data) => { inner.sendPacket(to, data); },
    onPacket: (listener) => {
      inner.onPacket((data, from) => {
        packets.push(Uint8Array.from(data));
        listener(data, from);
      });
    },
    dialStream: (to, ms) => inner.dialStream(to, ms),
    onStream: (listener) => {
      inner.onStream((s) => {
        const chunks: Uint8Array[] = [];
        inboundStreams.push(chunks);
        const tapped: Stream = {
          remote: s.remote,
          write: (d) => { s.write(d); },
          end: () => { s.end(); },
          destroy: () => { s.destroy(); },
          onData: (l) => {
            s.onData((c) => {
              chunks.push(Uint8Array.from(c));
              l(c);
            });
          },
          onClose: (l) => { s.onClose(l); },
        };
        listener(tapped);
      });
    },
    onError: (l) => { inner.onError(l); },
    close: () => inner.close(),
  };
  return { transport, packets, inboundStreams };
}

interface RealNode { swim: Swim; port: number; events: { event: string; member: string }[]; tapped: ReturnType<typeof tap> }

const config = swimConfig('local');

async function startNode(name: string): Promise<RealNode> {
  const tapped = tap(await createUdpTcpTransport({ bindAddress: '127.0.0.1', bindPort: 0 }));
  const swim = createSwim({ name, config, keyring: new Keyring(TEST_KEY), logger: testLogger(), transport: tapped.transport });
  const events: RealNode['events'] = [];
  for (const event of ['join', 'suspect', 'alive', 'dead', 'leave', 'update'] as const) swim.on(event, (m: Member) => events.push({ event, member: m.name }));
  return { swim, port: tapped.transport.port, events, tapped };
}

async function eventually(check: () => boolean, boundMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > boundMs) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - start;
}

const allAlive = (nodes: RealNode[]) => nodes.every((a) => nodes.every((b) => a.swim.member(b.swim.name)?.state === 'alive'));
const drops = (s: SwimStats) => s.dropped.decrypt + s.dropped.malformed + s.dropped.replay + s.dropped.tooLarge;

test('three members with the local profile on real sockets join and converge', async () => {
  const nodes = [await startNode('a'), await startNode('b'), await startNode('c')];
  try {
    assert.equal(nodes[0]?.port, nodes[0]?.tapped.transport.port);
    assert.equal(await nodes[1]?.swim.join([`127.0.0.1:${nodes[0]?.port}`]), 1);
    assert.equal(await nodes[2]?.swim.join([`127.0.0.1:${nodes[1]?.port}`]), 1);
    await eventually(() => allAlive(nodes), 15_000, 'convergence');
    for (const n of nodes) {
      assert.deepEqual(n.events.filter((e) => e.event === 'join').map((e) => e.member).sort(), nodes.map((x) => x.swim.name).filter((x) => x !== n.swim.name));
      assert.deepEqual(n.events.filter((e) => e.event === 'dead'), []);
    }
  } finally {
    for (const n of nodes) await n.swim.shutdown();
  }
});

test('a member that stops without leaving is declared dead by the others on real sockets', async () => {
  const nodes = [await startNode('a'), await startNode('b'), await startNode('c')];
  try {
    await nodes[1]?.swim.join([`127.0.0.1:${nodes[0]?.port}`]);
    await nodes[2]?.swim.join([`127.0.0.1:${nodes[0]?.port}`]);
    await eventually(() => allAlive(nodes), 15_000, 'convergence');
    const [a, b, c] = nodes as [RealNode, RealNode, RealNode];
    await c.swim.shutdown();
    // Each survivor probes it within two rounds; then the suspicion runs at most the Lifeguard maximum.
    const bound = 3 * config.probeIntervalMs + config.suspicionMaxTimeoutMult * suspicionTimeoutMs(config.suspicionMult, 3, config.probeIntervalMs) + 2000;
    await eventually(() => a.swim.member('c')?.state === 'dead' && b.swim.member('c')?.state === 'dead', bound, 'dead everywhere');
    for (const n of [a, b]) {
      const aboutC = n.events.filter((e) => e.member === 'c').map((e) => e.event);
      assert.equal(aboutC.at(-1), 'dead');
      assert.equal(aboutC.at(-2), 'suspect', `suspected before declared dead: ${aboutC.join(',')}`);
    }
    // The survivors never declared each other dead (a CI hiccup may cost a refuted suspicion, no more).
    await eventually(() => a.swim.member('b')?.state === 'alive' && b.swim.member('a')?.state === 'alive', 15_000, 'survivors alive to each other');
    assert.deepEqual([...a.events, ...b.events].filter((e) => e.event === 'dead' && e.member !== 'c'), []);
  } finally {
    for (const n of nodes) await n.swim.shutdown();
  }
});

/** Sends one UDP datagram from a throwaway socket. */
async function sendUdp(port: number, data: Uint8Array): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.send(data, port, '127.0.0.1', (err) => { if (err) reject(err); else resolve(); }); });
  s.close();
}

/** Writes bytes on a fresh TCP connection and reports whether the member hung up on us. */
async function sendTcp(port: number, data: Uint8Array, holdMs = 1500): Promise<'closed by member' | 'still open'> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); resolve('still open'); }, holdMs);
    sock.on('error', reject);
    sock.on('connect', () => { sock.write(data); });
    sock.on('close', () => { clearTimeout(timer); resolve('closed by member'); });
    sock.resume();
  });
}

test('garbage, truncated, replayed, oversized and wrongly keyed input on UDP and TCP is counted and dropped; membership holds and the member still serves', async () => {
  const a = await startNode('a');
  const b = await startNode('b');
  try {
    await b.swim.join([`127.0.0.1:${a.port}`]);
    await eventually(() => allAlive([a, b]) && a.tapped.packets.length > 0, 15_000, 'convergence and some traffic');
    const wrongKey = new Keyring(new Uint8Array(32).fill(0xee));
    const membership = () => a.swim.members().map((m) => `${m.name}:${m.state}`);
    const before = membership();
    const target = a.port;

    const expectDrop = async (what: string, reason: keyof SwimStats['dropped'], send: () => Promise<unknown>) => {
      const was = a.swim.stats().dropped[reason] ?? 0;
      await send();
      await eventually(() => (a.swim.stats().dropped[reason] ?? 0) > was, 10_000, `${what} counted as ${reason}`);
    };

    // UDP
    const captured = a.tapped.packets.at(-1) ?? new Uint8Array();
    await expectDrop('random bytes', 'malformed', () => sendUdp(target, Uint8Array.from([0x42, ...randomBytes(300)])));
    await expectDrop('random bytes with our version byte', 'decrypt', () => sendUdp(target, Uint8Array.from([1, ...randomBytes(300)])));
    await expectDrop('a truncated valid packet', 'decrypt', () => sendUdp(target, captured.subarray(0, captured.length - 7)));
    await expectDrop('a replayed valid packet', 'replay', () => sendUdp(target, captured));
    await expectDrop('a packet sealed with the wrong key', 'decrypt', () => sendUdp(target, seal(wrongKey, 'packet', { sender: 'b', bootId: newBootId(), seq: 1 }, Uint8Array.from([3, 0, 0, 0, 1]))));
    await expectDrop('an oversized packet', 'tooLarge', () => sendUdp(target, randomBytes(config.udpBufferSize + 100)));

    // TCP
    await eventually(() => a.tapped.inboundStreams.some((s) => s.length > 0), 10_000, 'an inbound push-pull to replay');
    const pushPull = Buffer.concat(a.tapped.inboundStreams.find((s) => s.length > 0) ?? []);
    let hungUp: string[] = [];
    const tcp = async (data: Uint8Array) => { hungUp.push(await sendTcp(target, data)); };
    await expectDrop('a length prefix over the frame limit', 'tooLarge', () => tcp(Uint8Array.from([0x7f, 0xff, 0xff, 0xff, ...randomBytes(100)])));
    await expectDrop('a frame of random bytes', 'decrypt', () => tcp(encodeFrame(Uint8Array.from([1, ...randomBytes(200)]))));
    await expectDrop('a frame sealed with the wrong key', 'decrypt', () => tcp(encodeFrame(seal(wrongKey, 'stream', { sender: 'b', bootId: newBootId(), seq: 1 }, Uint8Array.from([8, 0, 0, 0, 0, 0])))));
    await expectDrop('a replayed push-pull frame', 'replay', () => tcp(pushPull));
    await expectDrop('a valid packet sent as a stream frame', 'decrypt', () => tcp(encodeFrame(captured)));
    assert.deepEqual(hungUp, new Array(5).fill('closed by member'), 'every bad stream was closed');
    hungUp = [];
    // A truncated frame then silence: the member waits tcpTimeoutMs and hangs up.
    await tcp(pushPull.subarray(0, pushPull.length - 10));
    assert.deepEqual(hungUp, ['closed by member']);

    // Membership did not move (a loaded CI host may cost a refuted suspicion, never a death) and the member still serves.
    await eventually(() => JSON.stringify(membership()) === JSON.stringify(before), 15_000, 'membership as before');
    assert.deepEqual([...a.events, ...b.events].filter((e) => e.event === 'dead' || e.event === 'leave'), []);
    assert.ok(drops(a.swim.stats()) >= 11);
    const c = await startNode('c');
    try {
      assert.equal(await c.swim.join([`127.0.0.1:${a.port}`]), 1);
      await eventually(() => allAlive([a, b, c]), 15_000, 'a newcomer converges through the attacked member');
    } finally {
      await c.swim.shutdown();
    }
  } finally {
    await a.swim.shutdown();
    await b.swim.shutdown();
  }
});
