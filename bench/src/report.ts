/**
 * Turns the figures into what a reader needs: each one next to its target with PASS or MISS,
 * and the detail tables under it. Reporting only; a miss never changes the exit code.
 */
import { availableParallelism } from 'node:os';
import type { ApiBenchResult, ApiOp, ApiPhaseResult } from './api-bench.js';
import { CLUSTER_P99_TARGET_MS, type ClusterBenchResult } from './cluster-bench.js';
import { RECIPE_INCREMENTAL_MS, type DataplaneBenchResult, type ProgrammingRound } from './dataplane-bench.js';
import type { RssBenchResult } from './rss-bench.js';
import type { StoreBenchResult, StoreLoadFigures } from './store-bench.js';
import type { Distribution, SwimBenchResult } from './swim-bench.js';
import { CLAIM_DELAY_DEFAULT_MS, FAILOVER_TARGETS, RECIPE_KEEPALIVED, type FailoverBenchResult } from './failover-bench.js';
import { RECIPE_BIRD, type BgpBenchResult, type RecipeFigure, type Spread } from './bgp-bench.js';

export interface TargetRow {
  readonly figure: string;
  readonly measured: number;
  readonly unit: string;
  /** "at least", "below" or "at most" the target value; null: a figure the issue sets no target for (reported, not judged). */
  readonly comparison: '>=' | '<' | '<=' | null;
  readonly target: number | null;
  readonly pass: boolean | null;
  readonly note: string;
}

const MB = 1024 * 1024;

function atLeast(figure: string, measured: number, target: number, unit: string, note: string): TargetRow {
  return { figure, measured, unit, comparison: '>=', target, pass: measured >= target, note };
}

function below(figure: string, measured: number, target: number, unit: string, note: string): TargetRow {
  return { figure, measured, unit, comparison: '<', target, pass: measured < target, note };
}

function atMost(figure: string, measured: number, target: number, unit: string, note: string): TargetRow {
  return { figure, measured, unit, comparison: '<=', target, pass: measured <= target, note };
}

function info(figure: string, measured: number, unit: string, note: string): TargetRow {
  return { figure, measured, unit, comparison: null, target: null, pass: null, note };
}

/** The issue's targets. API figures are judged at the best concurrency: the node's capacity. */
export function targetRows(
  api: ApiBenchResult | undefined,
  store: StoreBenchResult | undefined,
  rss: RssBenchResult | undefined,
  dataplane?: DataplaneBenchResult,
): TargetRow[] {
  const rows: TargetRow[] = [];
  if (api) {
    const best = (op: ApiOp): ApiPhaseResult | undefined => api.phases.filter((p) => p.op === op).sort((a, b) => b.perSecond - a.perSecond)[0];
    const get = best('get');
    const create = best('create');
    if (get) rows.push(atLeast('API GET /v1/instances/{name}', get.perSecond, 3_000, 'req/s', `best at ${get.concurrency} clients`));
    if (create) rows.push(atLeast('API POST /v1/instances', create.perSecond, 1_000, 'req/s', `best at ${create.concurrency} clients`));
  }
  if (store) {
    const n = store.instances.toLocaleString('en-US');
    rows.push(below(`store load, ${n} inst., WAL`, store.wal.openMs, 1_000, 'ms', store.wal.compactedOnLoad ? 'incl. compaction on load' : ''));
    rows.push(below(`store load, ${n} inst., snapshot`, store.snapshot.openMs, 1_000, 'ms', ''));
  }
  if (rss) {
    const n = rss.instances.toLocaleString('en-US');
    rows.push(below(`shoald RSS, ${n} inst., after ready`, rss.rssBytes / MB, 150, 'MB', `peak ${(rss.peakRssBytes / MB).toFixed(1)} MB`));
    if (rss.settledRssBytes !== undefined) rows.push(below(`shoald RSS, ${n} inst., idle ${rss.settleS} s`, rss.settledRssBytes / MB, 150, 'MB', 'lowest seen while idle'));
  }
  const prog = dataplane?.programming;
  if (prog) {
    const n = prog.services.toLocaleString('en-US');
    rows.push(info(`nftables: program ${n} svc x ${prog.destinationsPerService} from empty`, prog.driverFullMs, 'ms', `raw nft -f ${int(prog.rawFullMs)} ms, driver/raw ${fixed(prog.driverFullMs / prog.rawFullMs, 2)}`));
    rows.push(info(`nftables: one change, ${n} svc in place`, prog.driverChangeMs, 'ms', `raw nft -f ${fixed(prog.rawChangeMs, 1)} ms, driver/raw ${fixed(prog.driverChangeMs / prog.rawChangeMs, 2)}`));
    rows.push(info(`nftables: dump(), ${n} svc in place`, prog.dumpMs, 'ms', ''));
  }
  const tp = dataplane?.throughput;
  if (tp) {
    rows.push(atLeast('nftables: VIP/direct req/s, 1 backend', tp.vipToDirect * 100, 90, '%', `medians ${int(tp.vip1)} / ${int(tp.direct)} req/s`));
    rows.push(info('nftables: VIP -> 4 backends rr', tp.vip4, 'req/s', `${fixed(tp.vip4 / tp.direct, 2)} x direct to 1 backend`));
  }
  return rows;
}

