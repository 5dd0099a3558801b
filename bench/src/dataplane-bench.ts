/**
 * The data plane: how long the nftables driver takes to program the issue's 10,000 services x
 * 4 destinations and to apply one change with them in place, next to one raw `nft -f` of the
 * very script the driver renders (the floor: what nft and the kernel cost without the driver);
 * and requests per second through a VIP against the same path without DNAT, with wrk.
 *
 * Everything runs in network namespaces named `shb-<pid>-*` with 10.x addresses only; every
 * namespace and process the bench made is removed in `finally` (processes by PID). IPVS needs a
 * kernel with ip_vs, i.e. the qemu guest of the VM test run: not measured here.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compareServers, planChanges, type RealServer, type VirtualService } from '@shoal/dataplane';
import { createNftablesDataplane, renderIncremental, renderRuleset } from '@shoal/nftables';
import { createNetnsLab, hasCommand, labSkipReason, type NetnsLab } from '@shoal/testkit';
import type { BenchSettings } from './settings.js';

export const IPVS_NOTE = 'ipvs: measured in the VM test run (needs a qemu guest with ip_vs; not part of pnpm bench)';
/** The recipe's figure for rewriting one service's 12 slots by hand (nftables-dataplane.md). */
export const RECIPE_INCREMENTAL_MS = '10-20';

export interface ProgrammingRound {
  /** apply() of the whole state into an empty table: render + `nft -f -` through the driver. */
  readonly driverFullMs: number;
  /** One `nft -f <file>` of renderRuleset(desired), rendered beforehand. */
  readonly rawFullMs: number;
  /** apply() of one weight change + one added service with the state in place. */
  readonly driverChangeMs: number;
  /** One `nft -f <file>` of the same delete/add-element script the driver renders for that change. */
  readonly rawChangeMs: number;
  /** dump() with the state (+1 service) in place. */
  readonly dumpMs: number;
  /** What lastApply() said about the change: 'incremental' unless the driver fell back. */
  readonly changeMode: string;
  readonly dumpedServices: number;
}

export interface ProgrammingFigures {
  readonly services: number;
  readonly destinationsPerService: number;
  readonly fullScriptBytes: number;
  readonly changeScriptBytes: number;
  readonly rounds: readonly ProgrammingRound[];
  readonly driverFullMs: number;
  readonly rawFullMs: number;
  readonly driverChangeMs: number;
  readonly rawChangeMs: number;
  readonly dumpMs: number;
}

export type WrkPath = 'direct' | 'vip1' | 'vip4';

export interface WrkRun {
  readonly round: number;
  readonly path: WrkPath;
  readonly requestsPerSecond: number;
  readonly requests: number;
  /** Socket errors (connect/read/write/timeout) plus non-2xx responses. */
  readonly errors: number;
}

export interface ThroughputFigures {
  readonly seconds: number;
  readonly rounds: number;
  readonly threads: number;
  readonly connections: number;
  readonly runs: readonly WrkRun[];
  /** Median req/s per path. */
  readonly direct: number;
  readonly vip1: number;
  readonly vip4: number;
  /** median(VIP -> 1 backend) / median(direct): the issue's >= 90 % figure. */
  readonly vipToDirect: number;
  /** Per-round VIP/direct ratios, to show the noise. */
  readonly roundRatios: readonly number[];
}

export interface DataplaneBenchResult {
  /** Why the whole section did not run, when it did not. */
  readonly skipped?: string;
  readonly programming?: ProgrammingFigures;
  readonly throughput?: ThroughputFigures;
  readonly throughputSkipped?: string;
  readonly ipvs: string;
  /** Leftovers cleanup could not remove (should be empty). */
  readonly cleanupProblems: readonly string[];
}

export interface DataplaneBenchInit {
  readonly settings: BenchSettings;
  readonly workDir: string;
  readonly progress: (msg: string) => void;
}

const DESTINATIONS = 4;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 50;
/** Generous: a 10k-service load took up to 35 s in the recipe with a busy neighbour. */
const NFT_TIMEOUT_MS = 300_000;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/**
 * Service i: a VIP of its own in 10.100/16 (the port moves on past 65,536 services) and four
 * backends in 10.200-203/16. Nothing routes to them: this part times the rules only.
 */
