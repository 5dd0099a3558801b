/**
 * Replication settings. Every field is optional; REPLICATION_DEFAULTS gives each default and
 * why it is what it is.
 */
export interface ReplicationInit {
  /** A push or sync exchange with one peer fails after this. */
  readonly requestTimeoutMs?: number;
  /** A write waits this long for its write concern before failing with E_QUORUM. */
  readonly writeTimeoutMs?: number;
  /** A random live peer is synced (state vectors exchanged) this often. */
  readonly antiEntropyIntervalMs?: number;
  /** A peer whose gossiped digest still differs from ours after this long gets a sync. */
  readonly digestSettleMs?: number;
  /** Updates queued for one peer beyond this are dropped and replaced by one sync. */
  readonly maxPendingBytes?: number;
  /** First retry delay after a failed exchange; doubles up to retryMaxMs. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export type ReplicationConfig = Required<ReplicationInit>;

export const REPLICATION_DEFAULTS: ReplicationConfig = {
  // Long enough for a full-state sync of 10,000 instances (~10 MB) on a LAN; short enough
  // that a hung peer does not hold a write past writeTimeoutMs by itself.
  requestTimeoutMs: 5_000,
  // An API client should hear "not durable on enough nodes" well before its own timeout.
  writeTimeoutMs: 5_000,
  // Pushes carry every write at once; this only repairs what a failed push or a partition
  // missed, so it can be lazy: one state-vector exchange (a few hundred bytes) per period.
  antiEntropyIntervalMs: 5_000,
  // Digests differ for a moment after every write while pushes are in flight; only a
  // difference that outlives that is worth a sync.
  digestSettleMs: 1_000,
  // A peer that cannot keep up (or is away) costs one sync later, not unbounded memory now.
  maxPendingBytes: 8 * 1024 * 1024,
  retryMinMs: 100,
  retryMaxMs: 5_000,
};

export function replicationConfig(init: ReplicationInit = {}): ReplicationConfig {
  const out = { ...REPLICATION_DEFAULTS };
  for (const [k, v] of Object.entries(init) as [keyof ReplicationConfig, number | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}