/** Write-to-all convergence, judged against "p99 < 50 ms on loopback" per cluster size. */
export function clusterRows(cluster: ClusterBenchResult | undefined): TargetRow[] {
  return (cluster?.sizes ?? []).map((r) =>
    below(`cluster: write to all ${r.nodes} nodes, p99`, r.all.p99Ms, CLUSTER_P99_TARGET_MS, 'ms', `p50 ${fixed(r.all.p50Ms, 1)} ms; all/1 p50 ${fixed(r.all.p50Ms / r.one.p50Ms, 2)}, p99 ${fixed(r.all.p99Ms / r.one.p99Ms, 2)}`),
  );
}

export function swimRows(swim: SwimBenchResult | undefined): TargetRow[] {
  if (swim === undefined) return [];
  const rows: TargetRow[] = [];
  for (const d of swim.detection) {
    const e = d.expected;
    const missing = d.trials.reduce((sum, t) => sum + t.missingDead.length, 0);
    rows.push(info(`swim ${swim.profile} n=${d.nodes}: SIGKILL -> first suspect, p50`, d.firstSuspect.p50Ms, 'ms', `p99 ${int(d.firstSuspect.p99Ms)} ms; SWIM expects ${int(e.detectExactMs)} ms (e/(e-1)T ${int(e.detectAsymptoticMs)} ms)`));
    rows.push(info(`swim ${swim.profile} n=${d.nodes}: SIGKILL -> dead everywhere, p50`, d.lastDead.p50Ms, 'ms', `p99 ${int(d.lastDead.p99Ms)} ms; bound ${int(e.deadLowMs)}-${int(e.deadHighMs)} ms${missing > 0 ? `; ${missing} declarations MISSING` : ''}`));
  }
  if (swim.stall) {
    const st = swim.stall;
    rows.push(atMost(`swim ${swim.profile} n=${st.nodes}: false dead, ${st.rounds.length} stalls of ${int(st.stallMs)} ms`, st.falseDeads, 0, 'events', `${st.suspects} suspect events (refuted)`));
  }
  if (swim.idle) {
    const id = swim.idle;
    rows.push(info(`swim ${swim.profile} n=${id.nodes}: idle gossip sent per node`, id.sentMeanBps, 'B/s', `max ${int(id.sentMaxBps)} B/s; received mean ${int(id.receivedMeanBps)} B/s`));
  }
  return rows;
}

/** Failover p99s against the issue's targets; keepalived's reported beside the recipe's. */
export function failoverRows(f: FailoverBenchResult | undefined): TargetRow[] {
  if (f === undefined || f.skipped !== undefined) return [];
  const rows: TargetRow[] = [];
  const spread = (d: Distribution): string => `p50 ${int(d.p50Ms)} ms, max ${int(d.maxMs)} ms, ${d.count} trials`;
  if (f.crash && f.crash.failover.count > 0) {
    const failed = f.crash.trials.filter((t) => t.failoverMs === null).length;
    rows.push(below('failover internal: crash (SIGKILL + link down), p99', f.crash.failover.p99Ms, FAILOVER_TARGETS.crashP99Ms, 'ms', `${spread(f.crash.failover)}${failed > 0 ? `; ${failed} never recovered` : ''}`));
  }
  if (f.handover && f.handover.outage.count > 0) rows.push(below('failover internal: SIGTERM hand-over outage, p99', f.handover.outage.p99Ms, FAILOVER_TARGETS.handoverP99Ms, 'ms', spread(f.handover.outage)));
  for (const k of f.keepalived) {
    if (k.failover.count === 0) continue;
    const recipe = RECIPE_KEEPALIVED[String(k.advertS)];
    rows.push(info(`failover keepalived advert ${k.advertS} s: crash, p99`, k.failover.p99Ms, 'ms', `${spread(k.failover)}${recipe ? `; l2 recipe ${recipe.minMs}/${recipe.medianMs}/${recipe.maxMs} ms` : ''}`));
  }
  if (f.idle) {
    const id = f.idle;
    rows.push(atMost(`failover internal: false failovers, idle ${int(id.idleS)} s`, id.vipMoves, FAILOVER_TARGETS.falseFailovers, 'moves', `${id.samples} samples; ${id.claimsLogged} claims / ${id.suspectsLogged} suspicions logged`));
    rows.push(atMost(`failover internal: client gaps > ${FAILOVER_TARGETS.idleGapMs} ms, idle ${int(id.idleS)} s`, id.gapsOver200.length, 0, 'gaps', `longest ${int(id.longestGapMs)} ms; ${id.failedRequests} of ${int(id.requests)} requests failed`));
  }
  return rows;
}

/** p50 over the recipe's range, as a range of ratios: "1.2-2.5x". */
function recipeRatio(d: Spread, figure: RecipeFigure): string {
  const r = RECIPE_BIRD[figure];
  return d.count === 0 ? '-' : `${fixed(d.p50Ms / r.maxMs, 2)}-${fixed(d.p50Ms / r.minMs, 2)}x`;
}

const recipeText = (figure: RecipeFigure): string => {
  const r = RECIPE_BIRD[figure];
  return `${int(r.minMs)}-${int(r.maxMs)} ms (${r.label})`;
};