function benchService(i: number, weights: readonly number[] = [1, 1, 1, 1]): VirtualService {
  const host = `${(i >> 8) & 255}.${i & 255}`;
  const servers: RealServer[] = weights.map((weight, j) => ({ ip: `10.${200 + j}.${host}`, port: 8080 + (i >> 16), weight, forwarding: 'nat' }));
  return { protocol: 'tcp', vip: `10.100.${host}`, port: 80 + (i >> 16), family: 4, scheduler: 'wrr', persistenceTimeoutS: 0, servers: servers.sort(compareServers) };
}

async function timed<T>(body: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await body();
  return [value, performance.now() - started];
}

interface ProgrammingState {
  readonly desired: readonly VirtualService[];
  /** desired with one backend's weight changed and one service added. */
  readonly changed: readonly VirtualService[];
  readonly fullScriptPath: string;
  readonly changeScriptPath: string;
}

async function programmingRound(lab: NetnsLab, round: number, state: ProgrammingState): Promise<ProgrammingRound> {
  const drvNs = await lab.addNamespace(`drv${round}`);
  const rawNs = await lab.addNamespace(`raw${round}`);
  try {
    const driver = async (): Promise<Pick<ProgrammingRound, 'driverFullMs' | 'driverChangeMs' | 'dumpMs' | 'changeMode' | 'dumpedServices'>> => {
      const dp = createNftablesDataplane({ netns: drvNs });
      // The namespace is new, so the actual state is known to be empty: no dump before.
      const fromEmpty = planChanges(state.desired, []);
      const [, driverFullMs] = await timed(() => dp.apply(fromEmpty, state.desired));
      if (dp.lastApply()?.mode !== 'full') throw new Error(`first apply was ${dp.lastApply()?.mode ?? 'not reported'}, expected full`);
      const change = planChanges(state.changed, state.desired);
      const [, driverChangeMs] = await timed(() => dp.apply(change, state.changed));
      const changeMode = dp.lastApply()?.mode ?? 'not reported';
      const [dumped, dumpMs] = await timed(() => dp.dump());
      if (dumped.length !== state.changed.length) throw new Error(`dump() returned ${dumped.length} services, expected ${state.changed.length}`);
      return { driverFullMs, driverChangeMs, dumpMs, changeMode, dumpedServices: dumped.length };
    };
    const raw = async (): Promise<Pick<ProgrammingRound, 'rawFullMs' | 'rawChangeMs'>> => {
      const [, rawFullMs] = await timed(() => lab.exec(rawNs, 'nft', ['-f', state.fullScriptPath], { timeoutMs: NFT_TIMEOUT_MS }));
      const [, rawChangeMs] = await timed(() => lab.exec(rawNs, 'nft', ['-f', state.changeScriptPath], { timeoutMs: NFT_TIMEOUT_MS }));
      return { rawFullMs, rawChangeMs };
    };
    // Alternate who goes first: a neighbour's load burst then hurts both sides alike over the rounds.
    if (round % 2 === 1) {
      const d = await driver();
      return { ...d, ...(await raw()) };
    }
    const r = await raw();
    return { ...(await driver()), ...r };
  } finally {
    await lab.removeNamespace(drvNs);
    await lab.removeNamespace(rawNs);
  }
}

