/**
 * The failover bench's lab: three shoald nodes, each in its own network namespace on one bridge
 * (a `sw` namespace holds the bridge and every node's switch-side veth end), two HTTP backends
 * and a client, all in 10.221.0.0/24; nothing in the root namespace. shoald runs as in
 * production (nftables data plane, a cluster over SWIM and mutual TLS) with ownership internal,
 * or keepalived with a real keepalived per node. As test/src/ownership-lab.test.ts and
 * keepalived-mode-lab.test.ts do, with the bench's needs added: logs in files that survive a
 * restart, a client that samples the VIP every 10 ms, the holder read from each kernel.
 *
 * Every process is stopped by its own PID (shoald, keepalived, the client here; the backends
 * by the netns lab); the namespaces are deleted by the lab that made them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { spawnKeepalived, type KeepalivedProcess } from '@shoal/keepalived';
import { RECOMMENDED_NODE_FLAGS, type ShoaldConfigInput } from '@shoal/shoald';
import { createNetnsLab, type NetnsLab } from '@shoal/testkit';
import { startNodeChild, waitForLogLine, type NodeChild } from './procs.js';
import { CERTS_SCRIPT, SHOALD_BIN, VIP_CLIENT } from './repo.js';

const run = promisify(execFile);

export const FAILOVER_NET = {
  vip: '10.221.0.50',
  nodes: [1, 2, 3].map((i) => ({ name: `n${i}`, ip: `10.221.0.1${i}` })),
  backends: [1, 2].map((i) => ({ name: `b${i}`, ip: `10.221.0.2${i}` })),
  client: '10.221.0.100',
} as const;

/** The client's schedule: one request every 10 ms, 200 ms each (the brief's figures). */
export const CLIENT_INTERVAL_MS = 10;
export const CLIENT_TIMEOUT_MS = 200;

