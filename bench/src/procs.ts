/**
 * Child processes for the benchmarks: shoald and the store loader run as separate processes so
 * their figures are their own (no shared heap, JIT or page cache warmth from the bench). Every
 * child is stopped by its PID; nothing here signals processes by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface NodeChild {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<ChildExit>;
}

export interface NodeChildInit {
  readonly script: string;
  readonly args?: readonly string[];
  /** Node flags (e.g. --cpu-prof) placed before the script. */
  readonly execArgv?: readonly string[];
  /**
   * stdout and stderr go straight to these files (the child writes to the fd itself), so a
   * chatty child never blocks on a pipe the bench is slow to drain, as it would in production
   * with journald or a file.
   */
  readonly stdoutPath: string;
  readonly stderrPath: string;
  readonly cwd?: string;
  /** Run inside this named network namespace (`ip netns exec` execs the node binary, so the pid is node's). */
  readonly netns?: string;
  /** Append to stdoutPath/stderrPath instead of truncating: a restarted process keeps one log. */
  readonly append?: boolean;
}

/**
 * A port free on `host` right now: bind to port 0, read, close. A child config cannot say
 * "port 0" and report back, so this small race (someone else takes it meanwhile) is accepted.
 */
export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port from listen(0)'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export function startNodeChild(init: NodeChildInit): NodeChild {
  const flags = init.append === true ? 'a' : 'w';
  const out = openSync(init.stdoutPath, flags);
  const err = openSync(init.stderrPath, flags);
  const argv = [...(init.execArgv ?? []), init.script, ...(init.args ?? [])];
  const [cmd, args] = init.netns === undefined ? [process.execPath, argv] : ['ip', ['netns', 'exec', init.netns, process.execPath, ...argv]];
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      stdio: ['ignore', out, err],
      ...(init.cwd === undefined ? {} : { cwd: init.cwd }),
    });
  } finally {
    // The child holds its own copies of the descriptors.
    closeSync(out);
    closeSync(err);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${init.script}`);
  let done = false;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  let stopping: Promise<ChildExit> | undefined;
  return {
    pid,
    exited,
    hasExited: () => done,
    stop: (graceMs = 10_000) =>
      (stopping ??= (async () => {
        if (done) return exited;
        process.kill(pid, 'SIGTERM');
        const timer = sleep(graceMs, 'timeout' as const);
        if ((await Promise.race([exited, timer])) === 'timeout' && !done) process.kill(pid, 'SIGKILL');
        return exited;
      })()),
  };
}

/**
 * Waits until a line of `path` (JSON log lines) satisfies `match`. Fails early if the child
 * exits first, with the tail of its stderr so a config error is visible.
 */
export async function waitForLogLine(
  child: NodeChild,
  path: string,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs: number,
  stderrPath: string,
): Promise<Record<string, unknown>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (match(parsed)) return parsed;
      } catch {
        // A line still being written: the next poll sees it whole.
      }
    }
    if (child.hasExited()) {
      const stderr = await readFile(stderrPath, 'utf8').catch(() => '');
      throw new Error(`child ${child.pid} exited before it was ready; stderr:\n${stderr.slice(-2000)}`);
    }
    if (performance.now() > deadline) throw new Error(`child ${child.pid}: no matching log line in ${path} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export interface ProcMemory {
  /** Resident set size now. */
  readonly rssBytes: number;
  /** Peak resident set size since start (VmHWM). */
  readonly peakRssBytes: number;
}

/** From /proc/<pid>/status (Linux): what the kernel charges the process, not a heap estimate. */
export async function readProcMemory(pid: number): Promise<ProcMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m?.[1]) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat fields 14 and 15.
 * They count clock ticks; USER_HZ is 100 on every Linux ABI Node supports.
 */
export async function readProcCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after it are split from its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) * 10;
}

export interface MachineCpu {
  /** Clock ticks spent non-idle (everything but idle and iowait), summed over all CPUs. */
  readonly busyTicks: number;
  readonly totalTicks: number;
}

/**
 * Machine-wide CPU from the first line of /proc/stat. Other work on the machine (a colleague's
 * test run) takes cores from shoald and the load generator; this makes that visible.
 */
export async function readMachineCpu(): Promise<MachineCpu> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const totalTicks = ticks.reduce((a, b) => a + b, 0);
  // Fields: user nice system idle iowait irq softirq steal ...
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busyTicks: totalTicks - idle, totalTicks };
}

/** Runs a Node script to completion and parses the JSON its last stdout line holds. */
export async function runNodeForJson(script: string, args: readonly string[], timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    // 'close', not 'exit': by then stdout has been read to its end.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8').trim();
      if (code !== 0) {
        reject(new Error(`${script} exited with ${code ?? signal}: ${Buffer.concat(err).toString('utf8').slice(-2000)}`));
        return;
      }
      const last = stdout.split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${script} printed no JSON on its last line: ${stdout.slice(-500)}`));
      }
    });
  });
}
