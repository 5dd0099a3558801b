/**
 * Write-to-all-nodes convergence: real shoald processes on loopback (SWIM `local` profile,
 * replication over mutual TLS), sequential creates round-robin over the nodes. With write
 * concern `all` the API answers only once every node holds the write durably, so the request's
 * latency is the time for a write to reach the whole cluster. Concerns 1 and `majority` are
 * measured the same way for context: all/1 is what waiting for the others costs.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createShoalClient, type ShoalClient } from '@shoal/client';
import type { WriteConcern } from '@shoal/model';
import { issueNodeCert, type BenchCerts } from './certs.js';
import { instanceSpec } from './fixtures.js';
import { percentile } from './load.js';
import { freePort } from './procs.js';
import { startShoaldProcess, type ShoaldProcess } from './shoald-process.js';

/** Cluster sizes measured; 9 is what a 2-core machine still runs without swapping. */
export const CLUSTER_SIZES: readonly number[] = [3, 5, 9];
/** Sequential creates per size with write concern `all` (the figure) and with 1 and `majority` (context). */
export const CLUSTER_ALL_WRITES = 200;
export const CLUSTER_CONTEXT_WRITES = 100;
/** Unmeasured `all` writes first: TLS connections between the nodes and the JIT settle. */
const WARMUP_WRITES = 10;
/** The issue's target for write-to-all convergence on loopback. */
export const CLUSTER_P99_TARGET_MS = 50;

/** One fixed gossip key (32 bytes, base64); a bench cluster needs no secret. */
const GOSSIP_KEY = Buffer.alloc(32, 5).toString('base64');
const HOST = '127.0.0.1';

export interface LatencyFigures {
  readonly writes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export interface ClusterSizeResult {
  readonly nodes: number;
  /** Spawn of the first node to every node seeing every member alive. */
  readonly formMs: number;
  readonly all: LatencyFigures;
  readonly one: LatencyFigures;
  readonly majority: LatencyFigures;
}

export interface ClusterBenchResult {
  readonly profile: 'local';
  readonly warmupWrites: number;
  readonly sizes: ClusterSizeResult[];
}

export interface ClusterBenchInit {
  readonly workDir: string;
  readonly certs: BenchCerts;
  readonly sizes?: readonly number[];
  readonly progress: (msg: string) => void;
}

interface BenchNode {
  readonly name: string;
  readonly gossipPort: number;
  readonly shoald: ShoaldProcess;
  readonly client: ShoalClient;
}

export async function runClusterBench(init: ClusterBenchInit): Promise<ClusterBenchResult> {
  const sizes: ClusterSizeResult[] = [];
  // One sequence over every size, so names and VIPs never collide even in a reused data dir.
  let next = 0;
  for (const size of init.sizes ?? CLUSTER_SIZES) {
    const dir = join(init.workDir, `cluster-${size}`);
    await mkdir(dir, { recursive: true });
    const nodes: BenchNode[] = [];
    try {
      const started = performance.now();
      await startCluster(init.certs, dir, size, nodes);
      await waitAllAlive(nodes, 60_000);
      const formMs = performance.now() - started;
      init.progress(`  cluster ${size} nodes: all members alive everywhere ${Math.round(formMs)} ms after the first spawn`);
      const write = async (concern: WriteConcern, count: number): Promise<LatencyFigures> => {
        const samples = new Float64Array(count);
        for (let i = 0; i < count; i++) {
          const node = nodes[i % nodes.length] as BenchNode;
          const spec = instanceSpec('cluster', next++, 1);
          const t0 = performance.now();
          await node.client.createInstance(spec, { writeConcern: concern });
          samples[i] = performance.now() - t0;
        }
        return figures(samples);
      };
      await write('all', WARMUP_WRITES);
      const all = await write('all', CLUSTER_ALL_WRITES);
      const one = await write(1, CLUSTER_CONTEXT_WRITES);
      const majority = await write('majority', CLUSTER_CONTEXT_WRITES);
      init.progress(`  cluster ${size} nodes: all p50 ${all.p50Ms.toFixed(2)} / p99 ${all.p99Ms.toFixed(2)} ms; 1 p50 ${one.p50Ms.toFixed(2)} ms; majority p50 ${majority.p50Ms.toFixed(2)} ms`);
      sizes.push({ nodes: size, formMs, all, one, majority });
    } finally {
      await Promise.all(
        nodes.map(async (n) => {
          n.client.close();
          // By PID: SIGTERM, SIGKILL after the grace.
          await n.shoald.child.stop(2_000);
        }),
      );
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { profile: 'local', warmupWrites: WARMUP_WRITES, sizes };
}

/** node1 first (it seeds the others), then the rest at once, as an operator would. Fills `nodes` as they come up. */
async function startCluster(certs: BenchCerts, dir: string, size: number, nodes: BenchNode[]): Promise<void> {
  const specs: { name: string; gossipPort: number; apiPort: number }[] = [];
  for (let i = 1; i <= size; i++) {
    const name = `node${i}`;
    await issueNodeCert(certs.dir, name);
    specs.push({ name, gossipPort: await freePort(HOST), apiPort: await freePort(HOST) });
  }
  const first = specs[0];
  if (first === undefined) return;
  const seed = `${HOST}:${first.gossipPort}`;
  const start = async (spec: { name: string; gossipPort: number; apiPort: number }, seeds: string[]): Promise<void> => {
    const workDir = join(dir, spec.name);
    await mkdir(workDir, { recursive: true });
    const shoald = await startShoaldProcess({
      workDir,
      dataDir: join(workDir, 'data'),
      certsDir: certs.dir,
      name: spec.name,
      port: spec.apiPort,
      cluster: { enabled: true, bind: { host: HOST, port: spec.gossipPort }, seeds, keys: [GOSSIP_KEY], profile: 'local' },
    });
    const client = createShoalClient({ endpoints: [`https://${HOST}:${shoald.port}`], cert: certs.admin.cert, key: certs.admin.key, ca: certs.admin.ca, timeoutMs: 15_000, maxSockets: 1 });
    nodes.push({ name: spec.name, gossipPort: spec.gossipPort, shoald, client });
  };
  await start(first, []);
  const rest = await Promise.allSettled(specs.slice(1).map((s) => start(s, [seed])));
  const failed = rest.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  nodes.sort((a, b) => Number(a.name.slice(4)) - Number(b.name.slice(4)));
}

async function waitAllAlive(nodes: readonly BenchNode[], timeoutMs: number): Promise<void> {
  const names = nodes.map((n) => n.name);
  const deadline = performance.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const views = await Promise.all(nodes.map(async (n) => new Map((await n.client.members()).map((m) => [m.name, m.state]))));
      if (views.every((v) => names.every((name) => v.get(name) === 'alive'))) return;
      last = views.map((v, i) => `${names[i] ?? '?'}: ${[...v].filter(([, s]) => s === 'alive').length} alive`).join(', ');
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > deadline) {
      const logs = await Promise.all(nodes.map(async (n) => `${n.name}: ${(await readFile(n.shoald.logPath, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"level":50') || l.includes('"level":40')).slice(-3).join(' | ')}`));
      throw new Error(`cluster of ${nodes.length} did not see every member alive within ${timeoutMs} ms (${last}); warnings: ${logs.join('; ')}`);
    }
    await sleep(100);
  }
}

function figures(samples: Float64Array): LatencyFigures {
  const sorted = Float64Array.from(samples).sort();
  return {
    writes: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    meanMs: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
  };
}
