import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalError } from '@shoal/model';
import { openDurableLog } from '../src/durable-log.js';
import type { DurableLog, RecoveredState } from '../src/durable-log.js';
import { encodeFrame } from '../src/frame.js';

// Updates are `u<seq>`; a snapshot is the comma-separated list of seqs it covers. That keeps the
// log's contract (snapshot covers everything appended before compact()) checkable without Yjs.
const update = (seq: number): Uint8Array => new TextEncoder().encode(`u${seq}`);
const seqOf = (u: Uint8Array): number => Number(new TextDecoder().decode(u).slice(1));
const snapshotOf = (seqs: readonly number[]): Uint8Array => new TextEncoder().encode(seqs.join(','));
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const snapshotSeqs = (r: RecoveredState): number[] => (r.snapshot ? new TextDecoder().decode(r.snapshot).split(',').filter(Boolean).map(Number) : []);
const recoveredSeqs = (r: RecoveredState): number[] => [...new Set([...snapshotSeqs(r), ...r.updates.map(seqOf)])].sort((a, b) => a - b);
const appendAll = (log: DurableLog, seqs: readonly number[]): Promise<unknown> => Promise.all(seqs.map((s) => log.append(update(s))));
const isUnavailable = (err: unknown): boolean => err instanceof ShoalError && err.code === 'E_UNAVAILABLE';

const wal = (epoch: number): string => `wal-${String(epoch).padStart(10, '0')}.log`;
const snap = (epoch: number): string => `snapshot-${String(epoch).padStart(10, '0')}.bin`;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-log-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function reopen(dir: string): Promise<RecoveredState> {
  const { log, recovered } = await openDurableLog({ dir });
  await log.close();
  return recovered;
}

test('a new directory opens at epoch 0 with no snapshot and an empty WAL', () =>
  withDir(async (root) => {
    const dir = join(root, 'nested', 'log');
    const { log, recovered } = await openDurableLog({ dir });
    await log.close();
    assert.deepEqual(recovered, { snapshot: null, updates: [], tornTailBytes: 0, epoch: 0 });
    assert.deepEqual(await readdir(dir), [wal(0)]);
  }));

test('append, close and reopen returns every update in order', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    for (const s of range(0, 50)) await log.append(update(s));
    assert.equal(log.stats().appends, 50);
    assert.equal(log.stats().syncs, 50);
    await log.close();
    const recovered = await reopen(dir);
    assert.deepEqual(recovered.updates.map(seqOf), range(0, 50));
    assert.equal(recovered.snapshot, null);
    assert.equal(recovered.tornTailBytes, 0);
  }));

test('200 concurrent appends are all acknowledged and recovered with far fewer syncs (group commit)', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    await appendAll(log, range(0, 200));
    const stats = log.stats();
    assert.equal(stats.appends, 200);
    assert.ok(stats.syncs < 20, `expected group commit, got ${stats.syncs} syncs for 200 appends`);
    await log.close();
    assert.deepEqual((await reopen(dir)).updates.map(seqOf), range(0, 200));
  }));

test('appends before, during and after a compaction are all recovered and older files are deleted', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    await appendAll(log, range(0, 100));
    const pending: Promise<unknown>[] = [];
    for (const s of range(100, 150)) pending.push(log.append(update(s)));
    await new Promise((resolve) => setImmediate(resolve)); // that batch is now being written to wal-0
    for (const s of range(150, 200)) pending.push(log.append(update(s))); // queued behind it
    pending.push(log.compact(snapshotOf(range(0, 200))));
    assert.equal(log.stats().epoch, 1, 'compact() switches epochs before it returns');
    for (const s of range(200, 300)) pending.push(log.append(update(s))); // concurrent with the snapshot write
    await Promise.all(pending);
    await appendAll(log, range(300, 400));
    const stats = log.stats();
    assert.equal(stats.compactions, 1);
    assert.ok(stats.lastCompactionAt !== null);
    assert.equal(stats.snapshotBytes, (await stat(join(dir, snap(1)))).size);
    await log.close();

    assert.deepEqual((await readdir(dir)).sort(), [snap(1), wal(1)]);
    const recovered = await reopen(dir);
    assert.equal(recovered.epoch, 1);
    assert.deepEqual(snapshotSeqs(recovered), range(0, 200));
    // Appends after compact() returned exist only in the new WAL: all there, in order.
    assert.deepEqual(recovered.updates.map(seqOf).filter((s) => s >= 200), range(200, 400));
    assert.deepEqual(recoveredSeqs(recovered), range(0, 400));
  }));

