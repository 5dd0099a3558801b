/**
 * A small network-namespace lab for integration tests and the benchmark: namespaces under one
 * per-run prefix, veth pairs, bridges, commands and long-running processes inside a namespace,
 * and a cleanup that stops exactly the processes it started (by PID, never by name) and deletes
 * exactly the namespaces it created. Needs root and iproute2.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. */
  readonly input?: string;
  /** Resolve with a non-zero exit instead of throwing. */
  readonly allowFailure?: boolean;
  /** SIGKILL (by its PID) after this long and fail. Default 10 minutes. */
  readonly timeoutMs?: number;
}

/** Runs a command to completion; throws with its stderr on a non-zero exit unless allowed. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      clearTimeout(timer);
      const r = { code: code ?? 1, stdout, stderr };
      if (timedOut) reject(new Error(`${cmd} ${args.join(' ')} killed after ${opts.timeoutMs ?? 600_000} ms`));
      else if (r.code !== 0 && opts.allowFailure !== true) reject(new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${stderr.trim()}`));
      else resolve(r);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Whether a command is on the PATH. */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Why a namespace lab cannot run here, or null when it can. */
export function labSkipReason(tools: readonly string[] = []): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['ip', ...tools]) if (!hasCommand(tool)) return `needs ${tool} on the PATH`;
  return null;
}

/** A process started inside a namespace. */
export interface NetnsProcess {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface NetnsLab {
  /** The full namespace name for a short one (`lb` -> `shb-1234-lb`). */
  name(short: string): string;
  /** Creates a namespace with loopback up; returns its full name. */
  addNamespace(short: string): Promise<string>;
  /** Deletes one of this lab's namespaces now (its processes must be stopped first). */
  removeNamespace(ns: string): Promise<void>;
  /** Runs a command inside a namespace (`ip netns exec`). */
  exec(ns: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<ExecResult>;
  /** `ip -n NS ...` */
  ip(ns: string, args: readonly string[]): Promise<ExecResult>;
  /** A veth pair from nsA/ifA to nsB/ifB, both ends up. */
  veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void>;
  /** A bridge in ns, up. */
  bridge(ns: string, name: string): Promise<void>;
  attach(ns: string, ifname: string, bridgeName: string): Promise<void>;
  address(ns: string, ifname: string, ...cidrs: string[]): Promise<void>;
  /** Starts a long-running process in ns; stopped by cleanup() if still running. */
  spawn(ns: string, cmd: string, args: readonly string[]): NetnsProcess;
  /** Stops the processes this lab started, then deletes its namespaces. Never throws. */
  cleanup(): Promise<string[]>;
  /** `sysctl -w` inside a namespace. */
  sysctl(ns: string, ...settings: string[]): Promise<void>;
}

export function createNetnsLab(prefix = `shl-${process.pid}-`): NetnsLab {
  const namespaces: string[] = [];
  const processes: NetnsProcess[] = [];
  const exec = (ns: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<ExecResult> => run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  const ip = (ns: string, args: readonly string[]): Promise<ExecResult> => run('ip', ['-n', ns, ...args]);

  async function deleteNamespace(ns: string): Promise<string[]> {
    const problems: string[] = [];
    // `ip netns del` leaves processes running in an unnamed namespace; name any we did not start.
    const pids = await run('ip', ['netns', 'pids', ns], { allowFailure: true });
    if (pids.stdout.trim() !== '') problems.push(`${ns}: processes not started by this lab still inside: ${pids.stdout.trim().split('\n').join(' ')}`);
    const r = await run('ip', ['netns', 'del', ns], { allowFailure: true });
    if (r.code !== 0) problems.push(`${ns}: ${r.stderr.trim()}`);
    return problems;
  }

  return {
    name: (short) => `${prefix}${short}`,
    async addNamespace(short) {
      const ns = `${prefix}${short}`;
      await run('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
      await ip(ns, ['link', 'set', 'lo', 'up']);
      return ns;
    },
    async removeNamespace(ns) {
      const i = namespaces.indexOf(ns);
      if (i < 0) throw new Error(`${ns} is not a namespace of this lab`);
      namespaces.splice(i, 1);
      const problems = await deleteNamespace(ns);
      if (problems.length > 0) throw new Error(problems.join('; '));
    },
    exec,
    ip,
    async veth(nsA, ifA, nsB, ifB) {
      await ip(nsA, ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
      await ip(nsA, ['link', 'set', ifA, 'up']);
      await ip(nsB, ['link', 'set', ifB, 'up']);
    },
    async bridge(ns, name) {
      await ip(ns, ['link', 'add', name, 'type', 'bridge']);
      await ip(ns, ['link', 'set', name, 'up']);
    },
    async attach(ns, ifname, bridgeName) {
      await ip(ns, ['link', 'set', ifname, 'master', bridgeName]);
    },
    async address(ns, ifname, ...cidrs) {
      for (const cidr of cidrs) await ip(ns, ['addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : [])]);
    },
    async sysctl(ns, ...settings) {
      await exec(ns, 'sysctl', ['-qw', ...settings]);
    },
    spawn(ns, cmd, args) {
      // `ip netns exec` execs the command, so the child's pid is the command's own pid.
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid === undefined) throw new Error(`cannot start ${cmd} in ${ns}`);
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      const proc: NetnsProcess = {
        pid: child.pid,
        stdout: () => out,
        stderr: () => err,
        async stop(graceMs = 2000) {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        },
      };
      processes.push(proc);
      return proc;
    },
    async cleanup() {
      const problems: string[] = [];
      for (const p of processes.splice(0).reverse()) {
        try {
          await p.stop();
        } catch (e) {
          problems.push(`pid ${p.pid}: ${(e as Error).message}`);
        }
      }
      for (const ns of namespaces.splice(0).reverse()) problems.push(...(await deleteNamespace(ns)));
      return problems;
    },
  };
}
