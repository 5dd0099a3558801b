/**
 * The BGP interop lab (recipes/bgp-peers-in-netns.md, built from TypeScript): a router
 * namespace, a bridge namespace, N speaker namespaces and a client behind the router, with
 * IPv4 and IPv6 addresses that exist only inside those namespaces. Every namespace carries a
 * per-run prefix; the router daemons (BIRD 2, FRR 8.4 zebra+bgpd, GoBGP) run inside the router
 * namespace from configs rendered into a per-run temporary directory; every process is started
 * by this module and stopped by its PID in `cleanup()`.
 *
 * ```
 *            <prefix>lan  (bridge <prefix>br, ports <prefix>r, <prefix>s1..sN)
 *           /            |              \
 *   <prefix>r eth0   <prefix>s1 eth0   <prefix>s2 eth0 ...
 *   10.240.0.2       10.240.0.20       10.240.0.21          (the MetalLB tutorial's addresses)
 *   fd00:240::2      fd00:240::20      fd00:240::21
 *   AS 4200000001    AS 64512          AS 64512
 *      | eth1 10.250.0.1 fd00:250::1
 *   <prefix>c eth0 10.250.0.2 fd00:250::2   (client: reaches the VIPs through the router)
 * ```
 *
 * Query helpers return plain values that tests poll with `waitFor`: session state per router,
 * the router's paths for a prefix (next hops, AS path, communities, large communities),
 * and the router namespace's kernel route for a prefix (its ECMP next hops). For timings without
 * polling: BIRD's route trace with its own ms timestamps (`traceRoutes`, `parseBirdLog`) and the
 * router kernel's changes as they arrive (`monitorRoutes`, `kernelRouteChanges`); `setLink`
 * cuts a speaker's cable.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsLab, hasCommand, run, type ExecResult, type NetnsLab, type NetnsProcess } from './netns.js';

export const ROUTER_ASN = 4200000001;
export const SPEAKER_ASN = 64512;

/** Well-known communities (RFC 1997, RFC 7999, RFC 8326, RFC 3765) as `high:low` text. */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, string>> = {
  'graceful-shutdown': '65535:0',
  'accept-own': '65535:1',
  'llgr-stale': '65535:6',
  'no-llgr': '65535:7',
  blackhole: '65535:666',
  'no-export': '65535:65281',
  'no-advertise': '65535:65282',
  'local-as': '65535:65283',
  'no-peer': '65535:65284',
};

// ---------------------------------------------------------------------------------------------
// polling

/**
 * Polls `probe` until it returns a truthy value and resolves with it; throws after timeoutMs,
 * naming what it waited for and the last value seen (or the last error the probe threw).
 */
