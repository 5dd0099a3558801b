/**
 * What a bench run does, read once from the environment so `pnpm bench` needs no flags and a
 * quick local run is one variable away (BENCH_SECONDS=1).
 */
import type { SwimProfile } from '@shoal/swim';

export interface BenchSettings {
  /** Measured time per API phase. Default 3 s: long enough for p99 over thousands of requests. */
  readonly phaseS: number;
  /** Unmeasured time before each phase. Default 1 s: TLS handshakes and JIT settle first. */
  readonly warmupS: number;
  /** Closed-loop client counts per phase, as the issue asks: 1, 10 and 100. */
  readonly concurrencies: readonly number[];
  /** Instances present while listing. Default 100: small, so the list measures request overhead. */
  readonly listInstances: number;
  /** Instances in the store-size and RSS benchmarks. Default 10,000 (the figure). */
  readonly storeInstances: number;
  /** Backends per instance everywhere. Default 4 (the figure). */
  readonly backendsPerInstance: number;
  /**
   * After the RSS reading, shoald is left idle this long and its lowest RSS reported too: V8's
   * memory reducer hands back the heap that loading grew only after some idle seconds.
   * Default 40 s (it acted after ~30 s here); 0 skips it.
   */
  readonly rssSettleS: number;
  /** When set, shoald runs with --cpu-prof and writes its profiles here (kept after the run). */
  readonly cpuProfDir: string | undefined;
  /** Sections to run (BENCH_SECTIONS=dataplane,store). Default all; rss needs store. */
  readonly sections: readonly BenchSection[];
  /** IPVS services programmed in the qemu guest (BENCH_IPVS_SERVICES). Default 1,000: under software emulation 10,000 take about ten minutes. */
  readonly ipvsServices: number;
  /** Services x 4 destinations the data-plane bench programs. Default 10,000 (the figure). */
  readonly dataplaneServices: number;
  /** Fresh-namespace rounds of the programming figures, medians reported. Default 3: nft load times vary 2-3x here. */
  readonly dataplaneRounds: number;
  /** Seconds per wrk run through the VIP or direct. Default 3 s (the recipe's 3-5 s rounds). */
  readonly wrkSeconds: number;
  /** Interleaved wrk rounds (direct, VIP, ...), medians reported. Default 3. */
  readonly wrkRounds: number;
  /** shoald cluster sizes of the write-to-all bench (BENCH_CLUSTER_SIZES). Default 3,5,9. */
  readonly clusterSizes: readonly number[];
  /**
   * SWIM profile of the swim section (BENCH_SWIM_PROFILE). Default lan, memberlist's LAN timers
   * (the section then takes about 3.5 minutes here); local detects faster and runs shorter.
   */
  readonly swimProfile: SwimProfile;
  /** Cluster sizes of the SWIM SIGKILL trials (BENCH_SWIM_SIZES). Default 5. */
  readonly swimDetectionSizes: readonly number[];
  /** SIGKILL trials per size (BENCH_SWIM_TRIALS). Default 10. */
  readonly swimTrials: number;
  /**
   * Trials of each failover kind: internal crash, SIGTERM hand-over, and keepalived crash at each
   * advert interval (BENCH_FAILOVER_TRIALS). Default 20: a p99 over 20 is the worst but one.
   */
  readonly failoverTrials: number;
  /** Seconds the failover lab idles while VIP moves and client gaps are counted (BENCH_IDLE_S). Default 600, the 10 minutes. */
  readonly idleS: number;
  /** shoald's log level in the failover labs (BENCH_FAILOVER_LOG_LEVEL=debug shows every ownership pass). Default info, as in production. */
  readonly failoverLogLevel: 'info' | 'debug';
  /**
   * Trials of each BGP measurement: ecmp create/delete, ecmp node death, owner death
   * (BENCH_BGP_TRIALS). Default 20, as for failover: a p99 over 20 is the worst but one.
   */
  readonly bgpTrials: number;
}