/** One fixed gossip key (32 bytes, base64); a bench cluster needs no secret. */
const GOSSIP_KEY = Buffer.alloc(32, 8).toString('base64');
const API_PORT = 8443;
const GOSSIP_PORT = 7946;
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[1] + '\\n')).listen(8080, '0.0.0.0', () => console.log('ready'));`;

export const now = (): number => performance.timeOrigin + performance.now();

/** The ownership settings every failover lab runs with (what the report prints in its header). */
export interface FailoverShoaldSettings {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly reannounceIntervalMs: number;
  readonly claimDelayMs: number;
}

export interface FailoverLabInit {
  /** Short tag in the namespace prefix and log directory (in, ka1, ka01). */
  readonly tag: string;
  readonly dir: string;
  /** A CA with node certificates n1..n3 for their lab addresses (makeFailoverCerts). */
  readonly certsDir: string;
  readonly mode: 'internal' | 'keepalived';
  readonly shoald: FailoverShoaldSettings;
  /** keepalived mode: VRRP advert interval. */
  readonly advertIntervalS?: number;
  /** shoald's log level. @default 'info' (debug adds every ownership pass, for a slow trial's why) */
  readonly logLevel?: 'info' | 'debug';
  readonly progress: (msg: string) => void;
}

export interface LabNode {
  readonly name: string;
  readonly ip: string;
  readonly ns: string;
  /** The node's veth end on the switch: down = the host is cut off. */
  readonly switchPort: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly stderrPath: string;
  shoald: NodeChild;
  keepalived: KeepalivedProcess | undefined;
  /** Every keepalived this node ran, in order (their output is kept). */
  readonly keepalivedRuns: KeepalivedProcess[];
}

/** One request of the client loop. */
export interface ClientSample {
  readonly sentMs: number;
  readonly recvMs: number;
  readonly ok: boolean;
  readonly who: string;
}

/** A JSON log line of shoald with its time (ms since the epoch) and message. */
export interface LogLine {
  readonly time: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** The CA, admin and node certificates with the lab addresses in their SANs, by the project's script. */
export async function makeFailoverCerts(dir: string): Promise<void> {
  await run('bash', [CERTS_SCRIPT, 'bootstrap', '--dir', dir], { timeout: 120_000 });
  for (const n of FAILOVER_NET.nodes) await run('bash', [CERTS_SCRIPT, 'node', '--dir', dir, '--name', n.name, '--ip', n.ip], { timeout: 60_000 });
}

/** The client loop: a child in the client namespace whose lines are parsed as they come. */
export class ClientLoop {
  readonly samples: ClientSample[] = [];
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stderr = '';

  constructor(ns: string, url: string) {
    this.#child = spawn('ip', ['netns', 'exec', ns, process.execPath, VIP_CLIENT, url, String(CLIENT_INTERVAL_MS), String(CLIENT_TIMEOUT_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.#child.pid === undefined) throw new Error('cannot start the client loop');
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#stderr = (this.#stderr + s).slice(-4000)));
    const lines = createInterface({ input: this.#child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const [sent, recv, ok, who] = line.split(' ');
      if (sent === undefined || recv === undefined) return;
      this.samples.push({ sentMs: Number(sent), recvMs: Number(recv), ok: ok === '1', who: who ?? '-' });
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  stderr(): string {
    return this.#stderr;
  }

  /** The first good answer to a request sent at or after `sentFrom`, or undefined. */
  firstGoodSentAfter(sentFrom: number): ClientSample | undefined {
    let best: ClientSample | undefined;
    // Lines arrive in completion order; scan back only as far as the requests could reach.
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i] as ClientSample;
      if (s.recvMs < sentFrom) break;
      if (s.ok && s.sentMs >= sentFrom && (best === undefined || s.recvMs < best.recvMs)) best = s;
    }
    return best;
  }

  /**
   * The longest stretch without a good answer over [from, to], measured between the receive
   * times of good answers: it starts at the last good answer before `from`, so an outage that
   * began just before `from` counts whole.
   */
  longestGap(from: number, to: number): { gapMs: number; startMs: number } {
    const goods = this.samples.filter((s) => s.ok && s.recvMs <= to).map((s) => s.recvMs).sort((a, b) => a - b);
    let prev = from;
    for (const t of goods) if (t <= from) prev = t;
    let gap = 0;
    let startMs = prev;
    for (const t of goods) {
      if (t <= from) continue;
      if (t - prev > gap) {
        gap = t - prev;
        startMs = prev;
      }
      prev = t;
    }
    // Up to the window's end, but only as far as the loop has reported: lines come a little late.
    const reported = this.samples.reduce((m, s) => Math.max(m, s.recvMs), from);
    const end = Math.min(to, reported);
    if (end - prev > gap) {
      gap = end - prev;
      startMs = prev;
    }
    return { gapMs: gap, startMs };
  }

  /** Gaps between consecutive good answers longer than `thresholdMs` within [from, to]. */
  gapsOver(thresholdMs: number, from: number, to: number): number[] {
    const goods = this.samples.filter((s) => s.ok && s.recvMs >= from && s.recvMs <= to).map((s) => s.recvMs).sort((a, b) => a - b);
    const gaps: number[] = [];
    for (let i = 1; i < goods.length; i++) {
      const gap = (goods[i] as number) - (goods[i - 1] as number);
      if (gap > thresholdMs) gaps.push(gap);
    }
    return gaps;
  }

  /** Requests sent in [from, to] and how many of them failed. */
  counts(from: number, to: number): { requests: number; failed: number } {
    const inWindow = this.samples.filter((s) => s.sentMs >= from && s.sentMs <= to);
    return { requests: inWindow.length, failed: inWindow.filter((s) => !s.ok).length };
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

export class FailoverLab {
  readonly nodes: LabNode[] = [];
  readonly lab: NetnsLab;
  readonly init: FailoverLabInit;
  sw = '';
  clientNs = '';
  client: ClientLoop | undefined;
  keepalivedVersion = '';

  constructor(init: FailoverLabInit) {
    this.init = init;
    this.lab = createNetnsLab(`shf-${process.pid}-${init.tag}-`);
  }

  node(name: string): LabNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  /** Namespaces, backends, three shoald nodes in a cluster, the instance, the client loop running through the VIP. */
  async start(): Promise<void> {
    const { lab, init } = this;
    await mkdir(init.dir, { recursive: true });
    this.sw = await lab.addNamespace('sw');
    await lab.bridge(this.sw, 'br0');
    // br_netfilter (built into some kernels) would run bridged frames through the IP hooks.
    await lab.exec(this.sw, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0'], { allowFailure: true });
    const attach = async (short: string, ip: string): Promise<string> => {
      const ns = await lab.addNamespace(short);
      await lab.veth(ns, 'eth0', this.sw, `${short}p`);
      await lab.attach(this.sw, `${short}p`, 'br0');
      await lab.address(ns, 'eth0', `${ip}/24`);
      return ns;
    };
    for (const b of FAILOVER_NET.backends) {
      const ns = await attach(b.name, b.ip);
      const p = lab.spawn(ns, process.execPath, ['-e', SERVER, b.name]);
      await until(`${b.name} listening`, 10_000, () => Promise.resolve(p.stdout().includes('ready')));
    }
    this.clientNs = await attach('cl', FAILOVER_NET.client);
    for (const n of FAILOVER_NET.nodes) {
      const ns = await attach(n.name, n.ip);
      const configPath = join(init.dir, `${n.name}.yaml`);
      await writeFile(configPath, stringify(this.#config(n.name, n.ip)));
      const paths = { name: n.name, ns, configPath, logPath: join(init.dir, `${n.name}.log`), stderrPath: join(init.dir, `${n.name}.stderr`) };
      const shoald = await this.#spawnShoald(paths);
      this.nodes.push({ ...paths, ip: n.ip, switchPort: `${n.name}p`, shoald, keepalived: undefined, keepalivedRuns: [] });
    }
    await until('all three members alive on every node', 60_000, () => this.allAlive());
    if (init.mode === 'keepalived') {
      const v = await run('keepalived', ['-v'], { timeout: 10_000 }).catch((err: unknown) => ({ stdout: '', stderr: String(err) }));
      this.keepalivedVersion = `${v.stdout}${v.stderr}`.split('\n').find((l) => l.startsWith('Keepalived'))?.trim() ?? 'keepalived';
      // keepalived as its own service, reading the file shoald writes (shoald renders it at start).
      for (const n of this.nodes) {
        const conf = this.#keepalivedPaths(n.name).configPath;
        await until(`${n.name} wrote keepalived.conf`, 15_000, () => access(conf).then(() => true, () => false));
        this.startKeepalived(n.name);
      }
    }
    const created = await this.api('n1', 'POST', '/v1/instances', {
      name: 'web',
      vip: FAILOVER_NET.vip,
      ports: [{ port: 80 }],
      backends: FAILOVER_NET.backends.map((b) => ({ ip: b.ip, port: 8080 })),
    });
    if (created.status !== 201) throw new Error(`creating the instance: HTTP ${created.status} ${JSON.stringify(created.json)}`);
    await until('the VIP on exactly one node', 30_000, async () => (await this.holders()).length === 1);
    this.client = new ClientLoop(this.clientNs, `http://${FAILOVER_NET.vip}/`);
    const client = this.client;
    await until('traffic through the VIP', 15_000, () => Promise.resolve(client.samples.filter((s) => s.ok).length >= 20));
  }

  #keepalivedPaths(name: string): { configPath: string; pidFile: string; vrrpPidFile: string } {
    return { configPath: join(this.init.dir, `${name}-keepalived.conf`), pidFile: join(this.init.dir, `${name}-keepalived.pid`), vrrpPidFile: join(this.init.dir, `${name}-vrrp.pid`) };
  }

  #config(name: string, ip: string): ShoaldConfigInput {
    const { init } = this;
    const certs = init.certsDir;
    const ka = this.#keepalivedPaths(name);
    return {
      node: { name },
      dataDir: join(init.dir, `data-${name}`),
      api: { host: ip, port: API_PORT, tls: { cert: join(certs, `${name}.crt`), key: join(certs, `${name}.key`), ca: join(certs, 'ca.crt') } },
      dataplane: { driver: 'nftables', nftablesTable: 'shoal' },
      health: { enabled: false },
      ownership:
        init.mode === 'internal'
          ? { mode: 'internal', reannounceIntervalMs: init.shoald.reannounceIntervalMs, claimDelayMs: init.shoald.claimDelayMs }
          : { mode: 'keepalived' },
      ...(init.mode === 'keepalived' ? { keepalived: { configPath: ka.configPath, pidFile: ka.pidFile, advertIntervalS: init.advertIntervalS ?? 1 } } : {}),
      cluster: {
        enabled: true,
        bind: { host: ip, port: GOSSIP_PORT },
        // Every node lists all three: whichever restarts finds a live seed.
        seeds: FAILOVER_NET.nodes.map((n) => `${n.ip}:${GOSSIP_PORT}`),
        keys: [GOSSIP_KEY],
        profile: 'local',
        swim: { probeIntervalMs: init.shoald.probeIntervalMs, probeTimeoutMs: init.shoald.probeTimeoutMs },
        antiEntropyIntervalMs: 1000,
      },
      logging: { level: init.logLevel ?? 'info' },
      shutdown: { graceMs: 2_000 },
    };
  }

  /** Restarts a node's shoald with its config and data dir, appending to its log; resolves at its ready line, with that time. */
  async startShoald(name: string): Promise<number> {
    const n = this.node(name);
    n.shoald = await this.#spawnShoald(n);
    return now();
  }

  async #spawnShoald(n: Pick<LabNode, 'name' | 'ns' | 'configPath' | 'logPath' | 'stderrPath'>): Promise<NodeChild> {
    const spawnedAt = Date.now();
    const child = startNodeChild({
      script: SHOALD_BIN,
      args: ['--config', n.configPath],
      execArgv: RECOMMENDED_NODE_FLAGS,
      stdoutPath: n.logPath,
      stderrPath: n.stderrPath,
      netns: n.ns,
      append: true,
    });
    try {
      await waitForLogLine(child, n.logPath, (l) => l['msg'] === 'shoald ready' && Number(l['time']) >= spawnedAt, 30_000, n.stderrPath);
      return child;
    } catch (err) {
      await child.stop(2_000);
      throw err;
    }
  }

  startKeepalived(name: string): KeepalivedProcess {
    const n = this.node(name);
    const k = spawnKeepalived({ ...this.#keepalivedPaths(name), netns: n.ns });
    n.keepalived = k;
    n.keepalivedRuns.push(k);
    return k;
  }

  /**
   * keepalived again after a crash, resolving once its VRRP child runs. The killed one's pid
   * files go first: its VRRP child, reparented to init, can stay a zombie for a while here,
   * and keepalived takes a zombie for a live daemon ("daemon is already running") and exits.
   */
  async restartKeepalived(name: string): Promise<void> {
    const paths = this.#keepalivedPaths(name);
    await rm(paths.pidFile, { force: true });
    await rm(paths.vrrpPidFile, { force: true });
    const k = this.startKeepalived(name);
    await until(`${name}: keepalived's VRRP child running`, 10_000, async () => {
      if (!k.running()) throw new Error(`${name}: keepalived exited at start: ${k.output().split('\n').slice(-5).join(' | ')}`);
      return (await k.vrrpPid()) !== null;
    }, 20);
  }

  /**
   * A host crash: shoald SIGKILLed and the node's switch port down. A real crash takes every
   * process of the host along; what the SIGKILLed shoald left running (children it spawned,
   * now reparented to init) is killed too, after the link is down, and reported.
   */
  async crashHost(name: string): Promise<{ downAt: number; orphans: string[] }> {
    const n = this.node(name);
    const children = await descendants(n.shoald.pid);
    process.kill(n.shoald.pid, 'SIGKILL');
    await this.linkDown(name);
    const downAt = now();
    // Its children are reparented once it is gone.
    await n.shoald.exited;
    const orphans: string[] = [];
    for (const pid of children) {
      const st = await procStat(pid);
      if (st === null || st.state === 'Z') continue;
      orphans.push(`${st.comm} (pid ${pid}, parent now ${st.ppid})`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    return { downAt, orphans };
  }

  async linkDown(name: string): Promise<void> {
    await this.lab.ip(this.sw, ['link', 'set', this.node(name).switchPort, 'down']);
  }

  async linkUp(name: string): Promise<void> {
    await this.lab.ip(this.sw, ['link', 'set', this.node(name).switchPort, 'up']);
  }

  /** Nodes whose kernel holds the VIP now (ip -4 addr in each namespace, read in parallel). */
  async holders(among: readonly string[] = this.nodes.map((n) => n.name)): Promise<string[]> {
    const held = await Promise.all(
      among.map(async (name) => {
        const r = await this.lab.ip(this.node(name).ns, ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        return r.stdout.includes(`${FAILOVER_NET.vip}/32`) ? name : null;
      }),
    );
    return held.filter((h): h is string => h !== null);
  }

  /** The API of one node, from inside its namespace, as the admin. */
  async api(node: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const n = this.node(node);
    const certs = this.init.certsDir;
    const args = ['-sS', '-X', method, '--max-time', '5', '--cacert', join(certs, 'ca.crt'), '--cert', join(certs, 'admin.crt'), '--key', join(certs, 'admin.key'), '-w', '\n%{http_code}', '-H', 'content-type: application/json'];
    if (body !== undefined) args.push('-d', JSON.stringify(body));
    args.push(`https://${n.ip}:${API_PORT}${path}`);
    const r = await this.lab.exec(n.ns, 'curl', args, { allowFailure: true, timeoutMs: 10_000 });
    const cut = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, cut);
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: Number(r.stdout.slice(cut + 1)), json };
  }

  /** Every node's API answers and lists all three members alive. */
  async allAlive(among: readonly string[] = this.nodes.map((n) => n.name)): Promise<boolean> {
    const names = this.nodes.map((n) => n.name);
    const views = await Promise.all(
      among.map(async (node) => {
        const r = await this.api(node, 'GET', '/v1/members');
        if (r.status !== 200) return false;
        const states = new Map((r.json.items as { name: string; state: string }[]).map((m) => [m.name, m.state]));
        return names.every((name) => states.get(name) === 'alive');
      }),
    );
    return views.every(Boolean);
  }

  /** A node's shoald log lines at or after `fromMs` (every run of it: the log is appended to). */
  async logLines(name: string, fromMs = 0): Promise<LogLine[]> {
    const text = await readFile(this.node(name).logPath, 'utf8').catch(() => '');
    const out: LogLine[] = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as LogLine;
        if (typeof parsed.time === 'number' && parsed.time >= fromMs) out.push(parsed);
      } catch {
        // A line still being written.
      }
    }
    return out;
  }

  /** keepalived's rendered config of a node (keepalived mode). */
  async keepalivedConfig(name: string): Promise<string> {
    return readFile(this.#keepalivedPaths(name).configPath, 'utf8').catch(() => '');
  }

  /** Stops everything this lab started (by PID), keeps the logs in `keepDir`, deletes the namespaces. */
  async close(keepDir: string | undefined): Promise<string[]> {
    const problems: string[] = [];
    await this.client?.stop();
    for (const n of this.nodes) {
      try {
        if (n.keepalived?.running() === true) await n.keepalived.stop('SIGTERM');
      } catch (err) {
        problems.push(`${n.name} keepalived: ${(err as Error).message}`);
      }
    }
    await Promise.all(this.nodes.map((n) => n.shoald.stop(3_000)));
    if (keepDir !== undefined) {
      try {
        await mkdir(keepDir, { recursive: true });
        for (const n of this.nodes) {
          await writeFile(join(keepDir, `${n.name}.log`), await readFile(n.logPath, 'utf8').catch(() => ''));
          const stderr = await readFile(n.stderrPath, 'utf8').catch(() => '');
          if (stderr !== '') await writeFile(join(keepDir, `${n.name}.stderr`), stderr);
          if (n.keepalivedRuns.length > 0) {
            await writeFile(join(keepDir, `${n.name}-keepalived.log`), n.keepalivedRuns.map((k, i) => `===== keepalived run ${i + 1} (pid ${k.pid})\n${k.output()}`).join('\n'));
            await writeFile(join(keepDir, `${n.name}-keepalived.conf`), await this.keepalivedConfig(n.name));
          }
        }
      } catch (err) {
        problems.push(`keeping logs in ${keepDir}: ${(err as Error).message}`);
      }
    }
    problems.push(...(await this.lab.cleanup()));
    return problems;
  }
}

/** Every descendant of `pid` (children, theirs, ...), from /proc/PID/task/TID/children (Linux). */
export async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tids) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    for (const child of text.split(/\s+/).filter((x) => x !== '').map(Number)) out.push(child, ...(await descendants(child)));
  }
  return out;
}

/** Command name, state and parent of a process from /proc/PID/stat; null once it is gone. */
export async function procStat(pid: number): Promise<{ comm: string; state: string; ppid: number } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(open + 1, close), state: state ?? '?', ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** Polls `check` until it is true; throws naming `what` after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(everyMs);
  }
}
