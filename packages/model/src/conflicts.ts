/**
 * Resolving conflicts that concurrent writes leave behind. Any node accepts writes and each
 * checks the invariants (invariants.ts, the store's pool overlap check) against what it has
 * seen; two nodes writing at once can each pass, and after the merge the state holds two
 * instances named "web", two instances on one VIP and port (one pool address given twice) or
 * two overlapping pools. Nothing is dropped from the state: every node runs these pure
 * functions over the same merged state and so marks the same objects as conflicted. The
 * oldest wins (createdAt, then id or name: ties across nodes are broken the same way
 * everywhere); the others are kept, shown with their conflict, and not served until renamed,
 * moved or deleted.
 */
import { vipClash, type VipClaim } from './invariants.js';
import { poolsOverlap, type PoolSpec } from './pool.js';

/** Why an instance is not served: an older instance holds its name or its VIP and port. */
export interface InstanceConflict {
  readonly reason: 'name' | 'vip';
  /** The instance that won. */
  readonly withId: string;
  readonly withName: string;
  /** For people: who won, and what fixes it. */
  readonly message: string;
}

/** Why a pool allocates nothing: an older pool overlaps it. */
export interface PoolConflict {
  readonly reason: 'overlap';
  /** The pool that won. */
  readonly withName: string;
  readonly message: string;
}

/** What conflict resolution looks at in an instance (an Instance is one). */
export interface ConflictCandidate extends VipClaim {
  /** ISO 8601; ISO strings of one format order like the times they name. */
  readonly createdAt: string;
}

/** What conflict resolution looks at in a pool (a Pool is one). */
export interface PoolConflictCandidate extends Pick<PoolSpec, 'name' | 'ranges'> {
  readonly createdAt: string;
}

/** Oldest first: createdAt, then id, so two nodes order instances created in the same millisecond alike. */
export function compareOldest(a: Pick<ConflictCandidate, 'createdAt' | 'id'>, b: Pick<ConflictCandidate, 'createdAt' | 'id'>): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Oldest first: createdAt, then name (pool names are unique keys). */
export function compareOldestPool(a: Pick<PoolConflictCandidate, 'createdAt' | 'name'>, b: Pick<PoolConflictCandidate, 'createdAt' | 'name'>): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Instance id -> its conflict, for every instance that loses. Oldest first, an instance is
 * accepted unless an accepted one already has its name, or `vipClash` says it cannot hold its
 * VIP next to an accepted one (sharing-key rules as there). A conflicted instance neither
 * blocks nor wins against younger ones: it holds nothing. The result depends only on the set
 * given, never on its order.
 */
export function resolveInstanceConflicts<T extends ConflictCandidate>(instances: Iterable<T>): Map<string, InstanceConflict> {
  const sorted = [...instances].sort(compareOldest);
  const byName = new Map<string, T>();
  const byVip = new Map<string, T[]>();
  const out = new Map<string, InstanceConflict>();
  for (const inst of sorted) {
    const holder = byName.get(inst.name);
    if (holder) {
      out.set(inst.id, {
        reason: 'name',
        withId: holder.id,
        withName: holder.name,
        message: `instance "${holder.name}" (id ${holder.id}) was created first with this name; this one is not served until renamed or deleted`,
      });
      continue;
    }
    const onVip = byVip.get(inst.vip);
    let lost = false;
    for (const other of onVip ?? []) {
      const clash = vipClash(inst, other);
      if (!clash) continue;
      out.set(inst.id, {
        reason: 'vip',
        withId: other.id,
        withName: other.name,
        message: `instance "${other.name}" (id ${other.id}) was created first on this VIP (${clash.message}); this one is not served until its VIP or ports change or it is deleted`,
      });
      lost = true;
      break;
    }
    if (lost) continue;
    byName.set(inst.name, inst);
    if (onVip) onVip.push(inst);
    else byVip.set(inst.vip, [inst]);
  }
  return out;
}

/**
 * Pool name -> its conflict, for every pool that loses: oldest first, a pool is accepted
 * unless its ranges overlap an accepted pool's. A conflicted pool allocates no addresses.
 */
export function resolvePoolConflicts<T extends PoolConflictCandidate>(pools: Iterable<T>): Map<string, PoolConflict> {
  const sorted = [...pools].sort(compareOldestPool);
  const accepted: T[] = [];
  const out = new Map<string, PoolConflict>();
  for (const pool of sorted) {
    const winner = accepted.find((a) => poolsOverlap(pool, a));
    if (winner) {
      out.set(pool.name, {
        reason: 'overlap',
        withName: winner.name,
        message: `pool "${winner.name}" was created first and overlaps this one; this pool allocates no addresses until its ranges no longer overlap or it is deleted`,
      });
    } else {
      accepted.push(pool);
    }
  }
  return out;
}
