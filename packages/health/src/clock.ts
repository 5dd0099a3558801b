/**
 * Time behind an interface, so the scheduler's tests drive it by hand (no real sleeps) and
 * the daemon uses the monotonic clock (wall-clock steps from NTP must not stretch intervals).
 */

/** A pending callback; cancelling one that already ran is a no-op. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number;
  /** Runs `fn` once after `delayMs`. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

/** The real clock: performance.now() and setTimeout. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, delayMs);
    return { cancel: () => { clearTimeout(handle); } };
  },
};
