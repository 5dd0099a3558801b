/**
 * How many nodes must hold a write before the API reports it done: a count (1 = this node
 * only), `majority` (floor(N/2)+1 of the cluster's N nodes, the default: the write survives
 * the loss of any minority) or `all`.
 */
export type WriteConcern = 'majority' | 'all' | number;

export const WRITE_CONCERN_HEADER = 'shoal-write-concern';

/** Parses `majority`, `all` or a positive integer; null for anything else. */
export function parseWriteConcern(text: string): WriteConcern | null {
  const t = text.trim().toLowerCase();
  if (t === 'majority' || t === 'all') return t;
  if (!/^[1-9][0-9]{0,3}$/.test(t)) return null;
  return Number(t);
}

/** The number of nodes a concern asks for in a cluster of `clusterSize`. */
export function nodesRequired(concern: WriteConcern, clusterSize: number): number {
  if (concern === 'majority') return Math.floor(clusterSize / 2) + 1;
  if (concern === 'all') return clusterSize;
  return concern;
}
