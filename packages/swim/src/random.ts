/**
 * Randomness the protocol's choices draw on (probe order, gossip targets, indirect-probe
 * helpers, timer staggers). Injected so a test cluster with a seed replays exactly.
 */

/** A uniform number in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a tiny 32-bit PRNG, plenty for spreading protocol choices and for a test
 * network's losses. Not for keys or nonces (those use node:crypto).
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** Fisher-Yates, in place. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

/** Up to k distinct items that pass `keep`, in random order (memberlist kRandomNodes). */
export function pickRandom<T>(random: Random, items: readonly T[], k: number, keep: (item: T) => boolean): T[] {
  if (k <= 0) return [];
  const candidates = items.filter(keep);
  const out: T[] = [];
  // Partial Fisher-Yates: exhaustive, so small clusters never miss an eligible member.
  for (let i = 0; i < candidates.length && out.length < k; i++) {
    const j = i + randomInt(random, candidates.length - i);
    const picked = candidates[j] as T;
    candidates[j] = candidates[i] as T;
    candidates[i] = picked;
    out.push(picked);
  }
  return out;
}