async function runProgramming(lab: NetnsLab, init: DataplaneBenchInit): Promise<ProgrammingFigures> {
  const { settings, progress } = init;
  const n = settings.dataplaneServices;
  const desired = Array.from({ length: n }, (_, i) => benchService(i));
  const mid = n >> 1;
  const before = desired[mid];
  if (before === undefined) throw new Error('no services');
  const reweighted = benchService(mid, [2, 1, 1, 1]);
  const added = benchService(n);
  const changed = [...desired.slice(0, mid), reweighted, ...desired.slice(mid + 1), added];
  const fullScript = renderRuleset(desired);
  // Exactly what the driver renders for this change: delete the touched services' elements, add the new ones.
  const changeScript = renderIncremental({ before: [before], after: [reweighted, added] });
  const fullScriptPath = join(init.workDir, 'dataplane-full.nft');
  const changeScriptPath = join(init.workDir, 'dataplane-change.nft');
  await writeFile(fullScriptPath, fullScript);
  await writeFile(changeScriptPath, changeScript);

  const rounds: ProgrammingRound[] = [];
  for (let r = 1; r <= settings.dataplaneRounds; r++) {
    progress(`  programming ${n.toLocaleString('en-US')} services x ${DESTINATIONS}, round ${r}/${settings.dataplaneRounds} (fresh namespaces) ...`);
    const figures = await programmingRound(lab, r, { desired, changed, fullScriptPath, changeScriptPath });
    progress(
      `    driver ${Math.round(figures.driverFullMs)} ms, raw nft -f ${Math.round(figures.rawFullMs)} ms; change: driver ${figures.driverChangeMs.toFixed(1)} ms (${figures.changeMode}), raw ${figures.rawChangeMs.toFixed(1)} ms; dump ${Math.round(figures.dumpMs)} ms`,
    );
    rounds.push(figures);
  }
  const med = (pick: (r: ProgrammingRound) => number): number => median(rounds.map(pick));
  return {
    services: n,
    destinationsPerService: DESTINATIONS,
    fullScriptBytes: Buffer.byteLength(fullScript),
    changeScriptBytes: Buffer.byteLength(changeScript),
    rounds,
    driverFullMs: med((r) => r.driverFullMs),
    rawFullMs: med((r) => r.rawFullMs),
    driverChangeMs: med((r) => r.driverChangeMs),
    rawChangeMs: med((r) => r.rawChangeMs),
    dumpMs: med((r) => r.dumpMs),
  };
}

// One Node HTTP server per backend: keep-alive is on by default, the body names the backend.
const SERVER = `
const http = require('http');
const name = process.argv[1];
http.createServer((q, s) => s.end(name + '\\n')).listen(8080, '0.0.0.0', () => console.log('ready'));
`;

const VIP = '10.231.1.10';
const BACKENDS = [1, 2, 3, 4].map((i) => ({ name: `b${i}`, ip: `10.231.2.1${i}` }));

interface WrkOutput {
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly errors: number;
}

function parseWrk(text: string): WrkOutput {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text)?.[1];
  const requests = /(\d+) requests in/.exec(text)?.[1];
  if (rps === undefined || requests === undefined) throw new Error(`wrk printed no figures:\n${text}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1];
  const errors = (socket ? socket.slice(1).reduce((sum, v) => sum + Number(v), 0) : 0) + Number(non2xx ?? 0);
  return { requestsPerSecond: Number(rps), requests: Number(requests), errors };
}

async function wrk(lab: NetnsLab, ns: string, url: string, seconds: number): Promise<WrkOutput> {
  const r = await lab.exec(ns, 'wrk', [`-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, url], { timeoutMs: (seconds + 30) * 1000 });
  return parseWrk(r.stdout);
}

