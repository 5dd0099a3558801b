/**
 * `pnpm bench`: Shoal's performance figures next to the targets. Benchmarks report and
 * tests assert: a missed target prints MISS and the exit code stays 0; only a benchmark that
 * could not run at all exits 1.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { runApiBench, type ApiBenchResult } from './api-bench.js';
import { makeCerts, waitForCertsScript } from './certs.js';
import { runClusterBench, type ClusterBenchResult } from './cluster-bench.js';
import { runDataplaneBench, type DataplaneBenchResult } from './dataplane-bench.js';
import { formatIpvs, ipvsRows, runIpvsBench, type IpvsBenchResult } from './ipvs-bench.js';
import { RESULTS_FILE } from './repo.js';
import { bgpRows, clusterRows, failoverRows, formatApi, formatBgp, formatCluster, formatDataplane, formatFailover, formatRss, formatStore, formatSwim, formatTargets, swimRows, targetRows } from './report.js';
import { runFailoverBench, type FailoverBenchResult } from './failover-bench.js';
import { runBgpBench, type BgpBenchResult } from './bgp-bench.js';
import { runRssBench, type RssBenchResult } from './rss-bench.js';
import { readSettings } from './settings.js';
import { runStoreBench, type StoreBenchResult } from './store-bench.js';
import { SWIM_BENCH_DEFAULTS, runSwimBench, type SwimBenchResult } from './swim-bench.js';

/** The certificate script may still be in the works; the brief allows waiting this long. */
const CERTS_SCRIPT_WAIT_MS = 20 * 60_000;

const say = (line = ''): void => void process.stdout.write(`${line}\n`);

const settings = readSettings();
const machine = {
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryBytes: totalmem(),
};
const startedAt = new Date();
say(`Shoal bench ${startedAt.toISOString()}: Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), ${Math.round(machine.memoryBytes / 2 ** 30)} GiB`);
say('shoald runs as its own process; the load generator runs in this one on the same machine and competes for its CPUs.');

const workDir = await mkdtemp(join(tmpdir(), 'shoal-bench-'));
let api: ApiBenchResult | undefined;
let store: StoreBenchResult | undefined;
let rss: RssBenchResult | undefined;
let dataplane: DataplaneBenchResult | undefined;
let ipvs: IpvsBenchResult | { skipped: string } | undefined;
let cluster: ClusterBenchResult | undefined;
let swim: SwimBenchResult | undefined;
let failover: FailoverBenchResult | undefined;
let bgp: BgpBenchResult | undefined;
const wanted = new Set(settings.sections);
const failures: string[] = [];

/** One section failing (say shoald cannot start) still lets the others report. */
async function section<T>(name: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (err) {
    const message = (err as Error).stack ?? String(err);
    failures.push(`${name}: ${message}`);
    say(`  ${name} FAILED: ${message}`);
    return undefined;
  }
}

try {
  const certs = wanted.has('api') || wanted.has('rss') || wanted.has('cluster')
    ? await section('certificates', async () => {
        await waitForCertsScript(CERTS_SCRIPT_WAIT_MS, (msg) => say(`  ${msg}`));
        return makeCerts(join(workDir, 'certs'));
      })
    : undefined;
  if (certs && wanted.has('api')) {
    say('\n[1/9] API throughput');
    api = await section('api', () => runApiBench({ settings, workDir, certs, progress: say }));
  }
  if (wanted.has('store') || wanted.has('rss')) {
    say('\n[2/9] Store load time and size');
    store = await section('store', () => runStoreBench({ settings, workDir, progress: say }));
  }
  if (certs && store && wanted.has('rss')) {
    const dataDir = store.compactedDataDir;
    say('\n[3/9] shoald RSS');
    rss = await section('rss', () => runRssBench({ workDir, dataDir, certs, settleS: settings.rssSettleS, progress: say }));
  }
  if (wanted.has('dataplane')) {
    say('\n[4/9] Data plane (nftables)');
    dataplane = await section('dataplane', () => runDataplaneBench({ settings, workDir, progress: say }));
  }
  if (wanted.has('ipvs')) {
    say('\n[5/9] Data plane (IPVS, in a qemu guest)');
    ipvs = await section('ipvs', () => runIpvsBench({ services: settings.ipvsServices, progress: say }));
  }
  if (certs && wanted.has('cluster')) {
    say('\n[6/9] Cluster: write-to-all-nodes convergence');
    cluster = await section('cluster', () => runClusterBench({ workDir, certs, sizes: settings.clusterSizes, progress: say }));
  }
  if (wanted.has('swim')) {
    say(`\n[7/9] SWIM: failure detection, stalls, idle gossip (${settings.swimProfile} profile)`);
    const swimSettings = { ...SWIM_BENCH_DEFAULTS, profile: settings.swimProfile, detectionSizes: settings.swimDetectionSizes, detectionTrials: settings.swimTrials };
    swim = await section('swim', () => runSwimBench({ workDir, settings: swimSettings, progress: say }));
  }
  if (wanted.has('failover')) {
    say(`\n[8/9] Failover: internal election (crash, SIGTERM, ${settings.idleS} s idle) and keepalived mode, ${settings.failoverTrials} trials each`);
    failover = await section('failover', () => runFailoverBench({ workDir, settings: { trials: settings.failoverTrials, idleS: settings.idleS, logLevel: settings.failoverLogLevel }, progress: say }));
  }
  if (wanted.has('bgp')) {
    say(`\n[9/9] BGP: shoald nodes and BIRD in namespaces (ecmp create/delete, ecmp node death, owner death), ${settings.bgpTrials} trials each`);
    bgp = await section('bgp', () => runBgpBench({ workDir, settings: { trials: settings.bgpTrials }, progress: say }));
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}

say();
if (api) say(`${formatApi(api, settings.phaseS, settings.warmupS)}\n`);
if (store) say(`${formatStore(store)}\n`);
if (rss) say(`${formatRss(rss)}\n`);
if (dataplane) say(`${formatDataplane(dataplane)}\n`);
if (ipvs) say(`${formatIpvs(ipvs)}\n`);
if (cluster) say(`${formatCluster(cluster)}\n`);
if (swim) say(`${formatSwim(swim)}\n`);
if (failover) say(`${formatFailover(failover)}\n`);
if (bgp) say(`${formatBgp(bgp)}\n`);
const targets = [...targetRows(api, store, rss, dataplane), ...ipvsRows(ipvs), ...clusterRows(cluster), ...swimRows(swim), ...failoverRows(failover), ...bgpRows(bgp)];
say('Summary (targets from the issue; per node, on this machine)');
say(formatTargets(targets));
if (settings.cpuProfDir !== undefined) say(`\nshoald CPU profiles: ${settings.cpuProfDir}`);

await mkdir(dirname(RESULTS_FILE), { recursive: true });
await writeFile(RESULTS_FILE, `${JSON.stringify({ startedAt: startedAt.toISOString(), machine, settings, api, store, rss, dataplane, ipvs, cluster, swim, failover, bgp, targets, failures }, null, 2)}\n`);
say(`\nresults: ${RESULTS_FILE}`);
if (failures.length > 0) process.exitCode = 1;