test('back-to-back compactions keep every update and leave only the newest epoch', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    const pending: Promise<unknown>[] = [];
    for (const round of range(0, 5)) {
      for (const s of range(round * 20, round * 20 + 20)) pending.push(log.append(update(s)));
      pending.push(log.compact(snapshotOf(range(0, round * 20 + 20))));
    }
    for (const s of range(100, 120)) pending.push(log.append(update(s)));
    await Promise.all(pending);
    await log.close();
    assert.deepEqual((await readdir(dir)).sort(), [snap(5), wal(5)]);
    const recovered = await reopen(dir);
    assert.equal(recovered.epoch, 5);
    assert.deepEqual(recoveredSeqs(recovered), range(0, 120));
  }));

test('a leftover snapshot .tmp from an interrupted compaction is ignored and removed', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    await appendAll(log, range(0, 10));
    await log.compact(snapshotOf(range(0, 10)));
    await appendAll(log, range(10, 20));
    await log.close();
    await writeFile(join(dir, `${snap(2)}.tmp`), encodeFrame(snapshotOf(range(0, 20))).subarray(0, 9));
    const recovered = await reopen(dir);
    assert.equal(recovered.epoch, 1);
    assert.deepEqual(recoveredSeqs(recovered), range(0, 20));
    assert.deepEqual((await readdir(dir)).sort(), [snap(1), wal(1)]);
  }));

test('a corrupt newest snapshot is ignored and recovery falls back to the older snapshot and its WALs', () =>
  withDir(async (dir) => {
    let { log } = await openDurableLog({ dir });
    await appendAll(log, range(0, 10));
    await log.compact(snapshotOf(range(0, 10)));
    await appendAll(log, range(10, 20));
    await log.close();
    const olderSnapshot = await readFile(join(dir, snap(1)));
    const olderWal = await readFile(join(dir, wal(1)));
    ({ log } = await openDurableLog({ dir }));
    await log.compact(snapshotOf(range(0, 20)));
    await appendAll(log, range(20, 30));
    await log.close();
    // A compaction's cleanup never ran, and its snapshot rotted afterwards.
    await writeFile(join(dir, snap(1)), olderSnapshot);
    await writeFile(join(dir, wal(1)), olderWal);
    const newest = await readFile(join(dir, snap(2)));
    newest[newest.length - 1] = (newest[newest.length - 1] ?? 0) ^ 0x40;
    await writeFile(join(dir, snap(2)), newest);

    const opened = await openDurableLog({ dir });
    log = opened.log;
    const recovered = opened.recovered;
    assert.deepEqual(snapshotSeqs(recovered), range(0, 10));
    assert.equal(recovered.epoch, 2);
    assert.deepEqual(recoveredSeqs(recovered), range(0, 30));
    // The next compaction supersedes the bad snapshot and removes it.
    await log.compact(snapshotOf(range(0, 30)));
    await log.close();
    assert.deepEqual((await readdir(dir)).sort(), [snap(3), wal(3)]);
    assert.deepEqual(recoveredSeqs(await reopen(dir)), range(0, 30));
  }));

test('a missing WAL between the snapshot and the newest WAL refuses to open instead of losing updates', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    await appendAll(log, range(0, 10));
    await log.compact(snapshotOf(range(0, 10)));
    await appendAll(log, range(10, 20));
    await log.compact(snapshotOf(range(0, 20)));
    await log.close();
    await unlink(join(dir, snap(2)));
    await writeFile(join(dir, snap(1)), encodeFrame(snapshotOf(range(0, 10))));
    await unlink(join(dir, wal(1))).catch(() => undefined); // already removed by the cleanup
    await assert.rejects(openDurableLog({ dir }), (err: unknown) => err instanceof ShoalError && err.code === 'E_INTERNAL' && err.message.includes(wal(1)));
  }));