/** The BGP figures: the issue sets no targets for them; the recipe's BIRD figures beside them. */
export function bgpRows(b: BgpBenchResult | undefined): TargetRow[] {
  if (b === undefined || b.skipped !== undefined) return [];
  const rows: TargetRow[] = [];
  const p99 = (d: Spread): string => `p99 ${d.p99Ms < 100 ? fixed(d.p99Ms, 1) : int(d.p99Ms)} ms (min ${int(d.minMs)}, max ${int(d.maxMs)}, ${d.count} trials)`;
  const c = b.create;
  if (c && c.birdBoth.count > 0) {
    rows.push(info('bgp ecmp: create -> /32 in BIRD via both nodes, p50', c.birdBoth.p50Ms, 'ms', `${p99(c.birdBoth)}; kernel ECMP p50 ${fixed(c.kernelBoth.p50Ms, 1)} / p99 ${fixed(c.kernelBoth.p99Ms, 1)} ms = ${recipeRatio(c.kernelBoth, 'announce')} recipe ${recipeText('announce')}`));
  }
  if (c && c.birdGone.count > 0) {
    rows.push(info('bgp ecmp: delete -> /32 gone from BIRD, p50', c.birdGone.p50Ms, 'ms', `${p99(c.birdGone)}; kernel p50 ${fixed(c.kernelGone.p50Ms, 1)} / p99 ${fixed(c.kernelGone.p99Ms, 1)} ms = ${recipeRatio(c.kernelGone, 'withdraw')} recipe ${recipeText('withdraw')}`));
  }
  const o = b.owner;
  if (o && o.rerouteBird.count > 0) rows.push(info('bgp owner: owner death -> new owner path in BIRD, p50', o.rerouteBird.p50Ms, 'ms', `${p99(o.rerouteBird)}; SWIM suspicion p50 ${int(o.suspect.p50Ms)} ms, claim p50 ${int(o.claimed.p50Ms)} ms`));
  if (o && o.withdrawnBird.count > 0) rows.push(info('bgp owner: owner death -> dead path gone from BIRD, p50', o.withdrawnBird.p50Ms, 'ms', `${p99(o.withdrawnBird)}; kernel p50 ${int(o.withdrawnKernel.p50Ms)} ms = ${recipeRatio(o.withdrawnKernel, 'cableCut')} recipe ${recipeText('cableCut')}`));
  const e = b.ecmpDeath;
  if (e && e.withdrawnBird.count > 0) rows.push(info('bgp ecmp: node death -> its path gone from BIRD, p50', e.withdrawnBird.p50Ms, 'ms', `${p99(e.withdrawnBird)}; kernel p50 ${int(e.withdrawnKernel.p50Ms)} ms = ${recipeRatio(e.withdrawnKernel, 'cableCut')} recipe ${recipeText('cableCut')}`));
  return rows;
}

