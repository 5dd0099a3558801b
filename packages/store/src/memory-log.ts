/**
 * An in-memory DurableLog for fast tests of the logic above the log (API, replication): same
 * contract, no disk. `crash()` returns what a restart would recover.
 */
import type { DurableLog, DurableLogStats, RecoveredState } from './durable-log.js';

export interface MemoryLog extends DurableLog {
  /** What openDurableLog would return after a crash right now. */
  recover(): RecoveredState;
}

export function createMemoryLog(from?: RecoveredState): MemoryLog {
  let snapshot: Uint8Array | null = from?.snapshot ?? null;
  let updates: Uint8Array[] = [...(from?.updates ?? [])];
  let appends = 0;
  let compactions = 0;
  let lastCompactionAt: string | null = null;
  let epoch = from?.epoch ?? 0;
  let closed = false;
  const bytes = (xs: readonly Uint8Array[]): number => xs.reduce((n, u) => n + u.byteLength, 0);
  return {
    append(update) {
      if (closed) return Promise.reject(new Error('memory log is closed'));
      updates.push(update.slice());
      appends++;
      return Promise.resolve();
    },
    needsCompaction: () => updates.length > 10_000,
    compact(snap) {
      snapshot = snap.slice();
      updates = [];
      epoch++;
      compactions++;
      lastCompactionAt = new Date().toISOString();
      return Promise.resolve();
    },
    stats(): DurableLogStats {
      return { epoch, logBytes: bytes(updates), snapshotBytes: snapshot?.byteLength ?? 0, appends, syncs: appends, compactions, lastCompactionAt };
    },
    close() {
      closed = true;
      return Promise.resolve();
    },
    recover: () => ({ snapshot, updates: [...updates], tornTailBytes: 0, epoch }),
  };
}
