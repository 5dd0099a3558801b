/**
 * The nftables Dataplane: renders (render.ts), pipes the text into `nft -f -`, and reads its
 * own table back with `nft -j`. It names only `table inet <tableName>`; every other table
 * (a firewall's, keepalived's, Docker's) is never listed, changed or flushed.
 *
 * Apply strategy: the first apply of a driver instance, and any apply after the table was
 * found missing or foreign (or an incremental transaction failed), replaces the whole table
 * in one atomic transaction. Every other apply deletes and re-adds only the elements of the
 * services the changes touch, so a change to one instance never rewrites the others.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { serviceKey, touchedServiceKeys, type Dataplane, type DataplaneChange, type VirtualService } from '@shoal/dataplane';
import { ShoalError } from '@shoal/model';
import { FORMAT_MARKER_SET, NFTABLES_DEFAULTS } from './constants.js';
import { FAMILIES, PROTOCOLS, serversSetName, servicesSetName } from './layout.js';
import { parseTableNames, parseTableSets } from './parse.js';

/** util-linux's setpriv, when installed (Debian: always, in util-linux). */
const SETPRIV: string | undefined = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
import { approximations, renderFlush, renderIncremental, renderRuleset } from './render.js';

export interface NftablesDataplaneInit {
  /**
   * The table Shoal owns: `table inet <tableName>`. Nothing else is touched.
   * @default 'shoal'
   */
  readonly tableName?: string;
  /**
   * The nft binary (1.0.6 or newer).
   * @default 'nft'
   */
  readonly nftPath?: string;
  /**
   * Run every nft command inside this named network namespace (`ip netns exec NAME nft ...`),
   * for tests and labs; absent = the current namespace.
   */
  readonly netns?: string;
  /**
   * iproute2's `ip`, used only with `netns`.
   * @default 'ip'
   */
  readonly ipPath?: string;
  readonly logger?: Logger;
}

/** How the last apply() went, for logs, tests and the bench. */
export interface NftablesApplyReport {
  readonly mode: 'full' | 'incremental' | 'none';
  /** Services rendered (full) or touched (incremental). */
  readonly services: number;
  readonly scriptBytes: number;
  readonly durationMs: number;
  /** Why a full rebuild happened, when it did. */
  readonly reason?: string;
}

export interface NftablesDataplane extends Dataplane {
  readonly kind: 'nftables';
  readonly tableName: string;
  lastApply(): NftablesApplyReport | null;
}

interface NftResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** stderr patterns that mean "nft cannot work here" rather than "this script is wrong". */
const UNAVAILABLE = /Operation not permitted|Permission denied|Cannot open network namespace|Protocol not supported/;