export function formatBgp(b: BgpBenchResult): string {
  if (b.skipped !== undefined) return `BGP: skipped (${b.skipped})`;
  const lines: string[] = [
    `BGP: ${b.birdVersion ?? 'BIRD'} as the router in a namespace, shoald nodes as speakers on one bridge (recipes/bgp-peers-in-netns.md lab); ${int(b.elapsedS)} s in all`,
    `  hold ${b.holdTimeS} s / connect retry ${b.connectRetryS} s on both sides (BIRD: keepalive 1 s), no graceful restart, nftables data plane, health off, one cluster on the lab LAN`,
    `  owner mode: ownership internal, VIPs on lo, quorum majority, claimDelayMs ${int(b.claimDelayMs)}; SWIM local profile, probe ${b.swim.probeIntervalMs} / ${b.swim.probeTimeoutMs} ms`,
    "  times from events: BIRD's trace of each route it imports or removes (its own ms timestamps) and the router kernel's changes (`ip monitor route`, arrival); API requests timed by the client just before it writes them, on a warm mTLS connection",
    "  host death = its shoald frozen, its bridge port down, then SIGKILLed: nothing reaches the router, not even the kernel's FIN, so the hold timer ends the session",
    "  recipe = the BGP recipe's BIRD 2.0.12 figures (GoBGP stand-in speaker driven by its CLI, ~9 ms of which before the UPDATE is sent; 2-5 runs); p50 / recipe = our p50 over the recipe's max and min",
  ];
  // ratio false: the recipe's figure is context, not the same measurement (its BIRD share was
  // read off tcpdump and the monitor, ours off BIRD's own trace).
  const row = (what: string, d: Spread | undefined, recipe?: RecipeFigure, ratio = true): string[] =>
    d === undefined || d.count === 0
      ? [what, '0', '-', '-', '-', '-', recipe === undefined ? '-' : recipeText(recipe), '-']
      : [what, String(d.count), int(d.minMs), int(d.p50Ms), int(d.p99Ms), int(d.maxMs), recipe === undefined ? '-' : recipeText(recipe), recipe === undefined || !ratio ? '-' : recipeRatio(d, recipe)];
  const rows: string[][] = [];
  const c = b.create;
  if (c) {
    rows.push(
      ['a. ecmp, 2 nodes: POST /v1/instances on one node ->', '', '', '', '', '', '', ''],
      row('   201 received', c.reply),
      row('   /32 in BIRD via the first node', c.birdFirst),
      row('   /32 in BIRD via both nodes', c.birdBoth),
      row('   router kernel: ECMP route, both nexthops', c.kernelBoth, 'announce'),
      row("   (of which BIRD's import -> kernel)", c.birdToKernel, 'birdProcessing', false),
      ['   DELETE /v1/instances/web ->', '', '', '', '', '', '', ''],
      row('   /32 gone from BIRD (both paths)', c.birdGone),
      row('   router kernel: route gone', c.kernelGone, 'withdraw'),
    );
  }
  const o = b.owner;
  if (o) {
    rows.push(
      ["b. owner, 3 nodes: the owner's host dies ->", '', '', '', '', '', '', ''],
      row("   first 'member suspect' on a survivor", o.suspect),
      row("   'VIP claimed' on the new owner", o.claimed),
      row("   re-route: new owner's path in BIRD", o.rerouteBird),
      row("   router kernel: new owner's nexthop", o.rerouteKernel),
      row("   BIRD: 'Hold timer expired' (dead owner)", o.holdExpired),
      row("   dead owner's path gone from BIRD", o.withdrawnBird),
      row("   router kernel: dead owner's nexthop gone", o.withdrawnKernel, 'cableCut'),
      row('   (dead and new owner both in the ECMP set)', o.split),
    );
  }
  const e = b.ecmpDeath;
  if (e) {
    rows.push(
      ["c. ecmp, 2 nodes: a node's host dies ->", '', '', '', '', '', '', ''],
      row("   BIRD: 'Hold timer expired'", e.holdExpired),
      row('   its path gone from BIRD', e.withdrawnBird),
      row('   router kernel: its nexthop gone', e.withdrawnKernel, 'cableCut'),
    );
  }
  lines.push(table(['measurement (ms from the request or the death)', 'trials', 'min', 'p50', 'p99', 'max', 'recipe (BIRD 2.0.12)', 'p50 / recipe'], rows, new Set([1, 2, 3, 4, 5])));
  const failed = (n: number, wanted: number): string => (n < wanted ? ` (${wanted - n} of ${wanted} trials missing)` : '');
  if (c) lines.push(`  a: ${c.trials.length} complete trials${failed(c.trials.length, b.trialsWanted)}${c.incomplete > 0 ? ` (+${c.incomplete} incomplete, run again: see anomalies)` : ''} after one unmeasured warm-up; create -> both paths includes the API write, replication to the other node and its announcement`);
  if (o && o.trials.length > 0) {
    const victims = [...new Set(o.trials.map((t) => `${t.victim} -> ${t.newOwner ?? 'nobody'}`))].join(', ');
    const deletions = o.trials.reduce((sum, t) => sum + (t.recovery?.routeDeletions ?? 0), 0);
    lines.push(
      `  b: ${o.trials.length} trials${failed(o.trials.length, b.trialsWanted)} (${victims}); back (link up, shoald restarted): BGP session up ${d3s(o.session)} ms and VIP at rest ${d3s(o.recovery)} ms after ready (p50 / p99 / max); router without a route for the VIP during the hand-back in ${o.trials.filter((t) => (t.recovery?.routeDeletions ?? 0) > 0).length} trials (${deletions} deletions, longest ${d3s(o.noRoute)} ms); two nodes announcing it at once in ${o.trials.filter((t) => (t.recovery?.twoOwnersMs ?? 0) > 0).length} trials (longest ${d3s(o.twoOwners)} ms)`,
    );
  }
  if (e && e.trials.length > 0) lines.push(`  c: ${e.trials.length} trials${failed(e.trials.length, b.trialsWanted)} (victims alternate); back: BGP session up ${d3s(e.session)} ms and both paths at rest ${d3s(e.recovery)} ms after ready (p50 / p99 / max)`);
  for (const [what, err] of [['a', c?.error], ['b', o?.error], ['c', e?.error]] as const) {
    if (err !== undefined) lines.push(`  ${what}: trials stopped early: ${err.split('\n')[0] ?? ''}`);
  }
  lines.push(b.anomalies.length === 0 ? '  anomalies: none seen' : `  anomalies (${b.anomalies.length}), with evidence:`);
  for (const a of b.anomalies) lines.push(`  - ${a}`);
  lines.push(`  shoald, BIRD and ip monitor logs of this run: ${b.logDir}`);
  return lines.join('\n');
}

/** p50 / p99 / max of a spread, or '-'. */
const d3s = (d: Spread): string => (d.count === 0 ? '-' : `${int(d.p50Ms)} / ${int(d.p99Ms)} / ${int(d.maxMs)}`);

function table(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (bytes: number): string => (bytes / MB).toFixed(1);

export function formatApi(api: ApiBenchResult, phaseS: number, warmupS: number): string {
  const order: readonly ApiOp[] = ['create', 'get', 'list'];
  const phases = [...api.phases].sort((a, b) => order.indexOf(a.op) - order.indexOf(b.op) || a.concurrency - b.concurrency);
  const rows = phases.map((p) => [
    p.op,
    String(p.concurrency),
    int(p.perSecond),
    fixed(p.p50Ms, 2),
    fixed(p.p99Ms, 2),
    fixed(p.maxMs, 1),
    String(p.errors),
    `${Math.round(p.shoaldCpuPct)}%`,
    `${Math.round(p.loadgenCpuPct)}%`,
    `${Math.round(p.otherCpuPct)}%`,
  ]);
  return [
    `API over mTLS keep-alive: ${phaseS} s per phase after ${warmupS} s warm-up; CPU % is of one core (machine max ${availableParallelism() * 100}%)`,
    `  get/list with ${api.listInstances} instances present (list response ${int(api.listResponseBytes)} B); creates: 4 backends each`,
    `  shoald log level ${api.logLevel} -> file: ${mb(api.logBytes)} MB, ${int(api.logBytesPerRequest)} B/request; store ${int(api.instancesAtEnd)} instances at end, ${fixed(api.appendsPerSync, 1)} appends per fdatasync`,
    table(['op', 'clients', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'shoald CPU', 'loadgen CPU', 'other CPU'], rows, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9])),
  ].join('\n');
}

