/**
 * The health-check scheduler: keeps one probe loop per target, feeds results to the rise/fall
 * state machine and reports changes. It decides when to probe; the Prober does the I/O; the
 * Clock says what time it is. Nothing here blocks: every probe runs under a deadline, and a
 * probe that outlives it costs its target a failure, never another target's turn.
 */
import { pino, type Logger } from 'pino';
import { ShoalError, type FieldIssue, type Instance } from '@shoal/model';
import { systemClock, type Clock, type Timer } from './clock.js';
import { HEALTH_CHECKER_DEFAULTS } from './constants.js';
import { createNetProber } from './net-prober.js';
import type { Prober, ProbeResult } from './prober.js';
import { initialHealth, recordProbe, resetCounters, type BackendHealth, type HealthState, type InitialState } from './state-machine.js';
import { checkSignature, healthTargetsOf, targetKey, type ActiveHealthCheck, type HealthTarget } from './targets.js';

/** Tuning; every field optional, defaults in HEALTH_CHECKER_DEFAULTS. */
export interface HealthCheckerInit {
  /**
   * Probes in flight at once, across all targets; the rest wait their turn in FIFO order.
   * @default 256 (bounds sockets and event-loop work during a mass outage)
   */
  readonly maxConcurrentProbes?: number;
  /**
   * Each interval varies at random by up to ± this fraction (0 .. 0.5); the first probe of a
   * new target comes at a random point within this fraction of its interval.
   * @default 0.1 (targets created together must not probe in lockstep)
   */
  readonly jitterFraction?: number;
  /**
   * State of a backend before its first probe. `down`: reads `unknown`, gets no traffic until
   * the first probe succeeds. `up`: serves at once, goes down after `fall` failures
   * (keepalived's default). Backends whose check is `none` are always `up`.
   * @default 'down' (never send clients to a backend nobody has seen answer)
   */
  readonly initialState?: InitialState;
}

/** Injected dependencies. */
export interface HealthCheckerComponents {
  /** Used as `logger.child({ component: 'health' })`. @default a silent logger */
  readonly logger?: Logger;
  /** @default systemClock (monotonic) */
  readonly clock?: Clock;
  /** @default createNetProber() (real TCP / HTTP / HTTPS) */
  readonly prober?: Prober;
  /** Uniform in [0, 1), for jitter. @default Math.random */
  readonly random?: () => number;
}

export type HealthCheckerOptions = HealthCheckerInit & HealthCheckerComponents;

export interface HealthChange {
  readonly instanceId: string;
  readonly backendId: string;
  readonly from: HealthState;
  readonly to: HealthState;
  /** Why, in words: `3 consecutive failed probes (fall 3); last: HTTP 503`. */
  readonly reason: string;
}

export interface BackendHealthSnapshot {
  readonly instanceId: string;
  readonly backendId: string;
  readonly ip: string;
  readonly port: number;
  readonly checkType: HealthTarget['check']['type'];
  readonly state: HealthState;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly lastProbe?: { readonly ok: boolean; readonly detail: string; readonly durationMs: number };
}

export interface HealthChecker {
  /**
   * The whole desired set (declarative, like MetalLB's `set(advertisements)`): targets not
   * seen before start, targets gone stop, a changed address starts afresh, changed check
   * parameters restart the probe loop but keep the verdict (editing a check's path must not
   * pull a healthy backend out of service).
   */
  setTargets(instances: readonly Instance[]): void;
  /** `unknown` for a backend not yet judged, or not checked at all (stopped, disabled, absent). */
  state(instanceId: string, backendId: string): HealthState;
  /** Every checked backend, in the order they were first seen. */
  states(): BackendHealthSnapshot[];
  /**
   * Called, synchronously, whenever `state()` of a backend changes value: verdicts, a target's
   * appearance when it starts judged (`none` checks, initialState `up`) and its removal
   * (`to: 'unknown'`), so a listener can mirror every state from events alone.
   * @returns a function that unsubscribes
   */
  onChange(listener: (change: HealthChange) => void): () => void;
  /** Cancels every timer and probe; resolves when the probes in flight have let go. */
  close(): Promise<void>;
}

