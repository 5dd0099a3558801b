/**
 * Run by store-bench in a fresh process: opens the store in argv[2] and prints, as one JSON
 * line, how long that took and the process's RSS after it. A fresh process so nothing the
 * builder left warm (JIT, heap, module cache) flatters the load time.
 */
import { openStore } from '@shoal/store';

export interface StoreLoadReport {
  /** Wall time of openStore(): read files, replay, and any compaction the store does on load. */
  readonly openMs: number;
  /** The store's own figure: replay into the document and cache only. */
  readonly replayMs: number;
  readonly instances: number;
  /** Whether openStore compacted the log it recovered (it does past a few thousand updates). */
  readonly compactedOnLoad: boolean;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: store-load-child.js DATA_DIR\n');
  process.exit(2);
}
const started = performance.now();
const store = await openStore({ dir });
const openMs = performance.now() - started;
const stats = store.stats();
const memory = process.memoryUsage();
await store.close();
const report: StoreLoadReport = {
  openMs,
  replayMs: stats.loadMs,
  instances: stats.instances,
  compactedOnLoad: stats.log.compactions > 0,
  rssBytes: memory.rss,
  heapUsedBytes: memory.heapUsed,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
