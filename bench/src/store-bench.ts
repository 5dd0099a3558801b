/**
 * Target 2: how long a node takes to load 10,000 instances x 4 backends from disk, and how
 * much disk they take, both as the raw update log (one frame per create, the worst case after
 * a crash) and as a compacted snapshot (the usual case).
 *
 * The state is built in-process through openStore (the API adds nothing to what lands on
 * disk), then each form is loaded by a fresh process.
 */
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InstanceSpecSchema, parseOrThrow } from '@shoal/model';
import { openStore } from '@shoal/store';
import { instanceSpec } from './fixtures.js';
import { runNodeForJson } from './procs.js';
import { STORE_LOAD_CHILD } from './repo.js';
import type { BenchSettings } from './settings.js';
import type { StoreLoadReport } from './store-load-child.js';

export interface DiskUsage {
  readonly snapshotBytes: number;
  readonly walBytes: number;
  readonly totalBytes: number;
}

export interface StoreLoadFigures extends StoreLoadReport {
  /** On disk before the load (the load may compact, which changes it). */
  readonly disk: DiskUsage;
}

export interface StoreBenchResult {
  readonly instances: number;
  readonly backendsPerInstance: number;
  readonly buildMs: number;
  readonly wal: StoreLoadFigures;
  readonly snapshot: StoreLoadFigures;
  /** The compacted data dir, left for the RSS benchmark. */
  readonly compactedDataDir: string;
}

export interface StoreBenchInit {
  readonly settings: BenchSettings;
  readonly workDir: string;
  readonly progress: (msg: string) => void;
}

/** Creates in flight at once while building: enough for group commit to batch the fsyncs. */
const BUILD_CONCURRENCY = 256;
const LOAD_TIMEOUT_MS = 120_000;

export async function runStoreBench(init: StoreBenchInit): Promise<StoreBenchResult> {
  const { settings, progress } = init;
  const walDir = join(init.workDir, 'store-wal');
  const snapshotDir = join(init.workDir, 'store-snapshot');
  await mkdir(walDir, { recursive: true });

  progress(`  building ${settings.storeInstances} instances x ${settings.backendsPerInstance} backends ...`);
  const buildMs = await build(walDir, settings.storeInstances, settings.backendsPerInstance);
  // Copied before any load: the first load of a long log compacts it in place.
  await cp(walDir, snapshotDir, { recursive: true });

  const walDisk = await diskUsage(walDir);
  const wal: StoreLoadFigures = { ...(await loadInFreshProcess(walDir)), disk: walDisk };
  progress(`  load from WAL: ${Math.round(wal.openMs)} ms (${wal.instances} instances)`);

  const store = await openStore({ dir: snapshotDir });
  await store.compact();
  await store.close();
  const snapshotDisk = await diskUsage(snapshotDir);
  const snapshot: StoreLoadFigures = { ...(await loadInFreshProcess(snapshotDir)), disk: snapshotDisk };
  progress(`  load from snapshot: ${Math.round(snapshot.openMs)} ms (${snapshot.instances} instances)`);

  return { instances: settings.storeInstances, backendsPerInstance: settings.backendsPerInstance, buildMs, wal, snapshot, compactedDataDir: snapshotDir };
}

async function build(dir: string, instances: number, backends: number): Promise<number> {
  const started = performance.now();
  const store = await openStore({ dir });
  try {
    for (let n = 0; n < instances; n += BUILD_CONCURRENCY) {
      const batch: Promise<unknown>[] = [];
      for (let k = n; k < Math.min(n + BUILD_CONCURRENCY, instances); k++) {
        batch.push(store.createInstance(parseOrThrow(InstanceSpecSchema, instanceSpec('store', k, backends))));
      }
      await Promise.all(batch);
    }
  } finally {
    await store.close();
  }
  return performance.now() - started;
}

async function loadInFreshProcess(dir: string): Promise<StoreLoadReport> {
  return (await runNodeForJson(STORE_LOAD_CHILD, [dir], LOAD_TIMEOUT_MS)) as StoreLoadReport;
}

async function diskUsage(dir: string): Promise<DiskUsage> {
  let snapshotBytes = 0;
  let walBytes = 0;
  for (const name of await readdir(dir)) {
    const { size } = await stat(join(dir, name));
    if (name.startsWith('snapshot-')) snapshotBytes += size;
    else if (name.startsWith('wal-')) walBytes += size;
  }
  return { snapshotBytes, walBytes, totalBytes: snapshotBytes + walBytes };
}
