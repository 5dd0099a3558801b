/**
 * Makes the store's Yjs updates durable: a write-ahead log of framed updates with group commit,
 * compacted into full-state snapshots.
 *
 * Files in `dir` (epochs zero-padded so names sort):
 * - `snapshot-<E>.bin`: one frame, the full state through the end of `wal-<E-1>.log`;
 * - `wal-<E>.log`: frames appended after snapshot E.
 *
 * Crash safety rests on one ordering: a file is only deleted once something newer that covers it
 * is durable (fdatasync of the file, then fsync of the directory that names it). Recovery takes
 * the newest snapshot that checksums and replays every WAL from its epoch on. Replaying an update
 * the snapshot already holds is harmless (Yjs updates are idempotent), so overlap is allowed and
 * only loss is ruled out.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { ShoalError } from '@shoal/model';
import { decodeFrames, encodeFrame } from './frame.js';

export interface DurableLogInit {
  /** Directory holding snapshot-<epoch>.bin and wal-<epoch>.log files; created if missing. */
  dir: string;
  /**
   * Compaction is suggested (needsCompaction() true) once the current WAL exceeds this. Bounds
   * recovery time and disk use; at ~300 bytes per update it is ~200k updates.
   * @default 64 MiB
   */
  compactAfterBytes?: number;
  /** Used as is; the caller names the component. @default a silent logger */
  logger?: Logger;
}

export interface RecoveredState {
  /** Payload of the newest valid snapshot. */
  snapshot: Uint8Array | null;
  /** Every valid WAL frame to replay after it, in order. May repeat updates the snapshot holds. */
  updates: Uint8Array[];
  /** Bytes dropped from torn or corrupt WAL tails (0 normally). */
  tornTailBytes: number;
  /** Epoch that new appends go to. */
  epoch: number;
}

export interface DurableLogStats {
  epoch: number;
  /** Bytes in the current WAL. */
  logBytes: number;
  /** Bytes of the newest durable snapshot file (0 if none). */
  snapshotBytes: number;
  /** Acknowledged appends since open. */
  appends: number;
  /** WAL fdatasyncs since open; appends / syncs is the group-commit factor. */
  syncs: number;
  /** Completed compactions since open. */
  compactions: number;
  lastCompactionAt: string | null;
}

export interface DurableLog {
  /**
   * Resolves only after an fdatasync that covers this update. Concurrent appends are
   * group-committed: all frames queued while a sync runs are written with one write + one
   * fdatasync. Rejects with ShoalError('E_UNAVAILABLE') if the log failed or is closed.
   */
  append(update: Uint8Array): Promise<void>;
  needsCompaction(): boolean;
  /**
   * `snapshot` is the full state (Y.encodeStateAsUpdate) at the moment of the call and covers
   * every update appended before the call. Appends made after the call returns go to the new
   * epoch.
   */
  compact(snapshot: Uint8Array): Promise<void>;
  stats(): DurableLogStats;
  /** Stops accepting appends, waits for queued and in-flight batches and compactions. */
  close(): Promise<void>;
}

const DEFAULT_COMPACT_AFTER_BYTES = 64 * 1024 * 1024;
const EPOCH_DIGITS = 10;
const FILE_NAME = new RegExp(`^(snapshot|wal)-(\\d{${EPOCH_DIGITS}})\\.(bin|log)$`);

const snapshotName = (epoch: number): string => `snapshot-${String(epoch).padStart(EPOCH_DIGITS, '0')}.bin`;
const walName = (epoch: number): string => `wal-${String(epoch).padStart(EPOCH_DIGITS, '0')}.log`;

interface Waiter {
  resolve: () => void;
  reject: (err: ShoalError) => void;
}

interface WalFile {
  epoch: number;
  /** Open for append and named durably in the directory; null if opening failed (log failed). */
  ready: Promise<FileHandle | null>;
  bytes: number;
  /** The last batch written to this file; settles (never rejects) once its sync finished or failed. */
  lastBatch: Promise<void>;
}

interface DirEntry {
  kind: 'snapshot' | 'wal';
  epoch: number;
  name: string;
}

