/**
 * An in-memory network for tests (memberlist mock_transport.go, with yjs-style seeded faults):
 * packets and streams delivered through a Clock after a latency, with seeded packet loss,
 * partitions between groups of endpoints, endpoints disconnected (a killed machine) and
 * endpoints stalled (a process that neither reads nor writes for a while: a GC pause, a starved
 * CPU). With a hand-driven clock and a seed, a whole cluster's run is reproducible.
 *
 * Endpoints are named "address:port"; wherever a name is taken, a bare address matches every
 * port on it.
 */
import { systemClock, type Clock } from '@shoal/model';
import { seededRandom, type Random } from './random.js';
import type { Endpoint, Stream, Transport } from './transport.js';

export interface MemoryNetworkInit {
  /** Seed for the loss PRNG. @default 1 */
  seed?: number;
  /** Fraction of packets dropped (streams are reliable). @default 0 */
  lossRate?: number;
  /** One-way delay of every packet and stream chunk. @default 1 */
  latencyMs?: number;
  /** @default systemClock */
  clock?: Clock;
}

export interface MemoryNetworkStats {
  packetsSent: number;
  packetsDelivered: number;
  packetsDropped: number;
}

export interface MemoryNetwork {
  /** A transport bound at address:port (port 0 picks a free one). Throws if the endpoint is taken. */
  transport(address: string, port: number): Transport;
  /** Nothing passes between an endpoint matching groupA and one matching groupB until heal(). */
  partition(groupA: string[], groupB: string[]): void;
  /** Removes every partition. */
  heal(): void;
  setLoss(rate: number): void;
  setLatency(ms: number): void;
  /** The endpoint neither receives nor sends for `durationMs`; what it missed is delivered after, in order. */
  stall(endpoint: string, durationMs: number): void;
  /** The endpoint is cut off (a pulled cable, a dead machine) until reconnect(). */
  disconnect(endpoint: string): void;
  reconnect(endpoint: string): void;
  readonly stats: MemoryNetworkStats;
}

const keyOf = (ep: Endpoint): string => `${ep.address}:${ep.port}`;
const matches = (pattern: string, ep: Endpoint): boolean => pattern === keyOf(ep) || pattern === ep.address;

interface Stall { until: number; held: (() => void)[] }

class MemoryStream implements Stream {
  readonly remote: Endpoint;
  peer: MemoryStream | undefined;
  readonly #owner: MemoryTransport;
  readonly #net: Network;
  #dataListener: ((chunk: Uint8Array) => void) | undefined;
  #closeListener: (() => void) | undefined;
  #pending: Uint8Array[] = [];
  /** No more writes or deliveries (set at once by end/destroy). */
  #closed = false;
  /** The close listener has run (after the close reached this side). */
  #notified = false;

  constructor(owner: MemoryTransport, remote: Endpoint, net: Network) {
    this.#owner = owner;
    this.remote = remote;
    this.#net = net;
    owner.streams.add(this);
  }

  write(data: Uint8Array): void {
    const peer = this.peer;
    if (this.#closed || peer === undefined) return;
    const copy = data.slice();
    this.#net.streamSend(this.#owner, peer.#owner, () => {
      peer.receive(copy);
    });
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.#closed) return;
    const peer = this.peer;
    if (peer !== undefined) {
      this.#net.streamSend(this.#owner, peer.#owner, () => {
        peer.closeLocal();
      });
    }
    this.#net.clock.setTimeout(() => {
      this.closeLocal();
    }, 0);
    this.#closed = true;
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.#dataListener = listener;
    const pending = this.#pending;
    this.#pending = [];
    for (const c of pending) listener(c);
  }

  onClose(listener: () => void): void {
    this.#closeListener = listener;
  }

  receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#dataListener === undefined) this.#pending.push(chunk);
    else this.#dataListener(chunk);
  }

  closeLocal(): void {
    this.#closed = true;
    if (this.#notified) return;
    this.#notified = true;
    this.#owner.streams.delete(this);
    this.#closeListener?.();
  }
}

class MemoryTransport implements Transport {
  readonly address: string;
  readonly port: number;
  readonly streams = new Set<MemoryStream>();
  packetListener: (data: Uint8Array, from: Endpoint) => void = () => undefined;
  streamListener: (stream: Stream) => void = (s) => {
    s.destroy();
  };
  errorListener: (err: Error) => void = () => undefined;
  closed = false;
  readonly #net: Network;

  constructor(net: Network, address: string, port: number) {
    this.#net = net;
    this.address = address;
    this.port = port;
  }

  sendPacket(to: Endpoint, data: Uint8Array): void {
    if (this.closed) return;
    this.#net.sendPacket(this, to, data.slice());
  }

  onPacket(listener: (data: Uint8Array, from: Endpoint) => void): void {
    this.packetListener = listener;
  }

  dialStream(to: Endpoint, timeoutMs: number): Promise<Stream> {
    if (this.closed) return Promise.reject(new Error('transport closed'));
    return this.#net.dial(this, to, timeoutMs);
  }

  onStream(listener: (stream: Stream) => void): void {
    this.streamListener = listener;
  }

  onError(listener: (err: Error) => void): void {
    this.errorListener = listener;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.#net.remove(this);
      for (const s of [...this.streams]) s.destroy();
    }
    return Promise.resolve();
  }
}

class Network implements MemoryNetwork {
  readonly clock: Clock;
  readonly stats: MemoryNetworkStats = { packetsSent: 0, packetsDelivered: 0, packetsDropped: 0 };
  readonly #random: Random;
  #loss: number;
  #latency: number;
  readonly #endpoints = new Map<string, MemoryTransport>();
  #cuts: [string[], string[]][] = [];
  readonly #disconnected = new Set<string>();
  readonly #stalls = new Map<string, Stall>();
  #nextPort = 40_000;

