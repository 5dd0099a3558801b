import { createHash } from 'node:crypto';

/**
 * A short, order-independent digest of a state vector, gossiped in membership metadata so two
 * replicas notice they differ without exchanging anything else. Yjs encodes a vector in its
 * client table's insertion order, which differs between replicas, so the entries are sorted
 * first. Every write adds a struct (store.localClock), so equal vectors mean equal documents.
 */
export function stateDigest(vector: ReadonlyMap<number, number>): string {
  const entries = [...vector.entries()].filter(([, clock]) => clock > 0).sort((a, b) => a[0] - b[0]);
  const h = createHash('sha256');
  for (const [client, clock] of entries) h.update(`${client}:${clock};`);
  return h.digest('hex').slice(0, 16);
}