async function runThroughput(lab: NetnsLab, init: DataplaneBenchInit): Promise<ThroughputFigures> {
  const { settings, progress } = init;
  progress('  throughput lab: client -> lb (nftables driver, VIP on its client side, masquerade) -> 4 backends behind a bridge');
  const cl = await lab.addNamespace('cl');
  const lb = await lab.addNamespace('lb');
  await lab.exec(lb, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // Recipe trap: br_netfilter makes bridged frames pass the IP hooks in a new netns; not every kernel has the knob.
  await lab.exec(lb, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0'], { allowFailure: true });
  await lab.veth(cl, 'eth0', lb, 'eth0');
  await lab.address(cl, 'eth0', '10.231.1.2/24');
  await lab.address(lb, 'eth0', '10.231.1.1/24', `${VIP}/32`);
  // "direct" is the same path minus DNAT: the client reaches the backend subnet through the lb.
  await lab.ip(cl, ['route', 'add', 'default', 'via', '10.231.1.1']);
  await lab.bridge(lb, 'br0');
  await lab.address(lb, 'br0', '10.231.2.1/24');
  const servers = [];
  for (const b of BACKENDS) {
    const ns = await lab.addNamespace(b.name);
    await lab.veth(ns, 'eth0', lb, `${b.name}p`);
    await lab.attach(lb, `${b.name}p`, 'br0');
    await lab.address(ns, 'eth0', `${b.ip}/24`);
    // Direct traffic keeps the client's address, so replies go back through the lb.
    await lab.ip(ns, ['route', 'add', 'default', 'via', '10.231.2.1']);
    servers.push({ ...b, proc: lab.spawn(ns, process.execPath, ['-e', SERVER, b.name]) });
  }
  for (const s of servers) {
    const until = performance.now() + 15_000;
    while (!s.proc.stdout().includes('ready')) {
      if (performance.now() > until) throw new Error(`${s.name} (pid ${s.proc.pid}) did not start: ${s.proc.stderr().slice(-500)}`);
      await sleep(50);
    }
  }

  const server = (b: { ip: string }): RealServer => ({ ip: b.ip, port: 8080, weight: 1, forwarding: 'nat' });
  const service = (port: number, backends: readonly { ip: string }[]): VirtualService => ({
    protocol: 'tcp', vip: VIP, port, family: 4, scheduler: 'rr', persistenceTimeoutS: 0, servers: backends.map(server).sort(compareServers),
  });
  const desired = [service(80, BACKENDS.slice(0, 1)), service(81, BACKENDS)];
  const dp = createNftablesDataplane({ netns: lb });
  await dp.apply(planChanges(desired, []), desired);

  const first = BACKENDS[0];
  if (first === undefined) throw new Error('no backend');
  const urls: Record<WrkPath, string> = { direct: `http://${first.ip}:8080/`, vip1: `http://${VIP}:80/`, vip4: `http://${VIP}:81/` };
  const paths: readonly WrkPath[] = ['direct', 'vip1', 'vip4'];
  // Unmeasured: the servers' JIT warms up, and a path that does not answer fails here.
  for (const path of paths) {
    const w = await wrk(lab, cl, urls[path], 1);
    if (w.requests === 0 || w.errors > w.requests / 100) throw new Error(`warm-up ${path} (${urls[path]}): ${w.requests} requests, ${w.errors} errors`);
  }
  const runs: WrkRun[] = [];
  for (let round = 1; round <= settings.wrkRounds; round++) {
    for (const path of paths) {
      const w = await wrk(lab, cl, urls[path], settings.wrkSeconds);
      runs.push({ round, path, ...w });
    }
    const line = runs.filter((r) => r.round === round).map((r) => `${r.path} ${Math.round(r.requestsPerSecond).toLocaleString('en-US')}${r.errors > 0 ? ` (${r.errors} errors)` : ''}`);
    progress(`    round ${round}/${settings.wrkRounds}: ${line.join(', ')} req/s`);
  }
  const medianOf = (path: WrkPath): number => median(runs.filter((r) => r.path === path).map((r) => r.requestsPerSecond));
  const roundRatios = Array.from({ length: settings.wrkRounds }, (_, i) => {
    const at = (path: WrkPath): number => runs.find((r) => r.round === i + 1 && r.path === path)?.requestsPerSecond ?? NaN;
    return at('vip1') / at('direct');
  });
  const direct = medianOf('direct');
  const vip1 = medianOf('vip1');
  return {
    seconds: settings.wrkSeconds,
    rounds: settings.wrkRounds,
    threads: WRK_THREADS,
    connections: WRK_CONNECTIONS,
    runs,
    direct,
    vip1,
    vip4: medianOf('vip4'),
    vipToDirect: vip1 / direct,
    roundRatios,
  };
}

export async function runDataplaneBench(init: DataplaneBenchInit): Promise<DataplaneBenchResult> {
  const skipped = labSkipReason(['nft']);
  if (skipped !== null) return { skipped, ipvs: IPVS_NOTE, cleanupProblems: [] };
  const lab = createNetnsLab(`shb-${process.pid}-`);
  // Ctrl-C mid-run: still stop the servers and delete the namespaces, then exit as interrupted.
  const onSignal = (): void => void lab.cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let programming: ProgrammingFigures | undefined;
  let throughput: ThroughputFigures | undefined;
  let throughputSkipped: string | undefined;
  let cleanupProblems: readonly string[];
  try {
    programming = await runProgramming(lab, init);
    if (!hasCommand('wrk')) throughputSkipped = 'needs wrk on the PATH (apt-get install wrk)';
    else throughput = await runThroughput(lab, init);
  } finally {
    cleanupProblems = await lab.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const p of cleanupProblems) init.progress(`  cleanup: ${p}`);
  }
  return {
    ...(programming === undefined ? {} : { programming }),
    ...(throughput === undefined ? {} : { throughput }),
    ...(throughputSkipped === undefined ? {} : { throughputSkipped }),
    ipvs: IPVS_NOTE,
    cleanupProblems,
  };
}
