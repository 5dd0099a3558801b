/**
 * Time behind an interface: protocol timers (SWIM's probe rounds, suspicion, gossip and
 * push-pull; BGP's ConnectRetry, Hold, Keepalive and the idle hold between attempts) run on the
 * real monotonic clock in the daemon and on a hand-driven clock in tests, so a cluster's
 * minutes of failure detection or a 90 s hold time take milliseconds and replay identically.
 *
 * @shoal/swim and @shoal/bgp re-export `Clock` and `systemClock` from here. @shoal/health keeps
 * its own clock: its interface hands back a cancellable Timer instead of a handle.
 */

export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number;
  /** Runs `fn` once after `ms`; the handle is only ever given back to clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending timer; a handle that already fired or was cleared is a no-op. */
  clearTimeout(handle: unknown): void;
}

/**
 * performance.now() (monotonic: an NTP step must neither stretch a suspicion nor fire a hold
 * timer) and the Node timers.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * The timers one component owns, so shutdown can cancel every one of them. A callback that
 * throws is reported to `onError` instead of escaping into the clock (a bug in one timer, or
 * one peer's timer, must not stop the others, nor the process).
 */
export class TimerSet {
  readonly #clock: Clock;
  readonly #onError: (err: unknown) => void;
  readonly #live = new Map<symbol, unknown>();
  #closed = false;

  constructor(clock: Clock, onError: (err: unknown) => void) {
    this.#clock = clock;
    this.#onError = onError;
  }

  /** Schedules `fn` after `ms`; returns a cancel function. Does nothing once closed. */
  after(ms: number, fn: () => void): () => void {
    if (this.#closed) return () => undefined;
    const id = Symbol('timer');
    const handle = this.#clock.setTimeout(() => {
      if (!this.#live.delete(id)) return;
      try {
        fn();
      } catch (err) {
        this.#onError(err);
      }
    }, Math.max(0, ms));
    this.#live.set(id, handle);
    return () => {
      if (!this.#live.has(id)) return;
      const h = this.#live.get(id);
      this.#live.delete(id);
      this.#clock.clearTimeout(h);
    };
  }

  get size(): number {
    return this.#live.size;
  }

  /** Cancels everything and refuses new timers. */
  close(): void {
    this.#closed = true;
    for (const h of this.#live.values()) this.#clock.clearTimeout(h);
    this.#live.clear();
  }
}