/** fsync of the directory makes the creation and renaming of names in it durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, buf: Uint8Array): Promise<void> {
  let at = 0;
  while (at < buf.byteLength) {
    const { bytesWritten } = await handle.write(buf, at, buf.byteLength - at);
    at += bytesWritten;
  }
}

async function listDir(dir: string): Promise<{ entries: DirEntry[]; tmp: string[] }> {
  const entries: DirEntry[] = [];
  const tmp: string[] = [];
  for (const name of await readdir(dir)) {
    if (name.startsWith('snapshot-') && name.endsWith('.tmp')) {
      tmp.push(name);
      continue;
    }
    const m = FILE_NAME.exec(name);
    if (!m) continue;
    const kind = m[1] === 'snapshot' ? 'snapshot' : 'wal';
    if ((kind === 'snapshot') !== (m[3] === 'bin')) continue;
    entries.push({ kind, epoch: Number(m[2]), name });
  }
  return { entries, tmp };
}

class FileDurableLog implements DurableLog {
  readonly #dir: string;
  readonly #compactAfterBytes: number;
  readonly #logger: Logger;
  #wal: WalFile;
  #queue: Uint8Array[] = [];
  #waiters: Waiter[] = [];
  #draining: Promise<void> | null = null;
  #compactions: Promise<void> = Promise.resolve();
  #failure: ShoalError | null = null;
  #closing: Promise<void> | null = null;
  #stats: Omit<DurableLogStats, 'epoch' | 'logBytes'>;

  constructor(dir: string, compactAfterBytes: number, logger: Logger, wal: WalFile, snapshotBytes: number) {
    this.#dir = dir;
    this.#compactAfterBytes = compactAfterBytes;
    this.#logger = logger;
    this.#wal = wal;
    this.#stats = { snapshotBytes, appends: 0, syncs: 0, compactions: 0, lastCompactionAt: null };
  }

  append(update: Uint8Array): Promise<void> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    // Framing copies the update, so the caller may reuse its buffer once append returns.
    const frame = encodeFrame(update);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push(frame);
      this.#waiters.push({ resolve, reject });
      this.#draining ??= this.#drain();
    });
  }

  needsCompaction(): boolean {
    return this.#wal.bytes > this.#compactAfterBytes;
  }

  compact(snapshot: Uint8Array): Promise<void> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    // The switch happens before the first await: every append from here on lands in the new
    // WAL, and every earlier one is either in the old WAL or (still queued) covered by the
    // snapshot anyway, so queued frames may go to whichever WAL is current when they are written.
    const frame = encodeFrame(snapshot);
    const oldWal = this.#wal;
    const epoch = oldWal.epoch + 1;
    const newWal: WalFile = { epoch, ready: this.#openWal(epoch), bytes: 0, lastBatch: Promise.resolve() };
    this.#wal = newWal;
    // Serialised so that a later snapshot never races an earlier one's rename or cleanup.
    const done = this.#compactions.then(() => this.#persistSnapshot(oldWal, newWal, frame));
    this.#compactions = done.catch(() => undefined);
    return done;
  }

  stats(): DurableLogStats {
    return { ...this.#stats, epoch: this.#wal.epoch, logBytes: this.#wal.bytes };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#draining) await this.#draining;
      await this.#compactions;
      const handle = await this.#wal.ready;
      await handle?.close();
    })();
    return this.#closing;
  }

  #refusal(): ShoalError | null {
    if (this.#failure) return this.#failure;
    if (this.#closing) return new ShoalError('E_UNAVAILABLE', 'durable log is closed');
    return null;
  }

  /** One batch at a time: everything queued while a batch syncs goes out as the next batch. */
  async #drain(): Promise<void> {
    try {
      for (;;) {
        const wal = this.#wal;
        // Always awaits once before the checks below, so the caller's `#draining ??=` has been
        // assigned before the loop can clear it, and appends queued in this tick join the batch.
        const handle = await wal.ready;
        if (wal !== this.#wal) continue; // compact() switched files meanwhile
        if (this.#queue.length === 0 || this.#failure) break;
        if (!handle) {
          this.#fail(new Error(`${walName(wal.epoch)} could not be opened`), []);
          break;
        }
        const frames = this.#queue;
        const waiters = this.#waiters;
        this.#queue = [];
        this.#waiters = [];
        wal.lastBatch = this.#writeBatch(wal, handle, frames, waiters);
        await wal.lastBatch;
      }
    } finally {
      // Same synchronous step as the empty-queue check: an append after this starts a new drain.
      this.#draining = null;
    }
  }

  async #writeBatch(wal: WalFile, handle: FileHandle, frames: Uint8Array[], waiters: Waiter[]): Promise<void> {
    const buf = frames.length === 1 && frames[0] ? frames[0] : Buffer.concat(frames);
    try {
      await writeAll(handle, buf);
      await handle.datasync();
    } catch (err) {
      this.#fail(err, waiters);
      return;
    }
    wal.bytes += buf.byteLength;
    this.#stats.syncs++;
    this.#stats.appends += waiters.length;
    for (const w of waiters) w.resolve();
  }

  /**
   * Fail-stop: after a failed write or sync the file's contents are unknown (and a retried fsync
   * may report success for pages the kernel already dropped), so no later append may be
   * acknowledged past a possible gap.
   */
  #fail(cause: unknown, batch: Waiter[]): void {
    if (!this.#failure) {
      this.#failure = new ShoalError('E_UNAVAILABLE', 'durable log write failed; refusing further appends', { cause });
      this.#logger.error({ err: cause, epoch: this.#wal.epoch }, 'durable log failed; store is now read-only');
    }
    const failure = this.#failure;
    const queued = this.#waiters;
    this.#queue = [];
    this.#waiters = [];
    for (const w of batch) w.reject(failure);
    for (const w of queued) w.reject(failure);
  }

  /** Creates wal-<epoch> and makes its name durable before any frame in it can be acknowledged. */
  async #openWal(epoch: number): Promise<FileHandle | null> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(join(this.#dir, walName(epoch)), 'a');
      await syncDir(this.#dir);
      return handle;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      this.#fail(err, []);
      return null;
    }
  }

  async #persistSnapshot(oldWal: WalFile, newWal: WalFile, frame: Uint8Array): Promise<void> {
    const epoch = newWal.epoch;
    try {
      // The new WAL must be named durably before the old files it replaces can go.
      if (!(await newWal.ready)) throw this.#failure ?? new Error(`${walName(epoch)} could not be opened`);
    } finally {
      // No batch can target the old WAL after the switch; wait out the one in flight, if any.
      await oldWal.lastBatch;
      const oldHandle = await oldWal.ready;
      await oldHandle?.close().catch((err: unknown) => this.#logger.warn({ err, epoch: oldWal.epoch }, 'closing old WAL failed'));
    }
    const tmpPath = join(this.#dir, `${snapshotName(epoch)}.tmp`);
    try {
      const tmp = await open(tmpPath, 'w');
      try {
        await writeAll(tmp, frame);
        await tmp.datasync();
      } finally {
        await tmp.close();
      }
      await rename(tmpPath, join(this.#dir, snapshotName(epoch)));
      await syncDir(this.#dir);
    } catch (err) {
      await unlink(tmpPath).catch(() => undefined);
      this.#logger.error({ err, epoch }, 'snapshot write failed; older snapshot and WALs kept');
      throw new ShoalError('E_UNAVAILABLE', `writing ${snapshotName(epoch)} failed`, { cause: err });
    }
    this.#stats.snapshotBytes = frame.byteLength;
    this.#stats.compactions++;
    this.#stats.lastCompactionAt = new Date().toISOString();
    this.#logger.info({ epoch, snapshotBytes: frame.byteLength, walBytes: oldWal.bytes }, 'compacted');
    await removeOlderThan(this.#dir, epoch, this.#logger);
  }
}

/** Best effort: a file left behind is only disk space, recovery ignores anything older than the newest valid snapshot. */
async function removeOlderThan(dir: string, epoch: number, logger: Logger): Promise<void> {
  const { entries } = await listDir(dir).catch((err: unknown) => {
    logger.warn({ err }, 'listing log directory for cleanup failed');
    return { entries: [] };
  });
  for (const e of entries) {
    if (e.epoch >= epoch) continue;
    await unlink(join(dir, e.name)).catch((err: unknown) => logger.warn({ err, file: e.name }, 'removing obsolete log file failed'));
  }
}

async function makeDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // Make each newly created level durable in its parent.
  for (let d = resolve(dir); d !== dirname(d); d = dirname(d)) {
    await syncDir(dirname(d));
    if (d === resolve(first)) break;
  }
}

/**
 * Opens (creating if needed) the log in `init.dir` and returns what to replay: the newest valid
 * snapshot and every WAL frame after it. Truncates a torn tail of the newest WAL. Rejects with
 * ShoalError('E_INTERNAL') when the files have a gap that would lose acknowledged updates, and
 * with ShoalError('E_UNAVAILABLE') when the directory cannot be read or written. One process at
 * a time: the directory is not locked.
 */
export async function openDurableLog(init: DurableLogInit): Promise<{ log: DurableLog; recovered: RecoveredState }> {
  const logger = init.logger ?? pino({ level: 'silent' });
  try {
    return await recover(init.dir, init.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES, logger);
  } catch (err) {
    if (err instanceof ShoalError) throw err;
    throw new ShoalError('E_UNAVAILABLE', `opening durable log in ${init.dir} failed`, { cause: err });
  }
}

async function recover(dir: string, compactAfterBytes: number, logger: Logger): Promise<{ log: DurableLog; recovered: RecoveredState }> {
  await makeDir(dir);
  const { entries, tmp } = await listDir(dir);
  for (const name of tmp) {
    logger.warn({ file: name }, 'removing leftover temporary file from an interrupted compaction');
    await unlink(join(dir, name));
  }

  const snapshots = entries.filter((e) => e.kind === 'snapshot').sort((a, b) => b.epoch - a.epoch);
  let snapshot: Uint8Array | null = null;
  let snapshotEpoch = 0;
  let snapshotBytes = 0;
  for (const s of snapshots) {
    const bytes = await readFile(join(dir, s.name));
    const decoded = decodeFrames(bytes);
    const payload = decoded.payloads[0];
    if (payload && decoded.payloads.length === 1 && decoded.tornTailBytes === 0) {
      snapshot = payload;
      snapshotEpoch = s.epoch;
      snapshotBytes = bytes.byteLength;
      break;
    }
    logger.warn({ file: s.name, stoppedBy: decoded.stoppedBy, frames: decoded.payloads.length }, 'ignoring invalid snapshot; falling back to an older one');
  }

  // Every epoch from the snapshot's to the newest file seen must have its WAL; a compaction creates
  // the next WAL durably before it renames its snapshot into place, so a crash never leaves a hole.
  const wals = entries.filter((e) => e.kind === 'wal' && e.epoch >= snapshotEpoch).sort((a, b) => a.epoch - b.epoch);
  const newestSeen = entries.reduce((max, e) => Math.max(max, e.epoch), snapshotEpoch);
  const onlySnapshot = wals.length === 0 && newestSeen === snapshotEpoch; // fresh dir, or a restored snapshot alone
  if (!onlySnapshot && wals.length !== newestSeen - snapshotEpoch + 1) {
    let missing = snapshotEpoch;
    while (wals.some((w) => w.epoch === missing)) missing++;
    const from = snapshot ? snapshotName(snapshotEpoch) : 'no valid snapshot';
    throw new ShoalError('E_INTERNAL', `durable log in ${dir} is missing ${walName(missing)} (replaying from ${from}); refusing to open with a gap`);
  }

  const updates: Uint8Array[] = [];
  let tornTailBytes = 0;
  let currentBytes = 0;
  for (const [i, w] of wals.entries()) {
    const decoded = decodeFrames(await readFile(join(dir, w.name)));
    for (const p of decoded.payloads) updates.push(p);
    const newest = i === wals.length - 1;
    if (newest) currentBytes = decoded.validBytes;
    if (decoded.tornTailBytes > 0) {
      tornTailBytes += decoded.tornTailBytes;
      logger.warn(
        { file: w.name, validBytes: decoded.validBytes, tornTailBytes: decoded.tornTailBytes, stoppedBy: decoded.stoppedBy, frames: decoded.payloads.length },
        newest ? 'truncating torn WAL tail' : 'older WAL ends in a torn or corrupt frame; replaying what precedes it',
      );
    }
  }

  const last = wals[wals.length - 1];
  const epoch = last?.epoch ?? snapshotEpoch;
  let handle: FileHandle | undefined;
  try {
    handle = await open(join(dir, walName(epoch)), 'a');
    if (!last) {
      await syncDir(dir);
    } else if (currentBytes < (await handle.stat()).size) {
      // Appending after garbage would hide every later frame from recovery.
      await handle.truncate(currentBytes);
      await handle.datasync();
    }
  } catch (err) {
    await handle?.close().catch(() => undefined);
    throw err;
  }

  // Leftovers of a compaction that crashed between its rename and its cleanup.
  await removeOlderThan(dir, snapshotEpoch, logger);

  const wal: WalFile = { epoch, ready: Promise.resolve(handle), bytes: currentBytes, lastBatch: Promise.resolve() };
  const log = new FileDurableLog(dir, compactAfterBytes, logger, wal, snapshotBytes);
  logger.info({ epoch, snapshotBytes, updates: updates.length, tornTailBytes }, 'durable log opened');
  return { log, recovered: { snapshot, updates, tornTailBytes, epoch } };
}