export function formatStore(store: StoreBenchResult): string {
  const row = (form: string, f: StoreLoadFigures): string[] => [
    form,
    int(f.openMs),
    int(f.replayMs),
    f.compactedOnLoad ? 'yes' : 'no',
    mb(f.rssBytes),
    mb(f.disk.snapshotBytes),
    mb(f.disk.walBytes),
    mb(f.disk.totalBytes),
    int(f.disk.totalBytes / store.instances),
  ];
  return [
    `Store: ${int(store.instances)} instances x ${store.backendsPerInstance} backends (built in-process in ${int(store.buildMs)} ms), each form loaded by a fresh process`,
    table(
      ['form', 'open ms', 'replay ms', 'compacted on load', 'RSS MB', 'snapshot MB', 'WAL MB', 'disk MB', 'B/instance'],
      [row('WAL', store.wal), row('snapshot', store.snapshot)],
      new Set([1, 2, 4, 5, 6, 7, 8]),
    ),
  ].join('\n');
}

export function formatRss(rss: RssBenchResult): string {
  const settled = rss.settledRssBytes === undefined ? '' : `; lowest over ${rss.settleS} s idle ${mb(rss.settledRssBytes)} MB`;
  return `shoald holding ${int(rss.instances)} instances: RSS ${mb(rss.rssBytes)} MB after ready + ${rss.warmGets} GETs (peak ${mb(rss.peakRssBytes)} MB)${settled}; spawn-to-ready ${int(rss.startupMs)} ms (store load ${int(rss.storeLoadMs)} ms)`;
}

export function formatTargets(rows: readonly TargetRow[]): string {
  const measured = (r: TargetRow): string => (r.unit === 'MB' || (r.unit === 'ms' && r.measured < 100) ? fixed(r.measured, 1) : int(r.measured));
  return table(
    ['figure', 'measured', 'target', 'result', 'note'],
    rows.map((r) => [
      r.figure,
      `${measured(r)} ${r.unit}`,
      r.comparison === null || r.target === null ? '-' : `${r.comparison} ${int(r.target)} ${r.unit}`,
      r.pass === null ? 'info' : r.pass ? 'PASS' : 'MISS',
      r.note,
    ]),
    new Set([1, 2]),
  );
}

export function formatDataplane(dp: DataplaneBenchResult): string {
  if (dp.skipped !== undefined) return `Data plane: skipped (${dp.skipped})\n  ${dp.ipvs}`;
  const lines: string[] = [];
  const prog = dp.programming;
  if (prog) {
    const n = int(prog.services);
    const rounds = prog.rounds;
    const perRound = (pick: (r: ProgrammingRound) => number, digits: number): string => rounds.map((r) => fixed(pick(r), digits)).join(' / ');
    lines.push(
      `Data plane, nftables driver (\`netns\` option) vs one raw \`nft -f\` of the script the driver renders: ${n} services x ${prog.destinationsPerService} destinations, fresh namespaces per round, median of ${prog.rounds.length}`,
      `  change = one backend's weight 1 -> 2 + one service added (${int(prog.changeScriptBytes)} B of delete/add element; full script ${mb(prog.fullScriptBytes)} MB); driver mode for it: ${[...new Set(prog.rounds.map((r) => r.changeMode))].join(', ')}`,
      table(
        ['what', 'driver ms', 'raw nft -f ms', 'driver/raw', 'driver per round ms', 'raw per round ms'],
        [
          ['program from empty', int(prog.driverFullMs), int(prog.rawFullMs), fixed(prog.driverFullMs / prog.rawFullMs, 2), perRound((r) => r.driverFullMs, 0), perRound((r) => r.rawFullMs, 0)],
          [`one change, ${n} in place`, fixed(prog.driverChangeMs, 1), fixed(prog.rawChangeMs, 1), fixed(prog.driverChangeMs / prog.rawChangeMs, 2), perRound((r) => r.driverChangeMs, 1), perRound((r) => r.rawChangeMs, 1)],
          [`dump(), ${n} in place`, int(prog.dumpMs), '-', '-', perRound((r) => r.dumpMs, 0), '-'],
        ],
        new Set([1, 2, 3]),
      ),
      `  recipe reference (nftables-dataplane.md, hand-written slot maps): one service's 12 slots rewritten in ${RECIPE_INCREMENTAL_MS} ms; 10,000 x 12 slots loaded in 1.05-1.58 s`,
    );
  }
  const tp = dp.throughput;
  if (tp) {
    const of = (path: string): number[] => tp.runs.filter((r) => r.path === path).map((r) => r.requestsPerSecond);
    const range = (path: string): string => `${int(Math.min(...of(path)))}-${int(Math.max(...of(path)))}`;
    const errors = (path: string): string => int(tp.runs.filter((r) => r.path === path).reduce((sum, r) => sum + r.errors, 0));
    lines.push(
      `${lines.length > 0 ? '\n' : ''}Through the VIP vs direct: wrk -t${tp.threads} -c${tp.connections} -d${tp.seconds}s keep-alive from the client netns, ${tp.rounds} interleaved rounds; one Node HTTP server process per backend; the lb holds the DNAT table (conntrack on) for every path`,
      table(
        ['path', 'median req/s', 'min-max', 'errors', 'vs direct'],
        [
          ['direct -> b1 (routed via the lb, no DNAT)', int(tp.direct), range('direct'), errors('direct'), '1.00'],
          ['VIP -> 1 backend (DNAT + masquerade)', int(tp.vip1), range('vip1'), errors('vip1'), fixed(tp.vipToDirect, 2)],
          ['VIP -> 4 backends rr', int(tp.vip4), range('vip4'), errors('vip4'), fixed(tp.vip4 / tp.direct, 2)],
        ],
        new Set([1, 2, 3, 4]),
      ),
      `  VIP/direct ${fixed(tp.vipToDirect * 100, 0)} % (target >= 90 %): ${tp.vipToDirect >= 0.9 ? 'PASS' : 'MISS'}; per-round ratios ${tp.roundRatios.map((r) => fixed(r, 2)).join(', ')}`,
    );
  } else if (dp.throughputSkipped !== undefined) {
    lines.push(`Through the VIP vs direct: skipped (${dp.throughputSkipped})`);
  }
  lines.push(`  ${dp.ipvs}`);
  return lines.join('\n');
}

