/**
 * Target 3: resident memory of shoald holding 10,000 instances, read from the kernel
 * (/proc/<pid>/status) after startup and a handful of reads, i.e. a node at rest.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { instanceName } from './fixtures.js';
import { createMtlsClient } from './mtls-client.js';
import { readProcMemory, type ProcMemory } from './procs.js';
import { startShoaldProcess } from './shoald-process.js';
import { fetchStoreStatus } from './shoald-status.js';
import type { BenchCerts } from './certs.js';

export interface RssBenchResult extends ProcMemory {
  readonly instances: number;
  /** Spawn to "shoald ready": process start, module load, store load, listen. */
  readonly startupMs: number;
  /** The store's own load figure, from /v1/status. */
  readonly storeLoadMs: number;
  /** Instance GETs made before the reading. */
  readonly warmGets: number;
  /** How long shoald was then left idle, and its lowest RSS in that time (undefined if 0 s). */
  readonly settleS: number;
  readonly settledRssBytes: number | undefined;
}

export interface RssBenchInit {
  readonly workDir: string;
  readonly dataDir: string;
  readonly certs: BenchCerts;
  readonly settleS: number;
  readonly progress: (msg: string) => void;
}

/** Reads after startup, so lazily built paths (routing, TLS session, JSON) are in the figure. */
const WARM_GETS = 5;

export async function runRssBench(init: RssBenchInit): Promise<RssBenchResult> {
  const workDir = join(init.workDir, 'rss');
  await mkdir(workDir, { recursive: true });
  const shoald = await startShoaldProcess({ workDir, dataDir: init.dataDir, certsDir: init.certs.dir, });
  const client = createMtlsClient({ host: shoald.host, port: shoald.port, tls: init.certs.admin, maxSockets: 1 });
  try {
    const status = await fetchStoreStatus(client);
    for (let i = 0; i < WARM_GETS; i++) {
      // Spread over the store: the first, middle and late instances.
      const name = instanceName('store', Math.floor((i * status.instances) / WARM_GETS));
      const res = await client.request('GET', `/v1/instances/${name}`);
      if (res.status !== 200) throw new Error(`GET /v1/instances/${name}: HTTP ${res.status}`);
    }
    const memory = await readProcMemory(shoald.child.pid);
    init.progress(`  RSS after ready and ${WARM_GETS} GETs: ${(memory.rssBytes / 2 ** 20).toFixed(1)} MB`);
    let settledRssBytes: number | undefined;
    if (init.settleS > 0) {
      init.progress(`  leaving shoald idle for ${init.settleS} s ...`);
      const until = performance.now() + init.settleS * 1000;
      while (performance.now() < until) {
        await sleep(1_000);
        const { rssBytes } = await readProcMemory(shoald.child.pid);
        settledRssBytes = Math.min(settledRssBytes ?? rssBytes, rssBytes);
      }
    }
    return { ...memory, instances: status.instances, startupMs: shoald.startupMs, storeLoadMs: status.loadMs, warmGets: WARM_GETS, settleS: init.settleS, settledRssBytes };
  } finally {
    client.close();
    await shoald.child.stop(5_000);
  }
}
