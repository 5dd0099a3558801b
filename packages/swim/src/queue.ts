/**
 * The transmit-limited broadcast queue (memberlist queue.go). SWIM 4.1 disseminates membership
 * updates by piggybacking them on probe traffic ("infection-style"); each update is sent a
 * limited number of times, retransmitMult * ceil(log10(n + 1)), which is enough for it to reach
 * every member with high probability and no more. Fresh updates go first (fewest transmits),
 * larger first within a tier so space is filled well, newer first among equals; a newer
 * update about a member replaces the queued older one.
 */

export interface Broadcast {
  /** The member the update is about; a newer broadcast with the same name invalidates this one. */
  readonly name: string;
  /** Encoded message. */
  readonly message: Uint8Array;
  /** Called once when the broadcast is done: sent its last time, or invalidated. */
  readonly onFinished?: () => void;
}

interface Queued {
  broadcast: Broadcast;
  transmits: number;
  id: number;
}

/** How many times a broadcast is sent in a cluster of n members (memberlist retransmitLimit). */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

export class BroadcastQueue {
  readonly #retransmitMult: number;
  readonly #numMembers: () => number;
  #items: Queued[] = [];
  #nextId = 1;

  constructor(opts: { retransmitMult: number; numMembers: () => number }) {
    this.#retransmitMult = opts.retransmitMult;
    this.#numMembers = opts.numMembers;
  }

  get length(): number {
    return this.#items.length;
  }

  queue(broadcast: Broadcast): void {
    const keep: Queued[] = [];
    for (const q of this.#items) {
      if (q.broadcast.name === broadcast.name) q.broadcast.onFinished?.();
      else keep.push(q);
    }
    keep.push({ broadcast, transmits: 0, id: this.#nextId++ });
    this.#items = keep;
  }

  /**
   * Up to `limitBytes` of broadcasts (each costing `overheadBytes` more) and at most `maxCount`
   * of them; each returned one counts a transmit and retires at the limit.
   */
  getBroadcasts(overheadBytes: number, limitBytes: number, maxCount = Number.POSITIVE_INFINITY): Uint8Array[] {
    if (this.#items.length === 0) return [];
    const limit = retransmitLimit(this.#retransmitMult, this.#numMembers());
    const ordered = [...this.#items].sort((a, b) => a.transmits - b.transmits || b.broadcast.message.length - a.broadcast.message.length || b.id - a.id);
    const out: Uint8Array[] = [];
    const retired = new Set<Queued>();
    let used = 0;
    for (const q of ordered) {
      if (out.length >= maxCount) break;
      const free = limitBytes - used - overheadBytes;
      if (free <= 0) break;
      if (q.broadcast.message.length > free) continue;
      used += overheadBytes + q.broadcast.message.length;
      out.push(q.broadcast.message);
      q.transmits++;
      if (q.transmits >= limit) retired.add(q);
    }
    if (retired.size > 0) {
      this.#items = this.#items.filter((q) => !retired.has(q));
      for (const q of retired) q.broadcast.onFinished?.();
    }
    return out;
  }

  /** Drops everything (each broadcast finished). */
  reset(): void {
    const items = this.#items;
    this.#items = [];
    for (const q of items) q.broadcast.onFinished?.();
  }
}