export function formatCluster(c: ClusterBenchResult): string {
  const rows = c.sizes.map((r) => [
    String(r.nodes),
    int(r.formMs),
    fixed(r.all.p50Ms, 2),
    fixed(r.all.p99Ms, 2),
    fixed(r.all.maxMs, 1),
    fixed(r.one.p50Ms, 2),
    fixed(r.one.p99Ms, 2),
    fixed(r.majority.p50Ms, 2),
    fixed(r.majority.p99Ms, 2),
    fixed(r.all.p50Ms / r.one.p50Ms, 2),
    fixed(r.all.p99Ms / r.one.p99Ms, 2),
    r.all.p99Ms < CLUSTER_P99_TARGET_MS ? 'OK' : 'MISS',
  ]);
  const first = c.sizes[0];
  return [
    `Cluster write-to-all-nodes convergence: real shoald processes on loopback (SWIM ${c.profile} profile, replication over mTLS), sequential creates round-robin over the nodes`,
    `  per size: ${first ? `${first.all.writes} with write concern all, ${first.one.writes} with 1, ${first.majority.writes} with majority` : '-'}, after ${c.warmupWrites} unmeasured all-writes; latency is the client's, over mTLS keep-alive, on this machine's shared cores`,
    `  target: write-to-all p99 < ${CLUSTER_P99_TARGET_MS} ms on loopback`,
    table(
      ['nodes', 'formed ms', 'all p50', 'all p99', 'all max', '1 p50', '1 p99', 'maj p50', 'maj p99', 'all/1 p50', 'all/1 p99', 'p99 < 50 ms'],
      rows,
      new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
    ),
  ].join('\n');
}

const dist = (label: string, d: Distribution, expected: string): string[] => [label, String(d.count), int(d.p50Ms), int(d.p99Ms), int(d.maxMs), int(d.meanMs), expected];

