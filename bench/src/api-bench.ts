/**
 * Target 1: API requests per second over mutual TLS with keep-alive, shoald in its own
 * process at the production log level, the load generator in this one (on the same machine:
 * the two compete for its cores, which the report says).
 *
 * Phase order is list, get, create: listing must see only the seeded instances (so it measures
 * request overhead, not serialising a growing store), and creates grow the store last.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { instanceName, instanceSpec } from './fixtures.js';
import { runClosedLoop, type LoadResult } from './load.js';
import { createMtlsClient } from './mtls-client.js';
import { fetchStoreStatus } from './shoald-status.js';
import { availableParallelism } from 'node:os';
import { readMachineCpu, readProcCpuMs, readProcMemory, type MachineCpu } from './procs.js';
import { startShoaldProcess, type ShoaldProcess } from './shoald-process.js';
import type { BenchCerts } from './certs.js';
import type { BenchSettings } from './settings.js';

export type ApiOp = 'create' | 'get' | 'list';

export interface ApiPhaseResult extends LoadResult {
  readonly op: ApiOp;
  /** shoald's CPU in the window, as % of one core (200 % is both cores of this machine). */
  readonly shoaldCpuPct: number;
  /** CPU used by everything else on the machine (not shoald, not the bench), % of one core. */
  readonly otherCpuPct: number;
}

export interface ApiBenchResult {
  readonly phases: ApiPhaseResult[];
  /** Instances present during the list and get phases. */
  readonly listInstances: number;
  /** Bytes of one list response. */
  readonly listResponseBytes: number;
  readonly shoaldStartupMs: number;
  readonly logLevel: 'info';
  /** Bytes shoald logged over the run, and per request served. */
  readonly logBytes: number;
  readonly logBytesPerRequest: number;
  readonly shoaldRssAfterBytes: number;
  /** Instances in shoald's store at the end (seeded + created). */
  readonly instancesAtEnd: number;
  /** Store appends per WAL fdatasync over the run: how much group commit batched. */
  readonly appendsPerSync: number;
}

export interface ApiBenchInit {
  readonly settings: BenchSettings;
  readonly workDir: string;
  readonly certs: BenchCerts;
  readonly progress: (msg: string) => void;
}

const OPS_IN_RUN_ORDER: readonly ApiOp[] = ['list', 'get', 'create'];

export async function runApiBench(init: ApiBenchInit): Promise<ApiBenchResult> {
  const { settings, certs, progress } = init;
  const workDir = join(init.workDir, 'api');
  await mkdir(workDir, { recursive: true });
  const shoald = await startShoaldProcess({ workDir, dataDir: join(workDir, 'data'), certsDir: certs.dir, cpuProfDir: settings.cpuProfDir });
  try {
    const seeded = await seed(shoald, certs, settings);
    const seedNames = seeded.names;
    // One sequence for every instance made here, so names and VIPs never collide.
    let next = seedNames.length;

    const phases: ApiPhaseResult[] = [];
    for (const op of OPS_IN_RUN_ORDER) {
      for (const concurrency of settings.concurrencies) {
        const client = createMtlsClient({ host: shoald.host, port: shoald.port, tls: certs.admin, maxSockets: concurrency });
        let getCursor = 0;
        const issue = async (): Promise<boolean> => {
          switch (op) {
            case 'create': {
              const spec = instanceSpec('bench', next++, settings.backendsPerInstance);
              return (await client.request('POST', '/v1/instances', Buffer.from(JSON.stringify(spec)))).status === 201;
            }
            case 'get': {
              const name = seedNames[getCursor++ % seedNames.length] ?? instanceName('seed', 0);
              return (await client.request('GET', `/v1/instances/${name}`)).status === 200;
            }
            case 'list':
              return (await client.request('GET', '/v1/instances')).status === 200;
          }
        };
        let cpuStartMs = 0;
        let cpuEndMs = 0;
        let machineStart: MachineCpu = { busyTicks: 0, totalTicks: 0 };
        let machineEnd: MachineCpu = machineStart;
        try {
          const r = await runClosedLoop({
            concurrency,
            warmupMs: settings.warmupS * 1000,
            durationMs: settings.phaseS * 1000,
            issue,
            onWindowStart: async () => {
              [cpuStartMs, machineStart] = await Promise.all([readProcCpuMs(shoald.child.pid), readMachineCpu()]);
            },
            onWindowEnd: async () => {
              [cpuEndMs, machineEnd] = await Promise.all([readProcCpuMs(shoald.child.pid), readMachineCpu()]);
            },
          });
          const shoaldCpuPct = ((cpuEndMs - cpuStartMs) / r.windowMs) * 100;
          const machineTicks = machineEnd.totalTicks - machineStart.totalTicks;
          const machineBusyPct = machineTicks === 0 ? 0 : ((machineEnd.busyTicks - machineStart.busyTicks) / machineTicks) * availableParallelism() * 100;
          const otherCpuPct = Math.max(0, machineBusyPct - shoaldCpuPct - r.loadgenCpuPct);
          const phase: ApiPhaseResult = { ...r, op, shoaldCpuPct, otherCpuPct };
          phases.push(phase);
          progress(`  api ${op.padEnd(6)} c=${String(concurrency).padStart(3)}: ${Math.round(phase.perSecond)} req/s, p50 ${phase.p50Ms.toFixed(2)} ms, p99 ${phase.p99Ms.toFixed(2)} ms${phase.errors > 0 ? `, ${phase.errors} errors (${phase.firstError ?? '?'})` : ''}`);
        } finally {
          client.close();
        }
      }
    }
    return await summarise(shoald, certs, phases, seedNames.length, seeded.listResponseBytes);
  } finally {
    await shoald.child.stop(5_000);
  }
}

