/** In-memory stand-ins for the scheduler's tests: a hand-driven clock, a scripted prober, instances. */
import type { Backend, HealthCheck, Instance } from '@shoal/model';
import type { Clock, Prober, ProbeResult, ProbeTarget, Timer } from '../src/index.js';

interface PendingTimer { due: number; seq: number; fn: () => void; cancelled: boolean }

/** One real event-loop turn: lets every promise chain started by a timer or a probe run out. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Time moves only in advance(); timers due at the same moment run in the order they were set. */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: PendingTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const t: PendingTimer = { due: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return { cancel: () => { t.cancelled = true; } };
  }

  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await flush();
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const next = this.#timers.filter((t) => t.due <= end).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#now = end;
    await flush();
  }
}

/**
 * ok / fail: answer at once. hang: answer only when aborted (a well-behaved prober facing a
 * silent backend). stuck: never answer, even when aborted (a broken prober). manual: wait
 * for release().
 */
export type Behaviour = 'ok' | 'fail' | 'hang' | 'stuck' | 'manual';

export interface ProbeCall { readonly addr: string; readonly at: number; readonly target: ProbeTarget; readonly signal: AbortSignal }

export class FakeProber implements Prober {
  readonly calls: ProbeCall[] = [];
  readonly behaviour = new Map<string, Behaviour>();
  defaultBehaviour: Behaviour = 'ok';
  /** Most probes of one address in flight at once, ever; must stay 1. */
  maxPerTarget = 0;
  /** Most probes in flight at once, ever. */
  maxTotal = 0;
  #inFlight = new Map<string, number>();
  #total = 0;
  #manual: { addr: string; resolve: (r: ProbeResult) => void }[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get inFlight(): number {
    return this.#total;
  }

  callsTo(addr: string): ProbeCall[] {
    return this.calls.filter((c) => c.addr === addr);
  }

  /** Answers the oldest manual probe (of `addr`, if given). */
  release(ok: boolean, addr?: string): boolean {
    const i = this.#manual.findIndex((m) => addr === undefined || m.addr === addr);
    const m = this.#manual[i];
    if (m === undefined) return false;
    this.#manual.splice(i, 1);
    m.resolve({ ok, detail: ok ? 'fake ok' : 'fake fail' });
    return true;
  }

  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const addr = `${target.ip}:${target.port}`;
    this.calls.push({ addr, at: this.#clock.now(), target, signal });
    const n = (this.#inFlight.get(addr) ?? 0) + 1;
    this.#inFlight.set(addr, n);
    this.#total += 1;
    this.maxPerTarget = Math.max(this.maxPerTarget, n);
    this.maxTotal = Math.max(this.maxTotal, this.#total);
    const behaviour = this.behaviour.get(addr) ?? this.defaultBehaviour;
    const answer = new Promise<ProbeResult>((resolve) => {
      switch (behaviour) {
        case 'ok':
          resolve({ ok: true, detail: 'fake ok' });
          return;
        case 'fail':
          resolve({ ok: false, detail: 'fake fail' });
          return;
        case 'stuck':
          return;
        case 'manual':
          this.#manual.push({ addr, resolve });
          break;
        case 'hang':
          break;
      }
      signal.addEventListener('abort', () => { resolve({ ok: false, detail: 'aborted' }); }, { once: true });
    });
    return answer.finally(() => {
      this.#inFlight.set(addr, (this.#inFlight.get(addr) ?? 1) - 1);
      this.#total -= 1;
    });
  }
}

export const TCP: HealthCheck = { type: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 };

export function backend(n: number, extra: Partial<Backend> = {}): Backend {
  return { id: `b${n}`, ip: `10.0.0.${n}`, port: 8080, weight: 1, enabled: true, ...extra };
}

export function instance(id: string, backends: readonly Backend[], extra: Partial<Instance> = {}): Instance {
  return {
    id, name: id, vip: '192.0.2.1', ports: [{ port: 80, protocol: 'tcp' }], scheduler: 'rr', forwarding: 'nat',
    persistenceTimeoutS: 0, backends, healthCheck: TCP, state: 'started', labels: {},
    createdAt: '2024-01-01T00:00:00.000Z', updatedAt: '2024-01-01T00:00:00.000Z', generation: 1, ...extra,
  };
}

/** A seeded generator (mulberry32), so jitter tests are deterministic. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