export function formatSwim(s: SwimBenchResult): string {
  const c = s.config;
  const profileNote = s.profile === 'lan' ? "memberlist's DefaultLANConfig" : "memberlist's DefaultLocalConfig, chosen to keep the section short: lan timers take longer";
  const lines: string[] = [
    `SWIM, ${s.profile} profile (${profileNote}), one member per process on loopback, ${int(s.elapsedS)} s in all`,
    `  T = probe interval ${c.probeIntervalMs} ms, probe timeout ${c.probeTimeoutMs} ms, indirect checks ${c.indirectChecks}, suspicion mult ${c.suspicionMult} (max x${c.suspicionMaxTimeoutMult}), gossip every ${c.gossipIntervalMs} ms to ${c.gossipNodes}, push-pull every ${int(c.pushPullIntervalMs)} ms`,
  ];
  for (const d of s.detection) {
    const e = d.expected;
    const missing = d.trials.flatMap((t) => t.missingDead.map((m) => `${m} (victim ${t.victim})`));
    const others = d.trials.reduce((sum, t) => sum + t.otherSuspects, 0);
    const otherDeads = d.trials.reduce((sum, t) => sum + t.otherDeads, 0);
    lines.push(
      `a. Detection of a SIGKILLed member, n=${d.nodes}, ${d.trials.length} trials (victims in turn, each restarted on its port and rejoined, all alive everywhere, before the next)`,
      table(
        ['from SIGKILL to', 'trials', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'expected'],
        [
          dist('first suspect, any member', d.firstSuspect, `SWIM: ${int(e.detectExactMs)} ms = T/(1-(1-1/(n-1))^(n-1)); e/(e-1)T = ${int(e.detectAsymptoticMs)} ms`),
          dist('first dead, any member', d.firstDead, `${int(e.deadLowMs)}-${int(e.deadHighMs)} ms = expected + probe timeout + suspicion ${int(e.suspicionMinMs)}-${int(e.suspicionMaxMs)} ms`),
          dist('last dead (dead everywhere)', d.lastDead, `  (suspicion: min with ${Math.max(0, s.config.suspicionMult - 2)} confirmations, max with none: Lifeguard)`),
          dist('(restart -> all alive again)', d.rejoin, ''),
        ],
        new Set([1, 2, 3, 4, 5]),
      ),
      `  a member is suspected at the end of the probe period that got no ack, direct or indirect (SWIM 3.1, memberlist); targets go round-robin over a shuffled list (SWIM 4.3), not at random as in the paper's estimate`,
      `  missing dead declarations: ${missing.length === 0 ? 'none' : missing.join(', ')}; suspect/dead events about live members during the trials: ${others}/${otherDeads}`,
    );
  }
  if (s.stall) {
    const st = s.stall;
    const scores = st.rounds.map((r) => `${r.node} ${r.healthScoreAfter}/${r.healthScoreMax}`).join(', ');
    const refuted = st.rounds.reduce((sum, r) => sum + r.refutations, 0);
    const failed = st.rounds.reduce((sum, r) => sum + r.probeFailures, 0);
    lines.push(
      `b. Event-loop stalls (Lifeguard): n=${st.nodes}, ${st.rounds.length} stalls of ${int(st.stallMs)} ms (a busy loop) on a random member, ${int(st.gapMs)} ms apart`,
      `  dead events about live members: ${st.falseDeads} (target 0): ${st.falseDeads === 0 ? 'OK' : 'MISS'}`,
      `  suspect events (informational, refuted): ${st.suspects}: ${st.suspectsOfStalled} of the stalled member, ${st.suspectsOfOthers} of others`,
      `  the stalled members refuted ${refuted} times and failed ${failed} probes of their own; health score right after / highest in the gap (read every 100 ms): ${scores}`,
    );
  }
  if (s.idle) {
    const id = s.idle;
    lines.push(
      `c. Idle gossip, n=${id.nodes}: ${int(id.idleS)} s after convergence (+${id.settleS} s settle), bytes on the wire (encrypted packets and push-pull streams) per node`,
      table(
        ['', 'mean B/s', 'max B/s'],
        [
          ['sent', int(id.sentMeanBps), int(id.sentMaxBps)],
          ['received', int(id.receivedMeanBps), int(id.receivedMaxBps)],
          ['packets sent /s', fixed(id.perNode.reduce((a, p) => a + p.packetsSentPs, 0) / Math.max(1, id.perNode.length), 1), fixed(Math.max(...id.perNode.map((p) => p.packetsSentPs)), 1)],
        ],
        new Set([1, 2]),
      ),
    );
  }
  return lines.join('\n');
}

const d3 = (d: Distribution): string => (d.count === 0 ? '-' : `${int(d.p50Ms)} / ${int(d.p99Ms)} / ${int(d.maxMs)}`);