export async function waitFor<T>(probe: () => T | Promise<T>, timeoutMs: number, what: string | (() => string), intervalMs = 50): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() >= until) {
      const name = typeof what === 'string' ? what : what();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${name} (last: ${JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

/** Resolves once `probe` has held (truthy) continuously for holdMs; throws after timeoutMs. */
export async function waitForSteady(probe: () => boolean | Promise<boolean>, holdMs: number, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  let since: number | null = null;
  for (;;) {
    let ok: boolean;
    try {
      ok = await probe();
    } catch {
      ok = false;
    }
    const now = Date.now();
    if (!ok) since = null;
    else if (since === null) since = now;
    else if (now - since >= holdMs) return;
    if (now >= until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to hold for ${holdMs} ms`);
    await sleep(50);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// processes with a JSON line protocol

export interface LineProcess {
  readonly pid: number;
  readonly ns: string;
  /** JSON objects printed on stdout so far, in order (other stdout lines are in stdout()). */
  lines(): readonly Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  /** Writes one JSON line to stdin. */
  send(message: unknown): void;
  /** The first line at index >= fromIndex that matches (waits for it). */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs: number, fromIndex?: number): Promise<Record<string, unknown>>;
  /** Sends a message and waits for the first later line that matches. */
  request(message: unknown, match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends a signal to this process (by its PID). */
  kill(signal: NodeJS.Signals): void;
  /** Whether it has exited, and how. */
  exit(): { code: number | null; signal: string | null } | null;
  readonly exited: Promise<void>;
  /** SIGTERM, SIGKILL after graceMs; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

function spawnLineProcess(ns: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv | undefined): LineProcess {
  // `ip netns exec` execs the command: the child's PID is the command's own PID.
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  if (child.pid === undefined) throw new Error(`cannot start ${cmd} in ${ns}`);
  const pid = child.pid;
  let out = '';
  let err = '';
  let partial = '';
  const parsed: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let exitInfo: { code: number | null; signal: string | null } | null = null;
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    partial += s;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        parsed.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON after all: it stays in stdout()
      }
    }
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      for (const w of waiters) w();
      resolve();
    });
  });
  const waitForLine = (match: (line: Record<string, unknown>) => boolean, timeoutMs: number, fromIndex = 0): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = fromIndex; i < parsed.length; i++) {
          const line = parsed[i];
          if (line !== undefined && match(line)) {
            done();
            resolve(line);
            return true;
          }
        }
        if (exitInfo !== null) {
          done();
          reject(new Error(`process ${pid} in ${ns} exited (${JSON.stringify(exitInfo)}) before the expected line; stderr: ${err.slice(-2000)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching line from pid ${pid} in ${ns} within ${timeoutMs} ms; stdout tail: ${out.slice(-1500)} stderr tail: ${err.slice(-1500)}`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
      };
      waiters.add(waiter);
      check();
    });
  const proc: LineProcess = {
    pid,
    ns,
    lines: () => parsed,
    stdout: () => out,
    stderr: () => err,
    send(message) {
      child.stdin.write(`${JSON.stringify(message)}\n`);
    },
    waitForLine,
    request(message, match, timeoutMs = 5000) {
      const from = parsed.length;
      proc.send(message);
      return waitForLine(match, timeoutMs, from);
    },
    kill(signal) {
      if (exitInfo === null) process.kill(pid, signal);
    },
    exit: () => exitInfo,
    exited,
    async stop(graceMs = 2000) {
      if (exitInfo !== null) return;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (exitInfo === null) process.kill(pid, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return proc;
}

// ---------------------------------------------------------------------------------------------
// what the routers report, normalised

export interface SessionInfo {
  /** The BGP FSM state as the router names it: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  readonly state: string;
  /** Changes every time the session (re)establishes; null while it is down. */
  readonly upMarker: string | null;
}

export interface RouterPath {
  /** The peer address the router learnt this path from. */
  readonly from: string | null;
  /** The BGP next-hop attribute as received: the global address first, a link-local after it if any. */
  readonly nexthops: readonly string[];
  readonly asPath: readonly number[];
  /** `high:low` text, well-known ones as numbers too (NO_EXPORT is `65535:65281`). */
  readonly communities: readonly string[];
  /** `global:data1:data2` text. */
  readonly largeCommunities: readonly string[];
  readonly med: number | null;
  /** The router keeps this path for a restarting peer (null: the router does not say). */
  readonly stale: boolean | null;
}

export interface RouterRoute {
  readonly prefix: string;
  readonly paths: readonly RouterPath[];
}

export interface KernelRoute {
  readonly dst: string;
  readonly protocol: string | null;
  /** Gateways, one per ECMP nexthop, sorted. */
  readonly nexthops: readonly string[];
}

export interface RouterPeer {
  /** A name for the session (BIRD protocol name): `s1`, `s1v6`. */
  readonly name: string;
  readonly address: string;
  readonly asn: number;
  readonly localAddress: string;
  /** Which families the router activates on this session. */
  readonly families: readonly ('ipv4' | 'ipv6')[];
  /** The router only accepts connections from this peer. */
  readonly passive: boolean;
}

export type RouterKind = 'bird' | 'frr' | 'gobgp';

export interface Router {
  readonly kind: RouterKind;
  readonly ns: string;
  readonly peers: readonly RouterPeer[];
  session(peerAddress: string): Promise<SessionInfo>;
  established(peerAddress: string): Promise<boolean>;
  /** The router's BGP paths for exactly this prefix; null when it has none. */
  route(prefix: string): Promise<RouterRoute | null>;
  /** Raw CLI access, for diagnostics in assertion messages. */
  cli(command: string): Promise<string>;
  /** What the daemons logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface RouterOptions {
  /** Speakers to peer with (default: every speaker of the lab). */
  readonly speakers?: readonly LabSpeaker[];
  /** Also one IPv6-transport session per speaker (default true). */
  readonly ipv6Sessions?: boolean;
  /** The router never connects, only accepts (default false). */
  readonly passive?: boolean;
  /** Exactly these sessions instead of the ones the three options above describe. */
  readonly sessions?: readonly { readonly speaker: LabSpeaker; readonly transport: 'ipv4' | 'ipv6'; readonly passive?: boolean }[];
  /**
   * BIRD only: also trace every route the router imports and removes (`debug protocols` with
   * `routes`), so that `parseBirdTrace(router.log())` gives BIRD's own ms timestamp of each
   * change, for timings without polling. Default false.
   */
  readonly traceRoutes?: boolean;
}

// ---------------------------------------------------------------------------------------------
// the lab

export interface LabSpeaker {
  /** `s1`, `s2`, ... */
  readonly short: string;
  readonly ns: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly asn: number;
  /** Its veth end on the bridge, in `BgpLab.lan.ns`: down = the speaker's cable cut. */
  readonly lanPort: string;
}

export interface BgpLabInit {
  /** Number of speaker namespaces (default 2). */
  readonly speakers?: number;
  readonly speakerAsn?: number;
  readonly routerAsn?: number;
}

export interface BgpLab {
  readonly netns: NetnsLab;
  /** Per-run directory for configs, sockets and logs (removed by cleanup). */
  readonly dir: string;
  readonly router: { readonly ns: string; readonly ipv4: string; readonly ipv6: string; readonly asn: number };
  readonly speakers: readonly LabSpeaker[];
  readonly client: { readonly ns: string; readonly ipv4: string; readonly ipv6: string };
  /** The bridge's namespace and name. */
  readonly lan: { readonly ns: string; readonly bridge: string };
  /**
   * Takes the speaker's bridge port down (or up again): a silent failure, as the recipe makes
   * one. Nothing the speaker's host sends reaches the router, not even its kernel's FIN or RST.
   */
  setLink(speaker: LabSpeaker, state: 'up' | 'down'): Promise<void>;
  startBird(opts?: RouterOptions): Promise<Router>;
  startFrr(opts?: RouterOptions): Promise<Router>;
  startGobgp(opts?: RouterOptions): Promise<Router>;
  /** The router namespace's kernel route for exactly this prefix, or null. */
  kernelRoute(prefix: string): Promise<KernelRoute | null>;
  /** Every kernel route change in the router namespace (`ip -ts monitor route`) from now on. */
  monitorRoutes(): Promise<RouteMonitor>;
  /** Runs `node FILE ARGS` inside ns, JSON line protocol on stdin/stdout; killed by PID in cleanup. */
  spawnNode(ns: string, file: string, args?: readonly string[], env?: NodeJS.ProcessEnv): LineProcess;
  /** Runs `node -e CODE ARGS` (CommonJS) inside ns; JSON line protocol; killed by PID in cleanup. */
  spawnNodeEval(ns: string, code: string, args?: readonly string[]): LineProcess;
  /** A plain long-running process in ns (stopped by cleanup). */
  spawn(ns: string, cmd: string, args: readonly string[]): NetnsProcess;
  /** Stops every process this lab started (by PID), deletes its namespaces and its directory. */
  cleanup(): Promise<string[]>;
}

export interface RouteMonitor {
  /** `{ at, line }` per event line, `at` in ms since the epoch (arrival time). */
  events(): readonly { at: number; line: string }[];
  stop(): Promise<void>;
}

/** Why the BGP lab cannot run here with this router (null when it can). */
export function bgpLabSkipReason(kind?: RouterKind): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  const tools = ['ip', 'node'];
  if (kind === 'bird') tools.push('bird', 'birdc');
  if (kind === 'frr') tools.push('vtysh', '/usr/lib/frr/zebra', '/usr/lib/frr/bgpd');
  if (kind === 'gobgp') tools.push('gobgpd', 'gobgp');
  for (const t of tools) if (!hasCommand(t)) return `needs ${t} (apt-get install -y bird2 frr gobgpd)`;
  return null;
}

const V4_LAN = '10.240.0.';
const V6_LAN = 'fd00:240::';

/** A short tag unique to this run (<= 10 characters, so that `<tag>s12` fits IFNAMSIZ): `sbgXXXXX-`. */
function runTag(): string {
  return `sbg${(process.pid % 1000).toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36).padStart(3, '0')}-`;
}

export async function createBgpLab(init: BgpLabInit = {}): Promise<BgpLab> {
  const prefix = runTag();
  const netns = createNetnsLab(prefix);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}lab-`));
  // FRR's daemons drop to user frr and must reach their sockets below this directory.
  chmodSync(dir, 0o755);
  /** Processes started by spawnNode/monitorRoutes, stopped first in cleanup. */
  const stoppers: { what: string; stop: () => Promise<void> }[] = [];
  // If the test process dies before cleanup() (an uncaught error, EPIPE on stdout), 'exit' still
  // runs: kill what this lab started, by PID and only if that PID still runs the same program,
  // and delete its namespaces, so that no daemon outlives the run.
  const started: { pid: number; cmd: string }[] = [];
  const namespaces: string[] = [];
  const record = (pid: number, cmd: string): void => void started.push({ pid, cmd });
  const emergencyCleanup = (): void => {
    for (const p of started) {
      try {
        if (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0')[0] === p.cmd) process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', emergencyCleanup);
  const routers: Router[] = [];
  const speakerCount = init.speakers ?? 2;
  const routerAsn = init.routerAsn ?? ROUTER_ASN;
  const speakerAsn = init.speakerAsn ?? SPEAKER_ASN;

  const router = { ns: netns.name('r'), ipv4: `${V4_LAN}2`, ipv6: `${V6_LAN}2`, asn: routerAsn };
  const client = { ns: netns.name('c'), ipv4: '10.250.0.2', ipv6: 'fd00:250::2' };
  const lan = { ns: netns.name('lan'), bridge: `${prefix}br` };
  const speakers: LabSpeaker[] = [];
  for (let i = 0; i < speakerCount; i++) {
    const host = 20 + i;
    const short = `s${i + 1}`;
    speakers.push({ short, ns: netns.name(short), ipv4: `${V4_LAN}${host}`, ipv6: `${V6_LAN}${host}`, asn: speakerAsn, lanPort: `${prefix}${short}` });
  }

  const cleanup = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (const p of stoppers.splice(0).reverse()) {
      try {
        await p.stop();
      } catch (e) {
        problems.push(`${p.what}: ${(e as Error).message}`);
      }
    }
    for (const r of routers.splice(0).reverse()) {
      try {
        await r.stop();
      } catch (e) {
        problems.push(`${r.kind}: ${(e as Error).message}`);
      }
    }
    problems.push(...(await netns.cleanup()));
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', emergencyCleanup);
    return problems;
  };

  const mkns = async (short: string): Promise<string> => {
    const ns = await netns.addNamespace(short);
    namespaces.push(ns);
    // keep IPv6 addresses when a link goes down; no DAD delay on fresh links (recipe pitfalls)
    await netns.sysctl(ns, 'net.ipv6.conf.all.keep_addr_on_down=1', 'net.ipv6.conf.default.keep_addr_on_down=1', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
    return ns;
  };

  try {
    // Bridge and bridge ports carry the run prefix too (<= 15 characters); inside each
    // namespace the interfaces are eth0/eth1 as in the recipe and the tutorial.
    await mkns('lan');
    await netns.bridge(lan.ns, lan.bridge);
    await mkns('r');
    for (const [ns, port, v4, v6] of [[router.ns, 'r', router.ipv4, router.ipv6], ...speakers.map((s) => [s.ns, s.short, s.ipv4, s.ipv6] as const)] as const) {
      if (ns !== router.ns) await mkns(ns.slice(prefix.length));
      await netns.veth(lan.ns, `${prefix}${port}`, ns, 'eth0');
      await netns.attach(lan.ns, `${prefix}${port}`, lan.bridge);
      await netns.address(ns, 'eth0', `${v4}/24`, `${v6}/64`);
    }
    for (const s of speakers) {
      await netns.ip(s.ns, ['route', 'add', 'default', 'via', router.ipv4]);
      await netns.ip(s.ns, ['-6', 'route', 'add', 'default', 'via', router.ipv6]);
    }
    await mkns('c');
    await netns.veth(router.ns, 'eth1', client.ns, 'eth0');
    await netns.address(router.ns, 'eth1', '10.250.0.1/24', 'fd00:250::1/64');
    await netns.address(client.ns, 'eth0', `${client.ipv4}/24`, `${client.ipv6}/64`);
    await netns.ip(client.ns, ['route', 'add', 'default', 'via', '10.250.0.1']);
    await netns.ip(client.ns, ['-6', 'route', 'add', 'default', 'via', 'fd00:250::1']);
    // the router forwards client traffic to the VIPs and hashes ECMP on ports too
    await netns.sysctl(router.ns, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv6.fib_multipath_hash_policy=1');
  } catch (e) {
    await cleanup();
    throw e;
  }

  const routerPeers = (opts: RouterOptions): RouterPeer[] => {
    const sessions =
      opts.sessions ??
      (opts.speakers ?? speakers).flatMap((speaker) => [
        { speaker, transport: 'ipv4' as const, passive: opts.passive ?? false },
        ...((opts.ipv6Sessions ?? true) ? [{ speaker, transport: 'ipv6' as const, passive: opts.passive ?? false }] : []),
      ]);
    // IPv4 sessions carry both families (IPv6 VIPs over MP-BGP need an IPv6 next hop from the
    // speaker); IPv6 sessions carry IPv6 only.
    return sessions.map(({ speaker: s, transport, passive }) =>
      transport === 'ipv4'
        ? { name: s.short, address: s.ipv4, asn: s.asn, localAddress: router.ipv4, families: ['ipv4', 'ipv6'], passive: passive ?? false }
        : { name: `${s.short}v6`, address: s.ipv6, asn: s.asn, localAddress: router.ipv6, families: ['ipv6'], passive: passive ?? false },
    );
  };

  const spawnTracked = (ns: string, cmd: string, args: readonly string[]): NetnsProcess => {
    const p = netns.spawn(ns, cmd, args);
    record(p.pid, cmd);
    return p;
  };
  const ctx: RouterContext = { netns, dir, router, spawn: spawnTracked };
  const track = (r: Router): Router => {
    routers.push(r);
    return r;
  };
  const untrack = (r: Router): void => {
    const i = routers.indexOf(r);
    if (i >= 0) routers.splice(i, 1);
  };

  return {
    netns,
    dir,
    router,
    speakers,
    client,
    lan,
    async setLink(speaker, state) {
      await netns.ip(lan.ns, ['link', 'set', speaker.lanPort, state]);
    },
    startBird: async (opts = {}) => track(await startBird(ctx, routerPeers(opts), untrack, opts.traceRoutes ?? false)),
    startFrr: async (opts = {}) => track(await startFrr(ctx, routerPeers(opts), untrack)),
    startGobgp: async (opts = {}) => track(await startGobgp(ctx, routerPeers(opts), untrack)),
    kernelRoute: (prefix) => kernelRoute(router.ns, prefix),
    async monitorRoutes() {
      const events: { at: number; line: string }[] = [];
      const child = spawn('ip', ['-n', router.ns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid !== undefined) record(child.pid, 'ip');
      let partial = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        const at = Date.now();
        partial += s;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          events.push({ at, line: partial.slice(0, nl) });
          partial = partial.slice(nl + 1);
        }
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // `ip monitor` prints nothing when it is ready: give it a moment to subscribe.
      await sleep(100);
      const stop = async (): Promise<void> => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      };
      stoppers.push({ what: `ip monitor (pid ${child.pid ?? '?'})`, stop });
      return { events: () => events, stop };
    },
    spawnNode(ns, file, args = [], env) {
      const p = spawnLineProcess(ns, process.execPath, [file, ...args], env);
      record(p.pid, process.execPath);
      stoppers.push({ what: `node ${file} (pid ${p.pid})`, stop: () => p.stop() });
      return p;
    },
    spawnNodeEval(ns, code, args = []) {
      const p = spawnLineProcess(ns, process.execPath, ['-e', code, ...args], undefined);
      record(p.pid, process.execPath);
      stoppers.push({ what: `node -e (pid ${p.pid})`, stop: () => p.stop() });
      return p;
    },
    spawn: spawnTracked,
    cleanup,
  };
}

// ---------------------------------------------------------------------------------------------
// kernel

export async function kernelRoute(ns: string, prefix: string): Promise<KernelRoute | null> {
  const family = prefix.includes(':') ? '-6' : '-4';
  const r = await run('ip', [family, '-j', '-n', ns, 'route', 'show', 'exact', prefix], { allowFailure: true });
  if (r.code !== 0 || r.stdout.trim() === '') return null;
  const routes = JSON.parse(r.stdout) as { dst: string; protocol?: string; gateway?: string; nexthops?: { gateway?: string }[] }[];
  const first = routes[0];
  if (first === undefined) return null;
  const gateways = first.nexthops !== undefined ? first.nexthops.map((n) => n.gateway ?? '?') : first.gateway !== undefined ? [first.gateway] : [];
  return { dst: first.dst, protocol: first.protocol ?? null, nexthops: gateways.sort() };
}

/** One kernel route change as `ip monitor route` printed it (a message and its `nexthop` lines). */
export interface KernelRouteChange {
  /** Arrival time of the message's first line, ms since the epoch. */
  readonly at: number;
  readonly deleted: boolean;
  readonly dst: string;
  /** Gateways, one per ECMP nexthop, sorted. */
  readonly nexthops: readonly string[];
}

/**
 * Groups `RouteMonitor.events()` into route messages: `ip monitor` prints an ECMP route as a
 * header line followed by one indented `nexthop via ...` line per nexthop.
 */
export function kernelRouteChanges(events: readonly { at: number; line: string }[]): KernelRouteChange[] {
  const out: { at: number; deleted: boolean; dst: string; nexthops: string[] }[] = [];
  for (const { at, line } of events) {
    if (/^\s/.test(line)) {
      const via = /\bnexthop via (\S+)/.exec(line)?.[1];
      const cur = out[out.length - 1];
      if (via !== undefined && cur !== undefined) cur.nexthops.push(via);
      continue;
    }
    const deleted = line.startsWith('Deleted ');
    const words = (deleted ? line.slice('Deleted '.length) : line).trim().split(/\s+/);
    const via = /\bvia (\S+)/.exec(line)?.[1];
    out.push({ at, deleted, dst: words[0] ?? '', nexthops: via === undefined ? [] : [via] });
  }
  return out.map((c) => ({ ...c, nexthops: [...c.nexthops].sort() }));
}

// ---------------------------------------------------------------------------------------------
// routers

interface RouterContext {
  readonly netns: NetnsLab;
  readonly dir: string;
  readonly router: { readonly ns: string; readonly ipv4: string; readonly ipv6: string; readonly asn: number };
  /** netns.spawn, remembered for the emergency cleanup. */
  spawn(ns: string, cmd: string, args: readonly string[]): NetnsProcess;
}

function peerByAddress(peers: readonly RouterPeer[], address: string): RouterPeer {
  const p = peers.find((x) => x.address === address);
  if (p === undefined) throw new Error(`the router has no peer ${address} (peers: ${peers.map((x) => x.address).join(', ')})`);
  return p;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  await waitFor(async () => (await check()) || null, timeoutMs, what);
}

const hasGlobalV6 = (peers: readonly RouterPeer[]): boolean => peers.some((p) => p.address.includes(':'));

// ---- BIRD 2 ---------------------------------------------------------------------------------

export function renderBirdConfig(router: RouterContext['router'], peers: readonly RouterPeer[], traceRoutes = false): string {
  const protocols = peers.map((p) => {
    const template = p.address.includes(':') ? 'speaker6' : 'speaker4';
    return `protocol bgp ${p.name} from ${template} { neighbor ${p.address} as ${p.asn};${p.passive ? ' passive on;' : ''} }`;
  });
  return `# Rendered by packages/testkit/src/bgp-lab.ts (recipe bird.conf without BFD).
log stderr all;
router id ${router.ipv4};
debug protocols { states, events${traceRoutes ? ', routes' : ''} };
protocol device { scan time 10; }

# ECMP: equal paths from several speakers become one multipath kernel route.
protocol kernel kernel4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
protocol kernel kernel6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }

# Speakers may announce host routes (VIPs) only.
filter vip4_in { if net ~ [ 0.0.0.0/0{32,32} ] then accept; reject; }
filter vip6_in { if net ~ [ ::/0{128,128} ] then accept; reject; }

template bgp speaker {
  local as ${router.asn};
  hold time 3;
  keepalive time 1;
  connect retry time 1;
  connect delay time 0;
  error wait time 1, 5;
  graceful restart aware;
}
# eBGP needs an explicit import and export policy on every channel (RFC 8212).
template bgp speaker4 from speaker {
  local ${router.ipv4};
  ipv4 { import filter vip4_in; export none; };
  ipv6 { import filter vip6_in; export none; };
}
template bgp speaker6 from speaker {
  local ${router.ipv6};
  ipv6 { import filter vip6_in; export none; };
}
${protocols.join('\n')}
`;
}

/** `(64512,100) (65535,65281)` -> `64512:100 65535:65281`; `(4200000001, 1, 2)` -> `4200000001:1:2` */
function birdTuples(text: string): string[] {
  return [...text.matchAll(/\(([^)]*)\)/g)].map((m) => (m[1] ?? '').split(',').map((x) => x.trim()).join(':'));
}

export function parseBirdRoute(text: string, peers: readonly RouterPeer[], prefix: string): RouterRoute | null {
  const paths: RouterPath[] = [];
  let cur: { from: string | null; nexthops: string[]; asPath: number[]; communities: string[]; large: string[]; med: number | null; stale: boolean | null } | null = null;
  const flush = (): void => {
    if (cur !== null) paths.push({ from: cur.from, nexthops: cur.nexthops, asPath: cur.asPath, communities: cur.communities, largeCommunities: cur.large, med: cur.med, stale: cur.stale });
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\d{4}-/, '');
    const head = /^\S*\s+unicast \[(\S+) [^\]]*\]/.exec(line);
    if (head !== null) {
      flush();
      const proto = head[1] ?? '';
      cur = { from: peers.find((p) => p.name === proto)?.address ?? proto, nexthops: [], asPath: [], communities: [], large: [], med: null, stale: /\bstale\b/i.test(line) ? true : null };
      continue;
    }
    if (cur === null) continue;
    const attr = /^\s+BGP\.(\w+): ?(.*)$/.exec(line);
    if (attr === null) continue;
    const [, name, value = ''] = attr;
    if (name === 'next_hop') cur.nexthops = value.trim().split(/\s+/).filter((x) => x !== '');
    else if (name === 'as_path') cur.asPath = value.trim().split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
    else if (name === 'community') cur.communities = birdTuples(value);
    else if (name === 'large_community') cur.large = birdTuples(value);
    else if (name === 'med') cur.med = Number(value.trim());
  }
  flush();
  return paths.length === 0 ? null : { prefix, paths };
}

/** One line of BIRD's log (`log stderr all`: local time with ms, then `<LEVEL>`). */
export interface BirdLogLine {
  /** BIRD's own timestamp, ms since the epoch. */
  readonly at: number;
  /** TRACE, INFO, RMT, ... */
  readonly level: string;
  /** The protocol the line is about (`s1`, `kernel4`), null for BIRD's own lines. */
  readonly protocol: string | null;
  /** What follows the protocol name (or the whole message). */
  readonly text: string;
  /**
   * A traced route change (RouterOptions.traceRoutes): `s1.ipv4 > added [best] 10.96.0.10/32`
   * is an import from s1 into the table, `kernel4.ipv4 < replaced ...` an export to the kernel.
   */
  readonly route?: { readonly direction: 'import' | 'export'; readonly action: string; readonly flags: string; readonly prefix: string };
}

export function parseBirdLog(text: string): BirdLogLine[] {
  const out: BirdLogLine[] = [];
  for (const raw of text.split('\n')) {
    const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) <(\w+)> (.*)$/.exec(raw);
    if (m === null) continue;
    const [, y, mo, d, h, mi, sec, msec, level = '', rest = ''] = m;
    const at = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), Number(msec)).getTime();
    const r = /^([\w-]+)\.\w+ ([<>]) (\S+(?: out)?)(?: \[([^\]]*)\])? (\S+)/.exec(rest);
    if (r !== null) {
      const [, protocol = '', dir, action = '', flags = '', prefix = ''] = r;
      out.push({ at, level, protocol, text: rest.slice(rest.indexOf(' ') + 1), route: { direction: dir === '>' ? 'import' : 'export', action, flags, prefix } });
      continue;
    }
    const p = /^([\w-]+): (.*)$/.exec(rest);
    out.push(p === null ? { at, level, protocol: null, text: rest } : { at, level, protocol: p[1] ?? null, text: p[2] ?? '' });
  }
  return out;
}

