/** The side-effect half of health checking: one probe of one target. */
import type { ActiveHealthCheck } from './targets.js';

export interface ProbeTarget {
  readonly ip: string;
  readonly port: number;
  readonly check: ActiveHealthCheck;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** One line for logs and change reasons: `HTTP 503`, `connect ECONNREFUSED`, `timeout after 1000 ms`. */
  readonly detail: string;
}

/**
 * Contract: never rejects (a failure is `{ ok: false }`); gives up by itself after
 * `check.timeoutMs`; when `signal` aborts, releases its socket at once and settles promptly.
 * The scheduler does not rely on the first two (it keeps its own deadline) but needs the
 * last to keep its concurrency accounting honest.
 */
export interface Prober {
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult>;
}
