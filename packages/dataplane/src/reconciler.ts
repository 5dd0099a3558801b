/**
 * Keeps the kernel at the desired state: on every trigger (a store change, a health change,
 * a netlink event) and on a periodic resync, it dumps what the data plane holds, plans the
 * difference and applies it. Runs never overlap; triggers during a run coalesce into one more
 * run, so a burst of 1,000 writes costs two reconciles, not 1,000.
 */
import type { Logger } from 'pino';
import { planChanges, touchedServiceKeys } from './plan.js';
import type { Dataplane, VirtualService } from './types.js';

export interface ReconcilerInit {
  readonly dataplane: Dataplane;
  /** The desired services now (derived from store, health and ownership). */
  readonly desired: () => readonly VirtualService[];
  readonly logger?: Logger;
  /**
   * Full resync period: catches hand-made kernel edits that raised no event.
   * @default 10000 (a deleted service is back within 10 s even without events)
   */
  readonly resyncIntervalMs?: number;
  /**
   * After a failed run, retry after this long (doubling up to the resync period).
   * @default 500
   */
  readonly retryBaseMs?: number;
}

export const RECONCILER_DEFAULTS = { resyncIntervalMs: 10_000, retryBaseMs: 500 } as const;

export interface ReconcileResult {
  readonly changes: number;
  readonly servicesTouched: number;
  readonly durationMs: number;
}

export interface ReconcilerStatus {
  readonly dataplane: Dataplane['kind'];
  readonly runs: number;
  readonly failures: number;
  readonly lastRunAt: string | null;
  readonly lastChanges: number;
  readonly lastDurationMs: number;
  readonly lastError: string | null;
  readonly services: number;
}

export interface Reconciler {
  /** Asks for a reconcile soon; cheap, coalesced. */
  trigger(reason: string): void;
  /** Reconciles now (after any run in progress) and resolves with what it did. */
  reconcileNow(reason?: string): Promise<ReconcileResult>;
  /** Resolves when no run is in progress or pending. */
  idle(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
  status(): ReconcilerStatus;
}

export function createReconciler(init: ReconcilerInit): Reconciler {
  const log = init.logger?.child({ component: 'reconciler', dataplane: init.dataplane.kind });
  const resyncIntervalMs = init.resyncIntervalMs ?? RECONCILER_DEFAULTS.resyncIntervalMs;
  const retryBaseMs = init.retryBaseMs ?? RECONCILER_DEFAULTS.retryBaseMs;
  let running: Promise<ReconcileResult> | null = null;
  let pending = false;
  let pendingReasons = new Set<string>();
  let resyncTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = retryBaseMs;
  let stopped = true;
  let unwatch: (() => void) | undefined;
  const st = { runs: 0, failures: 0, lastRunAt: null as string | null, lastChanges: 0, lastDurationMs: 0, lastError: null as string | null, services: 0 };

  async function runOnce(reasons: readonly string[]): Promise<ReconcileResult> {
    const started = performance.now();
    const desired = init.desired();
    const actual = await init.dataplane.dump();
    const changes = planChanges(desired, actual);
    if (changes.length > 0) await init.dataplane.apply(changes, desired);
    const result = { changes: changes.length, servicesTouched: touchedServiceKeys(changes).size, durationMs: performance.now() - started };
    st.runs++;
    st.lastRunAt = new Date().toISOString();
    st.lastChanges = result.changes;
    st.lastDurationMs = result.durationMs;
    st.lastError = null;
    st.services = desired.length;
    if (changes.length > 0) log?.info({ reasons, changes: result.changes, services: result.servicesTouched, durationMs: Math.round(result.durationMs) }, 'kernel reconciled');
    else log?.debug({ reasons }, 'kernel already in desired state');
    return result;
  }

  function scheduleRetry(): void {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      trigger('retry after failure');
    }, retryDelayMs);
    retryTimer.unref();
    retryDelayMs = Math.min(retryDelayMs * 2, resyncIntervalMs);
  }

  function drain(): Promise<ReconcileResult> {
    const reasons = [...pendingReasons];
    pendingReasons = new Set();
    pending = false;
    running = runOnce(reasons)
      .then(
        (r) => {
          retryDelayMs = retryBaseMs;
          return r;
        },
        (err: unknown) => {
          st.failures++;
          st.lastError = err instanceof Error ? err.message : String(err);
          log?.error({ err, reasons }, 'reconcile failed');
          scheduleRetry();
          throw err;
        },
      )
      .finally(() => {
        running = null;
        if (pending) drain().catch(() => undefined);
      });
    return running;
  }

  function trigger(reason: string): void {
    // Reasons are for the log line; a burst of events need not list every one.
    if (pendingReasons.size < 10) pendingReasons.add(reason);
    if (pending) return;
    pending = true;
    if (running) return; // drain() picks it up when the current run ends
    // Next macrotask: writes in the same tick coalesce into one run.
    setImmediate(() => {
      if (pending && !running) drain().catch(() => undefined);
    });
  }

  return {
    trigger,
    async reconcileNow(reason = 'requested') {
      if (running) await running.catch(() => undefined);
      pendingReasons.add(reason);
      return drain();
    },
    async idle() {
      for (;;) {
        if (running) await running.catch(() => undefined);
        else if (pending) await new Promise((r) => setImmediate(r));
        else return;
      }
    },
    start() {
      if (!stopped) return;
      stopped = false;
      resyncTimer = setInterval(() => trigger('periodic resync'), resyncIntervalMs);
      resyncTimer.unref();
      unwatch = init.dataplane.watch?.((what) => trigger(`kernel changed: ${what}`));
      trigger('start');
    },
    async stop() {
      stopped = true;
      unwatch?.();
      unwatch = undefined;
      clearInterval(resyncTimer);
      clearTimeout(retryTimer);
      retryTimer = undefined;
      if (running) await running.catch(() => undefined);
    },
    status: () => ({ dataplane: init.dataplane.kind, ...st }),
  };
}