export function formatFailover(f: FailoverBenchResult): string {
  if (f.skipped !== undefined) return `Failover: skipped (${f.skipped})`;
  const sh = f.shoald;
  const lines: string[] = [
    `Failover: 3 shoald nodes, each in its own network namespace on one bridge (10.221.0.0/24), nftables data plane, VIP 10.221.0.50:80 -> 2 HTTP backends; ${int(f.elapsedS)} s in all`,
    `  client (own namespace): one GET every ${f.client.intervalMs} ms on a new connection, ${f.client.timeoutMs} ms timeout, whatever the others are doing; the answer names the backend`,
    `  internal election: SWIM local profile with probeIntervalMs ${sh.probeIntervalMs}, probeTimeoutMs ${sh.probeTimeoutMs}; ownership.reannounceIntervalMs ${int(sh.reannounceIntervalMs)}; ownership.claimDelayMs ${int(sh.claimDelayMs)} (bench setting, default ${int(CLAIM_DELAY_DEFAULT_MS)}: it only holds a restarted node back, and each trial waits it out)`,
    `  crash = the owner's shoald SIGKILLed + its switch-side veth down (a host crash); failover = crash -> first good answer to a request sent after the link went down`,
    `  SIGTERM = graceful stop of the owner's shoald (leave, peers elect + claim + announce, then it releases); outage = longest gap between good answers around it (${f.client.intervalMs} ms = none lost)`,
    `  keepalived mode: shoald (ownership.mode keepalived) renders keepalived.conf: VRRPv3, unicast peers, priorities 250/240/230, preempt; ${f.keepalivedVersion ?? 'keepalived'} per node; crash = keepalived SIGKILLed (parent frozen, VRRP child and parent killed) + link down`,
    `  after each trial the node comes back (link up, restart with the same config and data dir) and the next waits for all members alive everywhere, exactly one holder (ip -4 addr in each namespace), and the claim delay over`,
  ];
  const row = (mode: string, d: Distribution, failed: number, target: string, result: string, recipe: string): string[] => [mode, `${d.count}${failed > 0 ? ` (+${failed} failed)` : ''}`, d.count === 0 ? '-' : int(d.p50Ms), d.count === 0 ? '-' : int(d.p99Ms), d.count === 0 ? '-' : int(d.maxMs), target, result, recipe];
  const judge = (d: Distribution, target: number): string => (d.count === 0 ? '-' : d.p99Ms < target ? 'PASS' : 'MISS');
  const rows: string[][] = [];
  if (f.crash) {
    const failed = f.crash.trials.filter((t) => t.failoverMs === null).length;
    rows.push(row('internal: crash (SIGKILL + link down)', f.crash.failover, failed, `p99 < ${int(FAILOVER_TARGETS.crashP99Ms)} ms`, judge(f.crash.failover, FAILOVER_TARGETS.crashP99Ms), '-'));
  }
  if (f.handover) rows.push(row('internal: planned hand-over (SIGTERM)', f.handover.outage, 0, `p99 < ${int(FAILOVER_TARGETS.handoverP99Ms)} ms`, judge(f.handover.outage, FAILOVER_TARGETS.handoverP99Ms), '-'));
  for (const k of f.keepalived) {
    const recipe = RECIPE_KEEPALIVED[String(k.advertS)];
    const failed = k.trials.filter((t) => t.failoverMs === null).length;
    rows.push(row(`keepalived advert_int ${k.advertS} s: crash (SIGKILL + link down)`, k.failover, failed, '-', 'info', recipe ? `${int(recipe.minMs)} / ${int(recipe.medianMs)} / ${int(recipe.maxMs)} ms (${recipe.label})` : '-'));
  }
  lines.push(table(['mode', 'trials', 'p50 ms', 'p99 ms', 'max ms', 'target', 'result', 'keepalived in the l2 recipe, 5 runs: min / median / max'], rows, new Set([1, 2, 3, 4])));
  if (f.keepalivedSkipped !== undefined) lines.push(`  keepalived mode skipped: ${f.keepalivedSkipped}`);
  lines.push('  where the time goes, ms after the crash or SIGTERM (p50 / p99 / max), from the shoald logs (ms resolution):');
  if (f.crash && f.crash.trials.length > 0) {
    lines.push(`    internal crash: first 'member suspect' on a survivor ${d3(f.crash.suspect)}, on the new owner ${d3(f.crash.ownerSuspect)}; 'VIP claimed' on the new owner ${d3(f.crash.claimed)}; its first GARP (from 'VIP announced') ${d3(f.crash.announced)}; first good answer ${d3(f.crash.failover)}; crash action (kill + ip link) ${fixed(Math.max(...f.crash.trials.map((t) => t.actionMs)), 1)} ms at most`);
  }
  if (f.handover && f.handover.trials.length > 0) {
    const exited = f.handover.trials.map((t) => t.exitedMs).filter((v): v is number => v !== null);
    lines.push(`    SIGTERM: 'VIP claimed' on the new owner ${d3(f.handover.claimed)}; old owner 'VIP released on shutdown' ${d3(f.handover.released)}; its process gone ${exited.length === 0 ? '-' : `${int(Math.min(...exited))}-${int(Math.max(...exited))}`} ms`);
  }
  for (const k of f.keepalived) {
    if (k.trials.length > 0) lines.push(`    keepalived advert_int ${k.advertS} s: VIP on the new master's interface (shoald's netlink observer) ${d3(k.vipUp)}; first good answer ${d3(k.failover)}`);
  }
  if (f.rejoin && f.rejoin.gap.count > 0) {
    lines.push(`  coming back (internal; restart to at rest, incl. the VIP moving back to its first owner): longest client gap ${d3(f.rejoin.gap)} ms; hand-back gap, restarted 'VIP claimed' minus old 'VIP released' (negative: an overlap, make-before-break) ${d3(f.rejoin.handBack)} ms; most nodes holding it at once ${f.rejoin.maxHolders}`);
  }
  if (f.idle) {
    const id = f.idle;
    lines.push(
      `  false failovers at idle (internal), ${int(id.idleS)} s (BENCH_IDLE_S; the issue's figure is 600 s) with the client running, holders sampled every 500 ms:`,
      `    VIP moves ${id.vipMoves} (target 0): ${id.vipMoves === 0 ? 'PASS' : 'MISS'}; client gaps > ${FAILOVER_TARGETS.idleGapMs} ms ${id.gapsOver200.length} (target 0): ${id.gapsOver200.length === 0 ? 'PASS' : 'MISS'}; longest gap ${int(id.longestGapMs)} ms; ${id.failedRequests} of ${int(id.requests)} requests failed; samples without exactly one holder ${id.samplesNotOne} of ${id.samples}; logged: ${id.suspectsLogged} 'member suspect', ${id.claimsLogged} 'VIP claimed', ${id.releasesLogged} 'VIP released'`,
    );
  }
  if (f.idleError !== undefined) lines.push(`  idle part failed: ${f.idleError}`);
  for (const [what, err] of [['internal crash', f.crash?.error], ['SIGTERM', f.handover?.error], ...f.keepalived.map((k) => [`keepalived ${k.advertS} s`, k.error] as const)] as const) {
    if (err !== undefined) lines.push(`  ${what} trials stopped early: ${err.split('\n')[0] ?? ''}`);
  }
  lines.push(f.anomalies.length === 0 ? '  anomalies: none seen (two holders, hand-back gaps, missing announcements, slow releases are looked for)' : `  anomalies (${f.anomalies.length}), with the shoald log lines:`);
  for (const a of f.anomalies) lines.push(`  - ${a}`);
  lines.push(`  shoald and keepalived logs of this run: ${f.logDir}`);
  return lines.join('\n');
}
