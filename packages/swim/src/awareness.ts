/**
 * Lifeguard local health (Lifeguard paper 4.3, "LHA-Probe"; memberlist awareness.go). A node
 * that is itself slow (CPU starved, GC pause, overloaded NIC) misses acks and would wrongly
 * suspect healthy peers. It keeps a score: +1 for a probe that failed without the nacks that
 * prove the helpers were reachable, +1 for having to refute a suspicion about itself, -1 for a
 * successful probe; the probe interval and timeout are scaled by score + 1, so a degraded node
 * slows down and accuses less.
 */
export class Awareness {
  readonly #max: number;
  #score = 0;

  /** The score stays in 0 .. max - 1 (memberlist: constrained to 0 <= score < max). */
  constructor(awarenessMaxMultiplier: number) {
    this.#max = awarenessMaxMultiplier;
  }

  get score(): number {
    return this.#score;
  }

  applyDelta(delta: number): void {
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta));
  }

  /** `ms` scaled by score + 1. */
  scale(ms: number): number {
    return ms * (this.#score + 1);
  }
}
