/**
 * An in-memory network of replicas for tests: exchanges are delivered on a later turn of the
 * event loop, and pairs can be cut (a partition) or messages dropped with a seeded probability.
 */
import { ShoalError } from '@shoal/model';
import type { PeerLink, ReplicaPeer, Replicator } from './replicator.js';

export interface MemoryReplicaNetwork {
  /** The link node `self` sends through. */
  link(self: string): PeerLink;
  attach(name: string, replicator: Replicator): void;
  detach(name: string): void;
  /** Cuts every pair across the two groups, both ways. */
  partition(a: readonly string[], b: readonly string[]): void;
  heal(): void;
  /** Drops each exchange with this probability (seeded). */
  setLoss(rate: number): void;
  readonly exchanges: number;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createMemoryReplicaNetwork(seed = 1): MemoryReplicaNetwork {
  const nodes = new Map<string, Replicator>();
  const cut = new Set<string>();
  const random = mulberry32(seed);
  let loss = 0;
  let exchanges = 0;
  const key = (a: string, b: string): string => `${a}\u0000${b}`;
  return {
    link(self: string): PeerLink {
      return {
        async exchange(peer: ReplicaPeer, kind: 'push' | 'sync', body: Uint8Array): Promise<Uint8Array> {
          exchanges++;
          await new Promise((r) => setImmediate(r));
          const target = nodes.get(peer.name);
          if (!target || cut.has(key(self, peer.name)) || random() < loss) throw new ShoalError('E_UNAVAILABLE', `${self} -> ${peer.name}: unreachable`);
          const answer = kind === 'push' ? await target.receivePush(body, self) : await target.answerSync(body, self);
          if (cut.has(key(peer.name, self)) || random() < loss) throw new ShoalError('E_UNAVAILABLE', `${peer.name} -> ${self}: answer lost`);
          return answer;
        },
        close(): void {},
      };
    },
    attach(name, replicator) {
      nodes.set(name, replicator);
    },
    detach(name) {
      nodes.delete(name);
    },
    partition(a, b) {
      for (const x of a)
        for (const y of b) {
          cut.add(key(x, y));
          cut.add(key(y, x));
        }
    },
    heal() {
      cut.clear();
    },
    setLoss(rate) {
      loss = rate;
    },
    get exchanges() {
      return exchanges;
    },
  };
}
