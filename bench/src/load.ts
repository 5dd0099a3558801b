/**
 * A closed-loop load generator: `concurrency` clients, each issuing its next request as soon as
 * the previous one answered. Closed loop because the question is "how much can one node
 * serve", and the offered load then adapts to it instead of queueing without bound.
 *
 * Timeline: warm-up (unmeasured: handshakes, JIT), then a measured window; a request counts if
 * it completed inside the window. Latencies go into a plain array sorted once at the end: a
 * few tens of thousands of samples, exact percentiles, no histogram error to explain.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface ClosedLoopInit {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** One request; resolves true if it succeeded (e.g. the expected status). */
  readonly issue: () => Promise<boolean>;
  /** Called as the measured window opens and closes (e.g. to sample a process's CPU time). */
  readonly onWindowStart?: () => Promise<void>;
  readonly onWindowEnd?: () => Promise<void>;
}

export interface LoadResult {
  readonly concurrency: number;
  /** Successful requests completed inside the window. */
  readonly requests: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly windowMs: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU the bench process itself used in the window, as % of one core. */
  readonly loadgenCpuPct: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export async function runClosedLoop(init: ClosedLoopInit): Promise<LoadResult> {
  let measuring = false;
  let stopped = false;
  let latencies = new Float64Array(1 << 16);
  let samples = 0;
  let errors = 0;
  let firstError: string | undefined;

  const record = (ms: number): void => {
    if (samples === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[samples++] = ms;
  };

  const client = async (): Promise<void> => {
    while (!stopped) {
      const started = performance.now();
      let ok: boolean;
      try {
        ok = await init.issue();
        if (!ok) firstError ??= 'unexpected status';
      } catch (err) {
        ok = false;
        firstError ??= (err as Error).message;
      }
      if (!measuring) continue;
      if (ok) record(performance.now() - started);
      else errors++;
    }
  };

  const clients = Array.from({ length: init.concurrency }, () => client());
  await sleep(init.warmupMs);
  await init.onWindowStart?.();
  const cpuBefore = process.cpuUsage();
  const windowStart = performance.now();
  measuring = true;
  await sleep(init.durationMs);
  measuring = false;
  const windowMs = performance.now() - windowStart;
  const cpu = process.cpuUsage(cpuBefore);
  await init.onWindowEnd?.();
  stopped = true;
  await Promise.all(clients);

  const sorted = latencies.subarray(0, samples).sort();
  return {
    concurrency: init.concurrency,
    requests: samples,
    errors,
    firstError,
    windowMs,
    perSecond: (samples / windowMs) * 1000,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    loadgenCpuPct: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
  };
}