/** Creates the instances the list and get phases read (seed-0 .. seed-<n-1>). */
async function seed(shoald: ShoaldProcess, certs: BenchCerts, settings: BenchSettings): Promise<{ names: string[]; listResponseBytes: number }> {
  const client = createMtlsClient({ host: shoald.host, port: shoald.port, tls: certs.admin, maxSockets: 10 });
  try {
    const names: string[] = [];
    for (let n = 0; n < settings.listInstances; n += 10) {
      const batch = Array.from({ length: Math.min(10, settings.listInstances - n) }, (_, i) => n + i);
      await Promise.all(
        batch.map(async (k) => {
          const spec = instanceSpec('seed', k, settings.backendsPerInstance);
          const res = await client.request('POST', '/v1/instances', Buffer.from(JSON.stringify(spec)));
          if (res.status !== 201) throw new Error(`seeding ${spec.name}: HTTP ${res.status} ${res.body.toString('utf8')}`);
        }),
      );
      names.push(...batch.map((k) => instanceName('seed', k)));
    }
    const list = await client.request('GET', '/v1/instances');
    if (list.status !== 200) throw new Error(`listing: HTTP ${list.status}`);
    return { names, listResponseBytes: list.body.byteLength };
  } finally {
    client.close();
  }
}

async function summarise(shoald: ShoaldProcess, certs: BenchCerts, phases: ApiPhaseResult[], listInstances: number, listResponseBytes: number): Promise<ApiBenchResult> {
  const client = createMtlsClient({ host: shoald.host, port: shoald.port, tls: certs.admin, maxSockets: 1 });
  const store = await fetchStoreStatus(client).finally(() => client.close());
  const memory = await readProcMemory(shoald.child.pid);
  const logBytes = (await stat(shoald.logPath)).size;
  // Every request in the log, warm-up and seeding included: the divisor must match.
  const logText = await readFile(shoald.logPath, 'utf8');
  const requestLines = logText.split('\n').filter((l) => l.includes('"msg":"request"')).length;
  return {
    phases,
    listInstances,
    listResponseBytes,
    shoaldStartupMs: shoald.startupMs,
    logLevel: 'info',
    logBytes,
    logBytesPerRequest: requestLines === 0 ? 0 : logBytes / requestLines,
    shoaldRssAfterBytes: memory.rssBytes,
    instancesAtEnd: store.instances,
    appendsPerSync: store.log.syncs === 0 ? 0 : store.log.appends / store.log.syncs,
  };
}