test('a torn WAL tail is truncated and reported, and later appends survive a reopen', async (t) => {
  const tails: Record<string, Uint8Array> = {
    'half a frame': encodeFrame(update(999)).subarray(0, 7),
    'a frame cut inside its payload': encodeFrame(new Uint8Array(100).fill(7)).subarray(0, 60),
    'garbage bytes': Uint8Array.from({ length: 37 }, (_, i) => (i * 73 + 11) & 0xff),
  };
  for (const [name, tail] of Object.entries(tails)) {
    await t.test(name, () =>
      withDir(async (dir) => {
        let { log } = await openDurableLog({ dir });
        await appendAll(log, range(0, 10));
        await log.close();
        const walPath = join(dir, wal(0));
        const goodSize = (await stat(walPath)).size;
        await appendFile(walPath, tail);

        let recovered: RecoveredState;
        ({ log, recovered } = await openDurableLog({ dir }));
        assert.equal(recovered.tornTailBytes, tail.byteLength);
        assert.deepEqual(recovered.updates.map(seqOf), range(0, 10));
        assert.equal((await stat(walPath)).size, goodSize);
        assert.equal(log.stats().logBytes, goodSize);
        await log.append(update(10));
        await log.close();

        recovered = await reopen(dir);
        assert.equal(recovered.tornTailBytes, 0);
        assert.deepEqual(recovered.updates.map(seqOf), range(0, 11));
      }));
  }
});

test('a torn tail in an older WAL is reported and the newer WALs still replay', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    await appendAll(log, range(0, 10));
    const olderWal = await readFile(join(dir, wal(0)));
    await log.compact(snapshotOf(range(0, 10)));
    await appendAll(log, range(10, 20));
    await log.close();
    // Crash before the snapshot's rename, while the last batch to wal-0 was half written.
    await unlink(join(dir, snap(1)));
    await writeFile(join(dir, wal(0)), Buffer.concat([olderWal, encodeFrame(update(10)).subarray(0, 5)]));
    const recovered = await reopen(dir);
    assert.equal(recovered.snapshot, null);
    assert.equal(recovered.tornTailBytes, 5);
    assert.equal(recovered.epoch, 1);
    assert.deepEqual(recovered.updates.map(seqOf), range(0, 20));
  }));

test('a failed write rejects its whole batch and every later append (fail-stop)', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    await log.append(update(0));
    // The next WAL is /dev/full: every write to it fails with ENOSPC.
    await symlink('/dev/full', join(dir, wal(1)));
    await log.compact(snapshotOf([0]));
    const batch = await Promise.allSettled(range(1, 6).map((s) => log.append(update(s))));
    for (const r of batch) {
      assert.equal(r.status, 'rejected');
      assert.ok(isUnavailable(r.reason));
      assert.equal(((r.reason as Error).cause as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    await assert.rejects(log.append(update(6)), isUnavailable);
    await assert.rejects(log.compact(snapshotOf([0])), isUnavailable);
    assert.equal(log.stats().appends, 1);
    await log.close();
  }));

test('needsCompaction turns true once the WAL exceeds compactAfterBytes and false after compaction', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir, compactAfterBytes: 100 });
    // Each frame is 8 header bytes + 3 payload bytes.
    await appendAll(log, range(10, 19));
    assert.equal(log.stats().logBytes, 99);
    assert.equal(log.needsCompaction(), false);
    await log.append(update(19));
    assert.equal(log.needsCompaction(), true);
    await log.compact(snapshotOf(range(10, 20)));
    assert.equal(log.needsCompaction(), false);
    assert.equal(log.stats().logBytes, 0);
    await log.close();
  }));

test('close waits for queued appends, then refuses new ones', () =>
  withDir(async (dir) => {
    const { log } = await openDurableLog({ dir });
    const pending = appendAll(log, range(0, 50));
    await log.close();
    assert.equal(log.stats().appends, 50);
    await pending;
    await assert.rejects(log.append(update(50)), isUnavailable);
    assert.deepEqual((await reopen(dir)).updates.map(seqOf), range(0, 50));
  }));