export const BENCH_SECTIONS = ['api', 'store', 'rss', 'dataplane', 'ipvs', 'cluster', 'swim', 'failover', 'bgp'] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];

function readSections(): BenchSection[] {
  const raw = process.env['BENCH_SECTIONS'];
  if (raw === undefined || raw.trim() === '') return [...BENCH_SECTIONS];
  return raw.split(',').map((s) => {
    const name = BENCH_SECTIONS.find((known) => known === s.trim());
    if (name === undefined) throw new Error(`BENCH_SECTIONS: "${s}" is not one of ${BENCH_SECTIONS.join(', ')}`);
    return name;
  });
}

function sizes(name: string, fallback: string, min: number): number[] {
  return (process.env[name] ?? fallback).split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: "${s}" is not an integer >= ${min}`);
    return n;
  });
}

function swimProfile(): SwimProfile {
  const raw = process.env['BENCH_SWIM_PROFILE'] ?? 'lan';
  if (raw !== 'lan' && raw !== 'local') throw new Error(`BENCH_SWIM_PROFILE: "${raw}" is not lan or local`);
  return raw;
}

function failoverLogLevel(): 'info' | 'debug' {
  const raw = process.env['BENCH_FAILOVER_LOG_LEVEL'] ?? 'info';
  if (raw !== 'info' && raw !== 'debug') throw new Error(`BENCH_FAILOVER_LOG_LEVEL: "${raw}" is not info or debug`);
  return raw;
}

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: expected a positive number, got "${raw}"`);
  return n;
}

export function readSettings(): BenchSettings {
  const concurrencies = (process.env['BENCH_CONCURRENCY'] ?? '1,10,100').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONCURRENCY: "${s}" is not a positive integer`);
    return n;
  });
  const cpuProfDir = process.env['BENCH_CPU_PROF'];
  return {
    phaseS: positiveNumber('BENCH_SECONDS', 3),
    warmupS: positiveNumber('BENCH_WARMUP_SECONDS', 1),
    concurrencies,
    listInstances: Math.round(positiveNumber('BENCH_LIST_INSTANCES', 100)),
    storeInstances: Math.round(positiveNumber('BENCH_STORE_INSTANCES', 10_000)),
    backendsPerInstance: 4,
    rssSettleS: process.env['BENCH_RSS_SETTLE_SECONDS'] === '0' ? 0 : positiveNumber('BENCH_RSS_SETTLE_SECONDS', 40),
    cpuProfDir: cpuProfDir === undefined || cpuProfDir === '' ? undefined : cpuProfDir,
    sections: readSections(),
    ipvsServices: Number(process.env['BENCH_IPVS_SERVICES'] ?? '1000'),
    dataplaneServices: Math.round(positiveNumber('BENCH_DATAPLANE_SERVICES', 10_000)),
    dataplaneRounds: Math.round(positiveNumber('BENCH_DATAPLANE_ROUNDS', 3)),
    wrkSeconds: Math.round(positiveNumber('BENCH_WRK_SECONDS', 3)),
    wrkRounds: Math.round(positiveNumber('BENCH_WRK_ROUNDS', 3)),
    clusterSizes: sizes('BENCH_CLUSTER_SIZES', '3,5,9', 2),
    swimProfile: swimProfile(),
    // Three members is the least that lets a killed one be suspected by more than one survivor.
    swimDetectionSizes: sizes('BENCH_SWIM_SIZES', '5', 3),
    swimTrials: Math.round(positiveNumber('BENCH_SWIM_TRIALS', 10)),
    failoverTrials: Math.round(positiveNumber('BENCH_FAILOVER_TRIALS', 20)),
    idleS: positiveNumber('BENCH_IDLE_S', 600),
    failoverLogLevel: failoverLogLevel(),
    bgpTrials: Math.round(positiveNumber('BENCH_BGP_TRIALS', 20)),
  };
}
