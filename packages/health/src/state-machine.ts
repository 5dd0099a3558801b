/**
 * The rise/fall state machine of one backend, as keepalived runs it for a real_server: pure
 * values in, pure values out, no time and no I/O, so every sequence is a table row in a test.
 */

/** `unknown`: tracked but not judged yet (or not tracked at all). Only `up` gets traffic. */
export type HealthState = 'up' | 'down' | 'unknown';

/** Where a freshly tracked backend starts; see HEALTH_CHECKER_DEFAULTS.initialState. */
export type InitialState = 'up' | 'down';

export interface Thresholds {
  /** Consecutive successes that bring a down backend up. */
  readonly rise: number;
  /** Consecutive failures that take an up backend down. */
  readonly fall: number;
}

export interface BackendHealth {
  readonly state: HealthState;
  /** Consecutive successful probes up to now (0 after any failure). */
  readonly successes: number;
  /** Consecutive failed probes up to now (0 after any success). */
  readonly failures: number;
}

export interface HealthStep {
  readonly health: BackendHealth;
  /** Why the state changed; absent when it did not. */
  readonly reason?: string;
}

/**
 * `down` starts `unknown` (no traffic until judged); `up` starts up, as keepalived does
 * without `alpha`, and needs `fall` failures to go down like any up backend.
 */
export function initialHealth(initialState: InitialState): BackendHealth {
  return { state: initialState === 'up' ? 'up' : 'unknown', successes: 0, failures: 0 };
}

/**
 * Applies one probe result.
 * - unknown: the first result decides. One success is enough to go up: `rise` guards against
 *   a flapping backend re-entering service, and a backend never seen has no flapping history,
 *   while waiting `rise` intervals would keep a fresh instance black-holed for seconds. One
 *   failure makes it down (it already got no traffic; this only reports what we saw), and from
 *   then on `rise` applies as to any down backend.
 * - down: up after `rise` consecutive successes.
 * - up: down after `fall` consecutive failures.
 */
export function recordProbe(health: BackendHealth, ok: boolean, thresholds: Thresholds): HealthStep {
  const successes = ok ? health.successes + 1 : 0;
  const failures = ok ? 0 : health.failures + 1;
  const counters = { successes, failures };
  switch (health.state) {
    case 'unknown':
      return ok
        ? { health: { state: 'up', ...counters }, reason: 'first probe succeeded' }
        : { health: { state: 'down', ...counters }, reason: 'first probe failed' };
    case 'down':
      return ok && successes >= thresholds.rise
        ? { health: { state: 'up', ...counters }, reason: `${successes} consecutive successful probes (rise ${thresholds.rise})` }
        : { health: { state: 'down', ...counters } };
    case 'up':
      return !ok && failures >= thresholds.fall
        ? { health: { state: 'down', ...counters }, reason: `${failures} consecutive failed probes (fall ${thresholds.fall})` }
        : { health: { state: 'up', ...counters } };
  }
}

/** A check restarted with new parameters keeps its verdict but counts afresh. */
export function resetCounters(health: BackendHealth): BackendHealth {
  return { state: health.state, successes: 0, failures: 0 };
}