interface TargetRecord {
  target: HealthTarget;
  signature: string;
  health: BackendHealth;
  /** The timer that will request the next probe. */
  timer: Timer | undefined;
  /** Waiting in the queue for a concurrency slot. */
  queued: boolean;
  /** The prober's promise has not settled: no new probe may start (no overlap). */
  unsettled: boolean;
  /** A probe was due while the previous one was still unsettled. */
  probeDue: boolean;
  /** When the latest probe started, and its timeout (for the unsettled-probe warning). */
  probeStartedAt: number;
  probeTimeoutMs: number;
  abort: AbortController | undefined;
  /** Bumped on restart and removal; results of probes started under an older epoch are dropped. */
  epoch: number;
  removed: boolean;
  lastProbe: BackendHealthSnapshot['lastProbe'];
}

export function createHealthChecker(options: HealthCheckerOptions = {}): HealthChecker {
  const maxConcurrentProbes = options.maxConcurrentProbes ?? HEALTH_CHECKER_DEFAULTS.maxConcurrentProbes;
  const jitterFraction = options.jitterFraction ?? HEALTH_CHECKER_DEFAULTS.jitterFraction;
  const initialState = options.initialState ?? HEALTH_CHECKER_DEFAULTS.initialState;
  validate(maxConcurrentProbes, jitterFraction, initialState);
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'health' });
  const clock = options.clock ?? systemClock;
  const prober = options.prober ?? createNetProber();
  const random = options.random ?? Math.random;

  const records = new Map<string, TargetRecord>();
  const queue: TargetRecord[] = [];
  const listeners = new Set<(change: HealthChange) => void>();
  const pendingProbes = new Set<Promise<void>>();
  let active = 0;
  let closed = false;

  function emit(changes: readonly HealthChange[]): void {
    for (const change of changes) {
      for (const listener of [...listeners]) {
        if (closed) return; // a listener closed the checker
        try {
          listener(change);
        } catch (err) {
          log.error({ err, instanceId: change.instanceId, backendId: change.backendId }, 'health change listener threw');
        }
      }
    }
  }

  function changeOf(t: HealthTarget, from: HealthState, to: HealthState, reason: string): HealthChange[] {
    if (from === to) return [];
    log.info({ instanceId: t.instanceId, backendId: t.backendId, ip: t.ip, port: t.port, from, to, reason }, 'backend health changed');
    return [{ instanceId: t.instanceId, backendId: t.backendId, from, to, reason }];
  }

  function jittered(ms: number): number {
    return ms * (1 + jitterFraction * (2 * random() - 1));
  }

  function arm(rec: TargetRecord, delayMs: number): void {
    rec.timer?.cancel();
    rec.timer = clock.setTimer(Math.max(0, delayMs), () => {
      rec.timer = undefined;
      requestProbe(rec);
    });
  }

  /** Starts a probe loop: first probe soon, spread so that a batch of new targets does not burst. */
  function startLoop(rec: TargetRecord): void {
    if (rec.target.check.type === 'none') return;
    if (rec.queued) return; // its turn comes, and it will probe with the current parameters
    arm(rec, random() * jitterFraction * rec.target.check.intervalMs);
  }

  function stopLoop(rec: TargetRecord): void {
    rec.epoch += 1;
    rec.timer?.cancel();
    rec.timer = undefined;
    rec.abort?.abort();
    rec.abort = undefined;
  }

  function requestProbe(rec: TargetRecord): void {
    if (closed || rec.removed) return;
    if (rec.unsettled) {
      // The last probe has not let go yet: wait for it rather than overlap. Right after an
      // abort (a restart) that is a matter of a tick; past its deadline the prober is
      // ignoring its abort signal, which it must not do, so say so.
      rec.probeDue = true;
      if (clock.now() - rec.probeStartedAt > rec.probeTimeoutMs) {
        log.warn({ instanceId: rec.target.instanceId, backendId: rec.target.backendId }, 'previous probe still unsettled after its deadline; next probe deferred');
      }
      return;
    }
    if (active < maxConcurrentProbes) {
      startProbe(rec);
    } else {
      rec.queued = true;
      queue.push(rec);
    }
  }

  function drainQueue(): void {
    while (!closed && active < maxConcurrentProbes) {
      const rec = queue.shift();
      if (rec === undefined) return;
      rec.queued = false;
      if (rec.removed || rec.target.check.type === 'none') continue;
      requestProbe(rec);
    }
  }

  function startProbe(rec: TargetRecord): void {
    const current = rec.target.check;
    if (current.type === 'none') return;
    // Pinned: the closures below outlive any restart, and hoisted functions lose narrowing.
    const check: ActiveHealthCheck = current;
    active += 1;
    const epoch = rec.epoch;
    const startedAt = clock.now();
    const abort = new AbortController();
    rec.abort = abort;
    rec.unsettled = true;
    rec.probeStartedAt = startedAt;
    rec.probeTimeoutMs = check.timeoutMs;
    let slotHeld = true;
    let concluded = false;

    // Our own deadline, on our clock: a prober that overruns its timeout still costs only a
    // failure for this target, and its concurrency slot goes back to the others.
    const deadline = clock.setTimer(check.timeoutMs, () => {
      conclude({ ok: false, detail: `timeout after ${check.timeoutMs} ms` });
      abort.abort();
    });

    function conclude(result: ProbeResult): void {
      if (concluded) return;
      concluded = true;
      deadline.cancel();
      if (rec.abort === abort) rec.abort = undefined;
      if (slotHeld) {
        slotHeld = false;
        active -= 1;
      }
      if (!closed && rec.epoch === epoch && !rec.removed) applyResult(rec, check, result, startedAt);
      drainQueue();
    }

    function settled(): void {
      // Only one probe per target is ever unsettled, so this one is it.
      rec.unsettled = false;
      if (rec.probeDue) {
        rec.probeDue = false;
        requestProbe(rec);
      }
    }

    let probe: Promise<ProbeResult>;
    try {
      probe = prober.probe({ ip: rec.target.ip, port: rec.target.port, check }, abort.signal);
    } catch (err) {
      probe = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const done = probe.then(
      (result) => { settled(); conclude(result); },
      (err: unknown) => {
        log.error({ err, instanceId: rec.target.instanceId, backendId: rec.target.backendId }, 'prober rejected; counted as a failure');
        settled();
        conclude({ ok: false, detail: `prober error: ${err instanceof Error ? err.message : String(err)}` });
      },
    );
    const tracked = done
      .catch((err: unknown) => { log.error({ err }, 'health scheduler failed handling a probe result'); })
      .finally(() => { pendingProbes.delete(tracked); });
    pendingProbes.add(tracked);
  }

  function applyResult(rec: TargetRecord, check: ActiveHealthCheck, result: ProbeResult, startedAt: number): void {
    const now = clock.now();
    const t = rec.target;
    rec.lastProbe = { ok: result.ok, detail: result.detail, durationMs: now - startedAt };
    log.debug({ instanceId: t.instanceId, backendId: t.backendId, ip: t.ip, port: t.port, ok: result.ok, detail: result.detail }, 'probe');
    const from = rec.health.state;
    const step = recordProbe(rec.health, result.ok, check);
    rec.health = step.health;
    // Start to start, not end to start: detection then takes fall x interval (+ timeout), not
    // fall x (interval + probe time). timeoutMs <= intervalMs (the model checks it), so the
    // probe that just ended cannot overlap the next.
    arm(rec, startedAt + jittered(check.intervalMs) - now);
    if (step.reason !== undefined) emit(changeOf(t, from, step.health.state, `${step.reason}; last: ${result.detail}`));
  }

  function add(target: HealthTarget): HealthChange[] {
    const health: BackendHealth = target.check.type === 'none' ? { state: 'up', successes: 0, failures: 0 } : initialHealth(initialState);
    const rec: TargetRecord = {
      target, signature: checkSignature(target.check), health, timer: undefined, queued: false, unsettled: false, probeDue: false,
      probeStartedAt: 0, probeTimeoutMs: 0,
      abort: undefined, epoch: 0, removed: false, lastProbe: undefined,
    };
    records.set(target.key, rec);
    startLoop(rec);
    return changeOf(target, 'unknown', health.state, target.check.type === 'none' ? 'no health check (type none)' : `initial state ${initialState}`);
  }

  function remove(rec: TargetRecord, reason: string): HealthChange[] {
    stopLoop(rec);
    rec.removed = true;
    records.delete(rec.target.key);
    return changeOf(rec.target, rec.health.state, 'unknown', reason);
  }

  function update(rec: TargetRecord, target: HealthTarget): HealthChange[] {
    if (rec.target.ip !== target.ip || rec.target.port !== target.port) {
      // A verdict about one address says nothing about another: judge it afresh.
      const from = rec.health.state;
      stopLoop(rec);
      rec.removed = true;
      records.delete(rec.target.key);
      add(target); // its own unknown -> x change is replaced by the one from the old state
      const to = records.get(target.key)?.health.state ?? 'unknown';
      return changeOf(target, from, to, `address changed to ${target.ip}:${target.port}`);
    }
    const signature = checkSignature(target.check);
    rec.target = target;
    if (signature === rec.signature) return [];
    rec.signature = signature;
    stopLoop(rec);
    const from = rec.health.state;
    if (target.check.type === 'none') {
      rec.health = { state: 'up', successes: 0, failures: 0 };
      return changeOf(target, from, 'up', 'health check removed (type none)');
    }
    rec.health = resetCounters(rec.health);
    startLoop(rec);
    return [];
  }

  return {
    setTargets(instances) {
      if (closed) return;
      const desired = new Map(healthTargetsOf(instances).map((t) => [t.key, t]));
      const changes: HealthChange[] = [];
      for (const rec of [...records.values()]) {
        if (!desired.has(rec.target.key)) changes.push(...remove(rec, 'no longer checked (removed, disabled or stopped)'));
      }
      for (const target of desired.values()) {
        const rec = records.get(target.key);
        changes.push(...(rec === undefined ? add(target) : update(rec, target)));
      }
      // Listeners run after the whole set is applied, so one that reads state() sees it whole.
      emit(changes);
    },

    state(instanceId, backendId) {
      return records.get(targetKey(instanceId, backendId))?.health.state ?? 'unknown';
    },

    states() {
      return [...records.values()].map(({ target: t, health, lastProbe }) => ({
        instanceId: t.instanceId, backendId: t.backendId, ip: t.ip, port: t.port, checkType: t.check.type,
        state: health.state, consecutiveSuccesses: health.successes, consecutiveFailures: health.failures,
        ...(lastProbe === undefined ? {} : { lastProbe }),
      }));
    },

    onChange(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },

    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      for (const rec of records.values()) {
        stopLoop(rec);
        rec.removed = true;
      }
      records.clear();
      queue.length = 0;
      await Promise.allSettled([...pendingProbes]);
    },
  };
}

function validate(maxConcurrentProbes: number, jitterFraction: number, initialState: string): void {
  const issues: FieldIssue[] = [];
  if (!Number.isInteger(maxConcurrentProbes) || maxConcurrentProbes < 1) issues.push({ path: 'maxConcurrentProbes', message: 'must be an integer >= 1' });
  if (!(jitterFraction >= 0 && jitterFraction <= 0.5)) issues.push({ path: 'jitterFraction', message: 'must be between 0 and 0.5' });
  if (initialState !== 'up' && initialState !== 'down') issues.push({ path: 'initialState', message: 'must be "up" or "down"' });
  if (issues.length > 0) throw new ShoalError('E_CONFIG', 'invalid health checker options', { issues });
}
