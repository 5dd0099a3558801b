/** Test support: a hand-driven clock, a silent logger, seeded clusters on the memory network. */
import { pino, type Logger } from 'pino';
import { createMemoryNetwork, createSwim, Keyring, swimConfig, type Clock, type Member, type MemoryNetwork, type Swim, type SwimConfig, type SwimEvent, type Transport } from '../src/index.js';
import { seededRandom } from '../src/random.js';

/** One real event-loop turn: lets every promise chain a timer started run out. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface PendingTimer { due: number; seq: number; fn: () => void; cancelled: boolean }

/**
 * Time moves only in advance(); timers due at the same moment run in the order they were set,
 * and after each one the promise chains it started run out before the next (as with real time).
 */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #heap: PendingTimer[] = [];
  timersRun = 0;

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t: PendingTimer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#push(t);
    return t;
  }

  clearTimeout(handle: unknown): void {
    if (handle !== null && typeof handle === 'object' && 'cancelled' in handle) (handle as PendingTimer).cancelled = true;
  }

  get pending(): number {
    return this.#heap.filter((t) => !t.cancelled).length;
  }

  /** Runs every timer due within `ms`, in order, then sets the time to now + ms. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await flush();
    for (;;) {
      const next = this.#heap[0];
      if (next === undefined || next.due > end) break;
      this.#pop();
      if (next.cancelled) continue;
      this.#now = Math.max(this.#now, next.due);
      this.timersRun++;
      next.fn();
      await flush();
    }
    this.#now = end;
    await flush();
  }

  /** Advances in `stepMs` steps until `done()` or `maxMs` elapsed; returns whether it became true. */
  async advanceUntil(done: () => boolean, maxMs: number, stepMs = 10): Promise<boolean> {
    const end = this.#now + maxMs;
    while (this.#now < end) {
      if (done()) return true;
      await this.advance(Math.min(stepMs, end - this.#now));
    }
    return done();
  }

  /** Advances until the promise settles (bounded); returns its value or rethrows. */
  async settle<T>(p: Promise<T>, maxMs = 60_000): Promise<T> {
    const box: { state: 'pending' | 'ok' | 'err'; value?: T; error?: unknown } = { state: 'pending' };
    p.then((v) => { box.state = 'ok'; box.value = v; }, (e: unknown) => { box.state = 'err'; box.error = e; });
    await this.advanceUntil(() => box.state !== 'pending', maxMs, 5);
    if (box.state === 'ok') return box.value as T;
    if (box.state === 'err') throw box.error;
    throw new Error(`promise still pending after ${maxMs} ms of clock time`);
  }

  #less(a: PendingTimer, b: PendingTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  #push(t: PendingTimer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** Silent unless SWIM_TEST_LOG=debug (or another pino level) is set. */
export function testLogger(): Logger {
  return pino({ level: process.env.SWIM_TEST_LOG ?? 'silent' });
}

export const TEST_KEY = new Uint8Array(32).fill(7);

export interface Observed {
  at: number;
  event: SwimEvent;
  member: string;
  incarnation: number;
  meta: Readonly<Record<string, string>>;
}

export interface TestNode {
  name: string;
  address: string;
  port: number;
  swim: Swim;
  transport: Transport;
  keyring: Keyring;
  events: Observed[];
}

const EVENTS: SwimEvent[] = ['join', 'suspect', 'alive', 'dead', 'leave', 'update'];

export interface ClusterOptions {
  seed?: number;
  lossRate?: number;
  latencyMs?: number;
  profile?: 'lan' | 'local';
  config?: Partial<SwimConfig>;
}

/** A seeded cluster on the memory network with a manual clock: node i is node-i at 10.0.0.(i+1):7946. */
export class Cluster {
  readonly clock = new ManualClock();
  readonly net: MemoryNetwork;
  readonly nodes: TestNode[] = [];
  readonly config: SwimConfig;
  readonly #seed: number;
  readonly #logger = testLogger();

  constructor(opts: ClusterOptions = {}) {
    this.#seed = opts.seed ?? 1;
    this.net = createMemoryNetwork({ seed: this.#seed, lossRate: opts.lossRate ?? 0, latencyMs: opts.latencyMs ?? 2, clock: this.clock });
    this.config = swimConfig(opts.profile ?? 'lan', opts.config);
  }

  static address(i: number): string {
    return `10.0.0.${i + 1}`;
  }

  /** Starts node i (a restart if it ran before: same name and address, fresh state). */
  start(i: number, opts: { meta?: Record<string, string>; keyring?: Keyring } = {}): TestNode {
    const name = `node-${i}`;
    const address = Cluster.address(i);
    const transport = this.net.transport(address, 7946);
    const keyring = opts.keyring ?? new Keyring(TEST_KEY);
    const restarts = this.nodes.filter((n) => n.name === name).length;
    const swim = createSwim({
      name, config: this.config, keyring, logger: this.#logger, transport, clock: this.clock,
      random: seededRandom(this.#seed * 7919 + i * 104_729 + restarts), ...(opts.meta === undefined ? {} : { meta: opts.meta }),
    });
    const node: TestNode = { name, address, port: 7946, swim, transport, keyring, events: [] };
    for (const event of EVENTS) {
      swim.on(event, (m: Member) => node.events.push({ at: this.clock.now(), event, member: m.name, incarnation: m.incarnation, meta: m.meta }));
    }
    const old = this.nodes.findIndex((n) => n.name === name);
    if (old >= 0) this.nodes[old] = node;
    else this.nodes.push(node);
    return node;
  }

  node(i: number): TestNode {
    const n = this.nodes.find((x) => x.name === `node-${i}`);
    if (n === undefined) throw new Error(`node-${i} not started`);
    return n;
  }

  /** Starts n nodes; each joins through node-0. */
  async startAll(n: number, opts: { meta?: (i: number) => Record<string, string> } = {}): Promise<void> {
    for (let i = 0; i < n; i++) {
      const meta = opts.meta?.(i);
      const node = this.start(i, meta === undefined ? {} : { meta });
      if (i > 0) await this.clock.settle(node.swim.join([`${Cluster.address(0)}:7946`]));
    }
  }

  /** Every node in `live` sees every node in `live` alive. */
  converged(live: TestNode[] = this.nodes): boolean {
    return live.every((a) => live.every((b) => a.swim.member(b.name)?.state === 'alive'));
  }

  /** Cut off and stopped, without a leave: a crashed machine. */
  async kill(i: number): Promise<void> {
    const node = this.node(i);
    this.net.disconnect(`${node.address}:${node.port}`);
    await node.swim.shutdown();
  }

  async shutdown(): Promise<void> {
    for (const n of this.nodes) await n.swim.shutdown();
  }

  /** Every 'dead' event across the cluster. */
  deadEvents(): { observer: string; e: Observed }[] {
    return this.nodes.flatMap((n) => n.events.filter((e) => e.event === 'dead').map((e) => ({ observer: n.name, e })));
  }
}