  constructor(init: MemoryNetworkInit) {
    this.clock = init.clock ?? systemClock;
    this.#random = seededRandom(init.seed ?? 1);
    this.#loss = init.lossRate ?? 0;
    this.#latency = init.latencyMs ?? 1;
  }

  transport(address: string, port: number): Transport {
    let p = port;
    if (p === 0) {
      while (this.#endpoints.has(`${address}:${this.#nextPort}`)) this.#nextPort++;
      p = this.#nextPort++;
    }
    const key = `${address}:${p}`;
    if (this.#endpoints.has(key)) throw new Error(`memory network: ${key} is already bound`);
    const t = new MemoryTransport(this, address, p);
    this.#endpoints.set(key, t);
    return t;
  }

  remove(t: MemoryTransport): void {
    if (this.#endpoints.get(keyOf(t)) === t) this.#endpoints.delete(keyOf(t));
  }

  partition(groupA: string[], groupB: string[]): void {
    this.#cuts.push([[...groupA], [...groupB]]);
  }

  heal(): void {
    this.#cuts = [];
  }

  setLoss(rate: number): void {
    this.#loss = rate;
  }

  setLatency(ms: number): void {
    this.#latency = ms;
  }

  disconnect(endpoint: string): void {
    this.#disconnected.add(endpoint);
  }

  reconnect(endpoint: string): void {
    this.#disconnected.delete(endpoint);
  }

  stall(endpoint: string, durationMs: number): void {
    const until = this.clock.now() + durationMs;
    for (const t of this.#endpoints.values()) {
      if (!matches(endpoint, t)) continue;
      const key = keyOf(t);
      const s = this.#stalls.get(key);
      if (s !== undefined) {
        s.until = Math.max(s.until, until);
        continue;
      }
      this.#stalls.set(key, { until, held: [] });
      this.#armStallEnd(key, durationMs);
    }
  }

  #armStallEnd(key: string, ms: number): void {
    this.clock.setTimeout(() => {
      const s = this.#stalls.get(key);
      if (s === undefined) return;
      const left = s.until - this.clock.now();
      if (left > 0) {
        this.#armStallEnd(key, left);
        return;
      }
      this.#stalls.delete(key);
      for (const fn of s.held) fn();
    }, ms);
  }

  #isDisconnected(ep: Endpoint): boolean {
    for (const d of this.#disconnected) if (matches(d, ep)) return true;
    return false;
  }

  #reachable(a: Endpoint, b: Endpoint): boolean {
    if (this.#isDisconnected(a) || this.#isDisconnected(b)) return false;
    const inGroup = (g: string[], ep: Endpoint) => g.some((p) => matches(p, ep));
    return !this.#cuts.some(([ga, gb]) => (inGroup(ga, a) && inGroup(gb, b)) || (inGroup(ga, b) && inGroup(gb, a)));
  }

  /** Runs `fn` at the receiver after the latency; a stalled sender sends late, a stalled receiver reads late. */
  #deliver(from: Endpoint, to: Endpoint, fn: () => void): void {
    const arrive = () => {
      const s = this.#stalls.get(keyOf(to));
      if (s === undefined) fn();
      else s.held.push(fn);
    };
    const send = () => {
      this.clock.setTimeout(arrive, this.#latency);
    };
    const s = this.#stalls.get(keyOf(from));
    if (s === undefined) send();
    else s.held.push(send);
  }

  sendPacket(from: MemoryTransport, to: Endpoint, data: Uint8Array): void {
    this.stats.packetsSent++;
    if (!this.#reachable(from, to) || (this.#loss > 0 && this.#random() < this.#loss)) {
      this.stats.packetsDropped++;
      return;
    }
    const source: Endpoint = { address: from.address, port: from.port };
    this.#deliver(from, to, () => {
      const target = this.#endpoints.get(keyOf(to));
      if (target === undefined || target.closed || this.#isDisconnected(target)) {
        this.stats.packetsDropped++;
        return;
      }
      this.stats.packetsDelivered++;
      target.packetListener(data, source);
    });
  }

  streamSend(from: MemoryTransport, to: MemoryTransport, fn: () => void): void {
    // A partition loses stream bytes too; the reader's timeout notices, as with TCP.
    if (!this.#reachable(from, to)) return;
    this.#deliver(from, to, fn);
  }

  dial(from: MemoryTransport, to: Endpoint, timeoutMs: number): Promise<Stream> {
    return new Promise((resolve, reject) => {
      const target = this.#endpoints.get(keyOf(to));
      if (target === undefined || target.closed) {
        this.clock.setTimeout(() => {
          reject(new Error(`connect ECONNREFUSED ${keyOf(to)}`));
        }, this.#latency);
        return;
      }
      if (!this.#reachable(from, to)) {
        this.clock.setTimeout(() => {
          reject(new Error(`connect to ${keyOf(to)} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        return;
      }
      this.clock.setTimeout(() => {
        if (target.closed) {
          reject(new Error(`connect ECONNREFUSED ${keyOf(to)}`));
          return;
        }
        const local = new MemoryStream(from, { address: target.address, port: target.port }, this);
        const remote = new MemoryStream(target, { address: from.address, port: from.port }, this);
        local.peer = remote;
        remote.peer = local;
        this.#deliver(from, target, () => {
          target.streamListener(remote);
        });
        resolve(local);
      }, this.#latency);
    });
  }
}

export function createMemoryNetwork(opts: MemoryNetworkInit = {}): MemoryNetwork {
  return new Network(opts);
}
