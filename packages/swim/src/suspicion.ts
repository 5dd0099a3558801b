/**
 * Lifeguard dynamic suspicion (Lifeguard paper 4.2, "LHA-Suspicion"; memberlist suspicion.go).
 * A suspicion timer starts long, at max = suspicionMaxTimeoutMult * min, and shrinks toward
 * min = suspicionMult * max(1, log10(n)) * probeInterval as k = suspicionMult - 2 independent
 * members confirm the suspicion:
 *
 *   timeout(C) = max(min, max - (max - min) * log(C + 1) / log(k + 1))
 *
 * A member that only one (perhaps itself unhealthy) node suspects gets a long time to refute;
 * one that many suspect is declared dead quickly.
 */
import type { Clock } from '@shoal/model';

/** memberlist suspicionTimeout: the base (minimum) suspicion timeout for a cluster of n. */
export function suspicionTimeoutMs(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  // memberlist keeps three decimals of the scale (it works in integer Durations).
  return Math.floor((suspicionMult * Math.floor(nodeScale * 1000) * probeIntervalMs) / 1000);
}

/**
 * memberlist remainingSuspicionTime: time left given `confirmations` of the `k` wanted and
 * `elapsedMs` since the timer started. Can be negative (fire now).
 */
export function remainingSuspicionTimeMs(confirmations: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  const raw = maxMs - frac * (maxMs - minMs);
  const timeout = Math.max(minMs, Math.floor(raw));
  return timeout - elapsedMs;
}

export interface SuspicionInit {
  /** Who raised it: excluded from confirmations (our own rumour may come back to us). */
  from: string;
  /** Confirmations wanted to reach the minimum; 0 means start at the minimum. */
  k: number;
  minMs: number;
  maxMs: number;
  clock: Clock;
  /** Called once when the timer runs out, with the confirmations seen. */
  onTimeout: (confirmations: number) => void;
}

export class Suspicion {
  readonly #k: number;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #clock: Clock;
  readonly #onTimeout: (confirmations: number) => void;
  readonly #start: number;
  readonly #confirmedBy = new Set<string>();
  #n = 0;
  #handle: unknown;
  #done = false;

  constructor(init: SuspicionInit) {
    this.#k = init.k;
    this.#minMs = init.minMs;
    this.#maxMs = init.maxMs;
    this.#clock = init.clock;
    this.#onTimeout = init.onTimeout;
    this.#confirmedBy.add(init.from);
    this.#start = init.clock.now();
    this.#arm(init.k < 1 ? init.minMs : init.maxMs);
  }

  get confirmations(): number {
    return this.#n;
  }

  /** Time the timer is now set to, measured from the start. */
  get timeoutMs(): number {
    return this.#k < 1 ? this.#minMs : remainingSuspicionTimeMs(this.#n, this.#k, 0, this.#minMs, this.#maxMs);
  }

  #arm(ms: number): void {
    this.#handle = this.#clock.setTimeout(() => {
      this.#fire();
    }, Math.max(0, ms));
  }

  #fire(): void {
    if (this.#done) return;
    this.#done = true;
    this.#onTimeout(this.#n);
  }

  /**
   * Another member independently suspects the same member. True if it was new information
   * (worth re-gossiping); false for a repeat or once k confirmations are in.
   */
  confirm(from: string): boolean {
    if (this.#done || this.#n >= this.#k) return false;
    if (this.#confirmedBy.has(from)) return false;
    this.#confirmedBy.add(from);
    this.#n++;
    const remaining = remainingSuspicionTimeMs(this.#n, this.#k, this.#clock.now() - this.#start, this.#minMs, this.#maxMs);
    this.#clock.clearTimeout(this.#handle);
    if (remaining > 0) this.#arm(remaining);
    else this.#arm(0);
    return true;
  }

  cancel(): void {
    this.#done = true;
    this.#clock.clearTimeout(this.#handle);
  }
}