export function createNftablesDataplane(init: NftablesDataplaneInit = {}): NftablesDataplane {
  const tableName = init.tableName ?? NFTABLES_DEFAULTS.tableName;
  const nftPath = init.nftPath ?? NFTABLES_DEFAULTS.nftPath;
  const ipPath = init.ipPath ?? NFTABLES_DEFAULTS.ipPath;
  const log = init.logger?.child({ component: 'nftables', table: tableName });
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(tableName)) throw new ShoalError('E_CONFIG', `nftables: tableName ${JSON.stringify(tableName)} is not a valid nft identifier`);

  /** What the table holds, by service key; null = unknown (not dumped or applied yet). */
  let actual: Map<string, VirtualService> | null = null;
  /** A full rebuild by this instance happened and nothing since showed the table changed under us. */
  let rebuilt = false;
  let report: NftablesApplyReport | null = null;
  const warned = new Set<string>();
  // Serialises dump/apply/flush: the cache above must match the order the kernel saw.
  let queue: Promise<unknown> = Promise.resolve();
  // Our own commits show up in `nft monitor` too. nft ends each transaction's events with
  // "# new generation N by process PID": transactions by the nft processes we started are ours.
  const ownPids = new Set<number>();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  function run(args: readonly string[], stdin?: string): Promise<NftResult> {
    // Dies with shoald too (setpriv, as for the monitor below): a SIGKILLed shoald leaves no nft
    // behind, and an nft -f cut short is no harm, since the kernel applies a batch whole or not at all.
    const nft = SETPRIV === undefined ? [nftPath, ...args] : [SETPRIV, '--pdeathsig', 'KILL', nftPath, ...args];
    const [cmd, argv] = init.netns === undefined ? [nft[0] ?? nftPath, nft.slice(1)] : [ipPath, ['netns', 'exec', init.netns, ...nft]];
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      // `ip netns exec` execs nft, so this is nft's own pid either way.
      const pid = child.pid;
      if (pid !== undefined) {
        ownPids.add(pid);
        setTimeout(() => ownPids.delete(pid), 60_000).unref();
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code === 'ENOENT' || e.code === 'EACCES' ? 'E_UNAVAILABLE' : 'E_INTERNAL';
        reject(new ShoalError(code, `nftables: cannot run ${cmd}: ${e.message}`, { cause: e }));
      });
      // EPIPE when nft exits early on a bad script: the exit code and stderr tell the story.
      child.stdin.on('error', () => undefined);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
      child.stdin.end(stdin ?? '');
    });
  }

  function fail(what: string, r: NftResult): ShoalError {
    const stderr = r.stderr.trim().split('\n').slice(0, 12).join('\n');
    const code = r.code === 127 || UNAVAILABLE.test(r.stderr) ? 'E_UNAVAILABLE' : 'E_INTERNAL';
    return new ShoalError(code, `nftables: ${what} failed (exit ${r.code}): ${stderr}`);
  }

  async function runScript(what: string, script: string): Promise<void> {
    const r = await run(['-f', '-'], script);
    if (r.code !== 0) throw fail(what, r);
  }

  function warnApproximations(services: Iterable<VirtualService>): void {
    if (!log) return;
    for (const s of services) {
      for (const why of approximations(s)) {
        const key = `${serviceKey(s)} ${why}`;
        if (warned.has(key)) continue;
        warned.add(key);
        log.warn({ service: serviceKey(s), reason: why }, 'nftables approximates this service');
      }
    }
  }

  async function fullRebuild(desired: readonly VirtualService[], reason: string): Promise<void> {
    const started = performance.now();
    const script = renderRuleset(desired, { tableName });
    await runScript('atomic table replace', script);
    actual = new Map(desired.map((s) => [serviceKey(s), s]));
    rebuilt = true;
    report = { mode: 'full', services: actual.size, scriptBytes: script.length, durationMs: performance.now() - started, reason };
    log?.info({ services: actual.size, durationMs: Math.round(report.durationMs), reason }, 'nftables table replaced');
  }

  /** The sets a dump reads: the marker, services and servers sets; never the big slot maps. */
  const metadataSets = [FORMAT_MARKER_SET, ...FAMILIES.flatMap((f) => PROTOCOLS.flatMap((p) => [servicesSetName(f, p), ...FAMILIES.map((g) => serversSetName(f, p, g))]))];

  async function dumpNow(): Promise<VirtualService[]> {
    // One `nft list set` per set: `list sets table` or `list table` make nft load every slot
    // map's elements too (10,000 services: 3.3 s instead of ~0.6 s).
    const results = await Promise.all(metadataSets.map((set) => run(['-j', 'list', 'set', 'inet', tableName, set])));
    const isMissing = (r: NftResult): boolean => r.code !== 0 && !UNAVAILABLE.test(r.stderr) && /No such file or directory/.test(r.stderr);
    const missing = results.findIndex(isMissing);
    const failed = results.find((r) => r.code !== 0 && !isMissing(r));
    if (failed) throw fail('dump', failed);
    if (missing >= 0) {
      const tables = await run(['-j', 'list', 'tables', 'inet']);
      if (tables.code !== 0) throw fail('list tables', tables);
      const exists = parseTableNames(tables.stdout).includes(tableName);
      if (!exists) {
        actual = new Map();
        rebuilt = false;
        return [];
      }
      log?.warn({ table: tableName, set: metadataSets[missing] }, 'table exists but was not written by this driver (layout differs); it will be replaced on the next apply');
      actual = null;
      rebuilt = false;
      return [];
    }
    const parsed = parseTableSets(results.map((r) => r.stdout));
    if (!parsed.owned) {
      log?.warn({ table: tableName }, 'table exists but was not written by this driver (no format marker); it will be replaced on the next apply');
      actual = null;
      rebuilt = false;
      return [];
    }
    if (parsed.ignored.length > 0) log?.warn({ count: parsed.ignored.length, first: parsed.ignored.slice(0, 3) }, 'elements not written by Shoal ignored');
    actual = new Map(parsed.services.map((s) => [serviceKey(s), s]));
    return parsed.services;
  }

  async function applyNow(changes: readonly DataplaneChange[], desired: readonly VirtualService[]): Promise<void> {
    const touched = touchedServiceKeys(changes);
    const desiredByKey = new Map(desired.map((s) => [serviceKey(s), s]));
    warnApproximations([...touched].flatMap((k) => desiredByKey.get(k) ?? []));
    const current = actual;
    if (!rebuilt || current === null) {
      warnApproximations(desired);
      await fullRebuild(desired, current === null ? 'table state unknown or foreign' : 'first apply of this process');
      return;
    }
    if (touched.size === 0) {
      report = { mode: 'none', services: 0, scriptBytes: 0, durationMs: 0 };
      return;
    }
    const started = performance.now();
    const before = [...touched].flatMap((k) => current.get(k) ?? []);
    const after = [...touched].flatMap((k) => desiredByKey.get(k) ?? []);
    const script = renderIncremental({ tableName, before, after });
    try {
      await runScript('incremental update', script);
    } catch (e) {
      // The table no longer holds what we think (hand edit, another writer, table deleted):
      // nft applied nothing; converge by replacing the whole table.
      log?.warn({ err: e, services: touched.size }, 'incremental nftables update failed; replacing the table');
      await fullRebuild(desired, 'incremental update failed');
      return;
    }
    for (const k of touched) {
      const s = desiredByKey.get(k);
      if (s) current.set(k, s);
      else current.delete(k);
    }
    report = { mode: 'incremental', services: touched.size, scriptBytes: script.length, durationMs: performance.now() - started };
    log?.debug({ services: touched.size, durationMs: report.durationMs }, 'nftables services updated');
  }

  function watch(onForeignChange: (what: string) => void): () => void {
    let stopped = false;
    let child: ReturnType<typeof spawn> | undefined;
    const mark = ` inet ${tableName}`;
    const start = (): void => {
      if (stopped) return;
      // `nft monitor` outlives a SIGKILLed shoald (it only dies of SIGPIPE at the next event);
      // util-linux's setpriv asks the kernel to kill it with its parent. It execs nft, so the pid
      // stays nft's.
      const monitor = SETPRIV === undefined ? [nftPath, 'monitor'] : [SETPRIV, '--pdeathsig', 'KILL', nftPath, 'monitor'];
      const [cmd, argv] = init.netns === undefined ? [monitor[0] ?? nftPath, monitor.slice(1)] : [ipPath, ['netns', 'exec', init.netns, ...monitor]];
      const c = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'ignore'] });
      child = c;
      let buf = '';
      /** The first line of the current transaction that touches our table. */
      let touched: string | undefined;
      c.stdout.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) {
          const generation = /^# new generation \d+ by process (\d+)/.exec(line);
          if (generation) {
            if (touched !== undefined && !ownPids.has(Number(generation[1]))) {
              // Someone else changed our table: what we remember of it is no longer true.
              actual = null;
              rebuilt = false;
              onForeignChange(`${touched} (pid ${generation[1]})`);
            }
            touched = undefined;
          } else if (line.includes(mark)) {
            touched ??= line.slice(0, 120);
          }
        }
      });
      c.on('error', (err) => log?.warn({ err: err.message }, 'nft monitor failed to start; hand edits are found by the periodic resync'));
      c.on('close', () => {
        if (!stopped) setTimeout(start, 1000).unref();
      });
    };
    start();
    return () => {
      stopped = true;
      child?.kill('SIGTERM');
    };
  }

  return {
    kind: 'nftables',
    tableName,
    watch,
    lastApply: () => report,
    dump: () => serial(dumpNow),
    apply: (changes, desired) => serial(() => applyNow(changes, desired)),
    flush: () =>
      serial(async () => {
        await runScript('flush', renderFlush({ tableName }));
        actual = new Map();
        rebuilt = false;
        log?.info('nftables table deleted');
      }),
  };
}