async function startBird(ctx: RouterContext, peers: readonly RouterPeer[], untrack: (r: Router) => void, traceRoutes: boolean): Promise<Router> {
  const conf = join(ctx.dir, 'bird.conf');
  const sock = join(ctx.dir, 'bird.ctl');
  writeFileSync(conf, renderBirdConfig(ctx.router, peers, traceRoutes));
  await run('bird', ['-p', '-c', conf]);
  const proc = ctx.spawn(ctx.router.ns, 'bird', ['-f', '-c', conf, '-s', sock, '-P', join(ctx.dir, 'bird.pid')]);
  const birdc = (args: readonly string[]): Promise<ExecResult> => run('birdc', ['-s', sock, ...args], { allowFailure: true, timeoutMs: 10_000 });
  await waitUntil(async () => (await birdc(['show', 'status'])).code === 0, 10_000, () => `bird control socket (log: ${proc.stderr().slice(-2000)})`);

  const session = async (address: string): Promise<SessionInfo> => {
    const p = peerByAddress(peers, address);
    const r = await birdc(['show', 'protocols', p.name]);
    // "s1         BGP        ---        up     19:24:42.776  Established"
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${p.name} `));
    if (line === undefined) return { state: 'unknown', upMarker: null };
    const f = line.trim().split(/\s+/);
    const state = f[5] ?? f[3] ?? 'unknown';
    // Not the "Since" column: BIRD derives it from the monotonic clock at each query and it
    // jitters by a millisecond. The log (debug states) has one line per session established.
    const ups = proc.stderr().split('\n').filter((l) => l.includes(` ${p.name}: BGP session established`)).length;
    return { state, upMarker: state === 'Established' && f[3] === 'up' ? String(ups) : null };
  };
  let stopped = false;
  const r: Router = {
    kind: 'bird',
    ns: ctx.router.ns,
    peers,
    session,
    established: async (address) => (await session(address)).state === 'Established',
    async route(prefix) {
      const res = await birdc(['show', 'route', prefix, 'all']);
      if (res.code !== 0 || res.stdout.includes('Network not found')) return null;
      return parseBirdRoute(res.stdout, peers, prefix);
    },
    cli: async (command) => {
      const res = await birdc(command.split(' '));
      return res.stdout + res.stderr;
    },
    log: () => proc.stderr() + proc.stdout(),
    async stop() {
      if (stopped) return;
      stopped = true;
      untrack(r);
      await proc.stop(3000); // on exit BIRD removes its kernel routes
    },
  };
  return r;
}

// ---- FRR 8.4 --------------------------------------------------------------------------------

export function renderFrrConfig(router: RouterContext['router'], peers: readonly RouterPeer[]): string {
  const v4 = peers.filter((p) => !p.address.includes(':'));
  const v6 = peers.filter((p) => p.address.includes(':'));
  const neighbours = (group: string, list: readonly RouterPeer[]): string[] =>
    list.flatMap((p) => [` neighbor ${p.address} remote-as ${p.asn}`, ` neighbor ${p.address} peer-group ${group}`, ...(p.passive ? [` neighbor ${p.address} passive`] : [])]);
  return `! Rendered by packages/testkit/src/bgp-lab.ts (recipe frr.conf without BFD).
frr defaults traditional
hostname ${router.ns}
! bgpd holds every peer until the route-map update timer runs out (default 5 s).
bgp route-map delay-timer 0
!
! Speakers may announce host routes only; the router announces nothing (RFC 8212 needs both).
ip prefix-list VIP4 seq 10 permit 0.0.0.0/0 ge 32
ipv6 prefix-list VIP6 seq 10 permit ::/0 ge 128
route-map SPEAKER-IN permit 10
 match ip address prefix-list VIP4
exit
route-map SPEAKER-IN6 permit 10
 match ipv6 address prefix-list VIP6
exit
route-map DENY-ALL deny 10
exit
!
router bgp ${router.asn}
 bgp router-id ${router.ipv4}
 no bgp default ipv4-unicast
 ! GR helper mode is FRR's default; no \`bgp graceful-restart\` (it would defer best-path).
 neighbor SPEAKERS peer-group
 neighbor SPEAKERS timers 1 3
 neighbor SPEAKERS timers connect 1
 neighbor SPEAKERS update-source ${router.ipv4}
 neighbor SPEAKERS6 peer-group
 neighbor SPEAKERS6 timers 1 3
 neighbor SPEAKERS6 timers connect 1
 neighbor SPEAKERS6 update-source ${router.ipv6}
${[...neighbours('SPEAKERS', v4), ...neighbours('SPEAKERS6', v6)].join('\n')}
 !
 address-family ipv4 unicast
  neighbor SPEAKERS activate
  neighbor SPEAKERS route-map SPEAKER-IN in
  neighbor SPEAKERS route-map DENY-ALL out
  maximum-paths 16
 exit-address-family
 !
 ! IPv6 VIPs over the IPv4 sessions (MP-BGP, the speaker sends an IPv6 next hop) and over IPv6 ones.
 address-family ipv6 unicast
  neighbor SPEAKERS activate
  neighbor SPEAKERS route-map SPEAKER-IN6 in
  neighbor SPEAKERS route-map DENY-ALL out
${v6.length > 0 ? '  neighbor SPEAKERS6 activate\n  neighbor SPEAKERS6 route-map SPEAKER-IN6 in\n  neighbor SPEAKERS6 route-map DENY-ALL out\n' : ''}  maximum-paths 16
 exit-address-family
exit
!
`;
}

function frrCommunities(s: string | undefined): string[] {
  if (s === undefined || s.trim() === '') return [];
  return s.trim().split(/\s+/).map((c) => WELL_KNOWN_COMMUNITIES[c] ?? c);
}

async function startFrr(ctx: RouterContext, peers: readonly RouterPeer[], untrack: (r: Router) => void): Promise<Router> {
  const d = join(ctx.dir, 'frr');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'frr.conf'), renderFrrConfig(ctx.router, peers));
  writeFileSync(join(d, 'vtysh.conf'), '');
  // The daemons drop privileges to user frr: their directory must belong to frr.
  await run('chown', ['-R', 'frr:frr', d]);
  const procs: NetnsProcess[] = [];
  // Foreground daemons (no -d), so their PIDs are the children's; -z and --vty_socket keep this
  // namespace's daemons apart from any other FRR on the machine; -P 0 turns off the TCP vty.
  const daemon = (name: string): NetnsProcess =>
    ctx.spawn(ctx.router.ns, `/usr/lib/frr/${name}`, ['-f', '/dev/null', '-i', join(d, `${name}.pid`), '-z', join(d, 'zserv.api'), '--vty_socket', d, '-P', '0', '--log', 'stdout', '--log-level', 'info']);
  const vtysh = (args: readonly string[]): Promise<ExecResult> => run('vtysh', ['--vty_socket', d, ...args], { allowFailure: true, timeoutMs: 15_000 });
  const logs = (): string => procs.map((p) => p.stdout() + p.stderr()).join('\n');
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    untrack(r);
    for (const p of [...procs].reverse()) await p.stop(3000); // zebra removes its kernel routes
  };
  const r: Router = {
    kind: 'frr',
    ns: ctx.router.ns,
    peers,
    async session(address) {
      peerByAddress(peers, address);
      const res = await vtysh(['-c', `show bgp neighbors ${address} json`]);
      const j = JSON.parse(res.stdout || '{}') as Record<string, { bgpState?: string; connectionsEstablished?: number } | undefined>;
      const n = j[address];
      const state = n?.bgpState ?? 'unknown';
      return { state, upMarker: state === 'Established' ? String(n?.connectionsEstablished ?? '') : null };
    },
    async established(address) {
      return (await r.session(address)).state === 'Established';
    },
    async route(prefix) {
      const afi = prefix.includes(':') ? 'ipv6' : 'ipv4';
      const res = await vtysh(['-c', `show bgp ${afi} unicast ${prefix} json`]);
      const j = JSON.parse(res.stdout || '{}') as {
        paths?: {
          nexthops?: { ip?: string }[];
          aspath?: { string?: string };
          community?: { string?: string };
          largeCommunity?: { string?: string };
          med?: number;
          metric?: number;
          stale?: boolean;
          peer?: { peerId?: string };
        }[];
      };
      if (j.paths === undefined || j.paths.length === 0) return null;
      return {
        prefix,
        paths: j.paths.map((p) => ({
          from: p.peer?.peerId ?? null,
          nexthops: (p.nexthops ?? []).map((n) => n.ip ?? '?'),
          asPath: (p.aspath?.string ?? '').split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number),
          communities: frrCommunities(p.community?.string),
          largeCommunities: (p.largeCommunity?.string ?? '').split(/\s+/).filter((x) => x !== ''),
          med: p.med ?? p.metric ?? null,
          stale: p.stale === true,
        })),
      };
    },
    cli: async (command) => {
      const res = await vtysh(['-c', command]);
      return res.stdout + res.stderr;
    },
    log: logs,
    stop,
  };
  try {
    const zebra = daemon('zebra');
    procs.push(zebra);
    await waitUntil(() => hasSocket(join(d, 'zserv.api')), 10_000, () => `zebra's zserv.api (log: ${logs().slice(-2000)})`);
    procs.push(daemon('bgpd'));
    await waitUntil(async () => (await vtysh(['-d', 'bgpd', '-c', 'show version'])).code === 0, 10_000, () => `bgpd's vty (log: ${logs().slice(-2000)})`);
    await waitUntil(async () => (await vtysh(['-d', 'zebra', '-c', 'show version'])).code === 0, 10_000, () => `zebra's vty (log: ${logs().slice(-2000)})`);
    const boot = await run('vtysh', ['--vty_socket', d, '--config_dir', d, '-b'], { allowFailure: true, timeoutMs: 20_000 });
    if (boot.code !== 0) throw new Error(`vtysh -b failed (${boot.code}): ${boot.stdout} ${boot.stderr}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return r;
}

function hasSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

// ---- GoBGP ----------------------------------------------------------------------------------

const GOBGP_API_PORT = 50051;

export function renderGobgpConfig(router: RouterContext['router'], peers: readonly RouterPeer[]): string {
  const locals = [router.ipv4, ...(hasGlobalV6(peers) ? [router.ipv6] : [])];
  const neighbours = peers.map(
    (p) => `
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${p.address}"
    peer-as = ${p.asn}
  [neighbors.transport.config]
    local-address = "${p.localAddress}"
    passive-mode = ${p.passive}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 3
    keepalive-interval = 1
    idle-hold-time-after-reset = 1   # default 30 s of Idle after every session reset
  [neighbors.graceful-restart.config]
    enabled = true
    helper-only = true
${p.families
  .map(
    (f) => `  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "${f}-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true`,
  )
  .join('\n')}
`,
  );
  return `# Rendered by packages/testkit/src/bgp-lab.ts: GoBGP as the upstream router (graceful-restart helper only).
[global.config]
  as = ${router.asn}
  router-id = "${router.ipv4}"
  local-address-list = [${locals.map((a) => `"${a}"`).join(', ')}]
# Learn from the speakers; announce nothing back.
[global.apply-policy.config]
  default-import-policy = "accept-route"
  default-export-policy = "reject-route"
${neighbours.join('')}`;
}

interface GobgpAttr {
  type: number;
  value?: unknown;
  nexthop?: string;
  nexthops?: string[];
  as_paths?: { asns?: number[] }[];
  communities?: number[];
  metric?: number;
}
interface GobgpPath {
  attrs?: GobgpAttr[];
  stale?: boolean;
  'neighbor-ip'?: string;
  'source-id'?: string;
}

export function gobgpPaths(paths: readonly GobgpPath[]): RouterPath[] {
  return paths.map((p) => {
    const attrs = p.attrs ?? [];
    const nh = attrs.find((a) => a.type === 14) ?? attrs.find((a) => a.type === 3);
    const nexthops = nh?.nexthops ?? (nh?.nexthop !== undefined ? [nh.nexthop] : []);
    // GoBGP 3.10 prints large communities as {"ASN", "LocalData1", "LocalData2"}
    const large = (attrs.find((a) => a.type === 32)?.value ?? []) as { ASN?: number; LocalData1?: number; LocalData2?: number }[];
    return {
      from: p['neighbor-ip'] ?? null,
      nexthops: nexthops.filter((x) => x !== '' && x !== '::'),
      asPath: (attrs.find((a) => a.type === 2)?.as_paths ?? []).flatMap((s) => s.asns ?? []),
      communities: (attrs.find((a) => a.type === 8)?.communities ?? []).map((c) => `${Math.floor(c / 65536)}:${c % 65536}`),
      largeCommunities: large.map((l) => `${l.ASN ?? '?'}:${l.LocalData1 ?? '?'}:${l.LocalData2 ?? '?'}`),
      med: attrs.find((a) => a.type === 4)?.metric ?? null,
      stale: p.stale === true,
    };
  });
}

async function startGobgp(ctx: RouterContext, peers: readonly RouterPeer[], untrack: (r: Router) => void): Promise<Router> {
  const conf = join(ctx.dir, 'gobgpd.toml');
  writeFileSync(conf, renderGobgpConfig(ctx.router, peers));
  // lo is up (addNamespace); the API stays on the namespace's own loopback; no pprof listener.
  const proc = ctx.spawn(ctx.router.ns, 'gobgpd', ['-f', conf, '-p', '--api-hosts', `127.0.0.1:${GOBGP_API_PORT}`, '--pprof-disable']);
  const gobgp = (args: readonly string[]): Promise<ExecResult> =>
    ctx.netns.exec(ctx.router.ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(GOBGP_API_PORT), ...args], { allowFailure: true, timeoutMs: 10_000 });
  let stopped = false;
  const r: Router = {
    kind: 'gobgp',
    ns: ctx.router.ns,
    peers,
    async session(address) {
      peerByAddress(peers, address);
      const res = await gobgp(['neighbor', address, '-j']);
      if (res.code !== 0) return { state: 'unknown', upMarker: null };
      const j = JSON.parse(res.stdout) as { state?: { session_state?: number; messages?: { received?: { open?: number } } } };
      const names = ['unknown', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];
      const state = names[j.state?.session_state ?? 0] ?? 'unknown';
      // every new session starts with a new OPEN from the peer
      return { state, upMarker: state === 'Established' ? String(j.state?.messages?.received?.open ?? '') : null };
    },
    async established(address) {
      return (await r.session(address)).state === 'Established';
    },
    async route(prefix) {
      const res = await gobgp(['global', 'rib', ...(prefix.includes(':') ? ['-a', 'ipv6'] : []), '-j']);
      if (res.code !== 0) throw new Error(`gobgp global rib: ${res.stderr}`);
      const j = JSON.parse(res.stdout || '{}') as Record<string, GobgpPath[] | undefined>;
      const paths = j[prefix];
      return paths === undefined || paths.length === 0 ? null : { prefix, paths: gobgpPaths(paths) };
    },
    cli: async (command) => {
      const res = await gobgp(command.split(' '));
      return res.stdout + res.stderr;
    },
    log: () => proc.stdout() + proc.stderr(),
    async stop() {
      if (stopped) return;
      stopped = true;
      untrack(r);
      await proc.stop(3000);
    },
  };
  try {
    await waitUntil(async () => (await gobgp(['global'])).code === 0, 15_000, () => `gobgpd API (log: ${r.log().slice(-2000)})`);
  } catch (e) {
    await r.stop();
    throw e;
  }
  return r;
}

/** GoBGP's Adj-RIB-In for one neighbour (what it received, before import policy). */
export async function gobgpAdjIn(lab: BgpLab, neighbour: string, family: 'ipv4' | 'ipv6'): Promise<Record<string, RouterPath[]>> {
  const res = await lab.netns.exec(lab.router.ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(GOBGP_API_PORT), 'neighbor', neighbour, 'adj-in', '-a', family, '-j'], { allowFailure: true });
  if (res.code !== 0) throw new Error(`gobgp neighbor ${neighbour} adj-in: ${res.stderr}`);
  const j = JSON.parse(res.stdout || '{}') as Record<string, GobgpPath[]>;
  return Object.fromEntries(Object.entries(j).map(([k, v]) => [k, gobgpPaths(v)]));
}
