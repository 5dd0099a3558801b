/**
 * Runs keepalived in the foreground for labs and tests (shoald leaves keepalived to systemd):
 *
 *   [ip netns exec NS] keepalived -n -P -l -D -G -f CONF -p PIDFILE -r VRRP_PIDFILE
 *
 * -n no fork (the pid we get is the parent's), -P VRRP only, -l -D detailed log to the console,
 * -G no syslog; separate -p/-r files per keepalived or a second one on the host refuses to start.
 * `ip netns exec` execs keepalived, so the child's pid is keepalived's own either way.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { KEEPALIVED_DEFAULTS } from './constants.js';

export interface SpawnKeepalivedInit {
  readonly configPath: string;
  /** The parent's pid file (`-p`). */
  readonly pidFile: string;
  /** The VRRP child's pid file (`-r`). */
  readonly vrrpPidFile: string;
  /** Run inside this named network namespace. */
  readonly netns?: string;
  /** @default 'keepalived' */
  readonly keepalivedBin?: string;
  /** @default 'ip' */
  readonly ipBin?: string;
}

export interface KeepalivedProcess {
  /** The keepalived parent. */
  readonly pid: number;
  /** The VRRP child's pid (from `vrrpPidFile`), or null when it is not running (yet). */
  vrrpPid(): Promise<number | null>;
  /** SIGHUP to the parent, which forwards it to the VRRP child: re-read the config. */
  reload(): void;
  /**
   * Stops keepalived and resolves once the parent has exited.
   * - SIGTERM (default): a clean stop; the master sends a priority-0 advert and removes its
   *   VIPs. SIGKILL follows after `graceMs` if it is still there.
   * - SIGKILL: a crash. The parent is frozen (SIGSTOP) first so it cannot respawn the VRRP
   *   child, then the child and the parent are killed. No priority-0 advert, and the VIP stays
   *   configured on the interface (as after a real crash).
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL', graceMs?: number): Promise<void>;
  /** Whether the parent is still running. */
  running(): boolean;
  /** Everything keepalived logged so far (stdout and stderr, in arrival order). */
  output(): string;
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** The parent pid of `pid` (from /proc/PID/stat), or null when `pid` is gone. */
async function parentOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return null;
  }
}

export function spawnKeepalived(init: SpawnKeepalivedInit): KeepalivedProcess {
  const bin = init.keepalivedBin ?? KEEPALIVED_DEFAULTS.keepalivedBin;
  const argv = ['-n', '-P', '-l', '-D', '-G', '-f', init.configPath, '-p', init.pidFile, '-r', init.vrrpPidFile];
  const [cmd, args] = init.netns === undefined ? [bin, argv] : [init.ipBin ?? KEEPALIVED_DEFAULTS.ipBin, ['netns', 'exec', init.netns, bin, ...argv]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${cmd} ${args.join(' ')}`);
  let log = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (log += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (log += s));
  child.on('error', (e) => (log += `\n[spawn error] ${e.message}\n`));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;

  /** The VRRP child, only if it really is this parent's child (a stale pid file names nobody). */
  async function vrrpPid(): Promise<number | null> {
    const v = await readPid(init.vrrpPidFile);
    if (v === null) return null;
    return (await parentOf(v)) === pid ? v : null;
  }

  const signal = (target: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(target, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };

  return {
    pid,
    vrrpPid,
    reload() {
      if (running()) signal(pid, 'SIGHUP');
    },
    async stop(sig = 'SIGTERM', graceMs = KEEPALIVED_DEFAULTS.stopGraceMs) {
      if (!running()) return;
      if (sig === 'SIGKILL') {
        // The child dies with the parent otherwise (keepalived sets PR_SET_PDEATHSIG) and exits
        // cleanly; freezing the parent first also stops it from respawning the child.
        signal(pid, 'SIGSTOP');
        const v = await vrrpPid();
        if (v !== null) signal(v, 'SIGKILL');
        signal(pid, 'SIGKILL');
        await exited;
        return;
      }
      signal(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        void vrrpPid()
          .then((v) => {
            if (v !== null) signal(v, 'SIGKILL');
            signal(pid, 'SIGKILL');
          })
          .catch((err: unknown) => (log += `\n[stop] cannot SIGKILL: ${(err as Error).message}\n`));
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
    running,
    output: () => log,
  };
}
