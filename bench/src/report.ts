/**
 * Turns the figures into what a reader needs: each one next to its target with PASS or MISS,
 * and the detail tables under it. Reporting only; a miss never changes the exit code.
 */
import { availableParallelism } from 'node:os';
import type { ApiBenchResult, ApiOp, ApiPhaseResult } from './api-bench.js';
import type { RssBenchResult } from './rss-bench.js';
import type { StoreBenchResult, StoreLoadFigures } from './store-bench.js';

export interface TargetRow {
  readonly figure: string;
  readonly measured: number;
  readonly unit: string;
  /** "at least" or "below" the target value. */
  readonly comparison: '>=' | '<';
  readonly target: number;
  readonly pass: boolean;
  readonly note: string;
}

const MB = 1024 * 1024;

function atLeast(figure: string, measured: number, target: number, unit: string, note: string): TargetRow {
  return { figure, measured, unit, comparison: '>=', target, pass: measured >= target, note };
}

function below(figure: string, measured: number, target: number, unit: string, note: string): TargetRow {
  return { figure, measured, unit, comparison: '<', target, pass: measured < target, note };
}

/** The targets. API figures are judged at the best concurrency: the node's capacity. */
export function targetRows(api: ApiBenchResult | undefined, store: StoreBenchResult | undefined, rss: RssBenchResult | undefined): TargetRow[] {
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
  return rows;
}

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
  return table(
    ['figure', 'measured', 'target', 'result', 'note'],
    rows.map((r) => [r.figure, `${r.unit === 'MB' ? fixed(r.measured, 1) : int(r.measured)} ${r.unit}`, `${r.comparison} ${int(r.target)} ${r.unit}`, r.pass ? 'PASS' : 'MISS', r.note]),
    new Set([1, 2]),
  );
}
