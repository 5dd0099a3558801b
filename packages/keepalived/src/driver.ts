/**
 * Puts a rendered keepalived.conf in place and makes keepalived read it, without ever leaving a
 * config keepalived refuses where keepalived (or the next restart) would load it:
 *
 *   same text as on disk? -> 'unchanged' (no write, no signal)
 *   write <dir>/.<name>.<pid>.<n>.tmp, fsync
 *   keepalived -t -f tmp     (refused: delete tmp, throw KeepalivedConfigError, old file stays)
 *   rename tmp -> configPath, fsync the directory (atomic: readers see old or new, never half)
 *   SIGHUP the running keepalived (pid from pidFile) -> 'reloaded'; none running -> 'written'
 *
 * keepalived's parent forwards SIGHUP to its VRRP child, which re-reads the file; an unchanged
 * instance keeps its state (no transition, measured in the l2 recipe), a new one starts BACKUP.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ShoalError } from '@shoal/model';
import { KEEPALIVED_DEFAULTS } from './constants.js';

export type KeepalivedApplyResult = 'unchanged' | 'reloaded' | 'written';

export interface KeepalivedDriverInit {
  /** The file keepalived runs with (`-f`). Temp files go to the same directory. */
  readonly configPath: string;
  readonly logger: Logger;
  /**
   * keepalived 2.2 or newer.
   * @default 'keepalived'
   */
  readonly keepalivedBin?: string;
  /**
   * The keepalived parent's pid file (`-p`); SIGHUP goes to that pid.
   * @default '/run/keepalived.pid'
   */
  readonly pidFile?: string;
  /**
   * Run `keepalived -t` inside this named network namespace (`ip netns exec`): it checks that
   * the config's interfaces exist, so it must look where keepalived runs. Labs and tests.
   */
  readonly netns?: string;
  /** @default 'ip' */
  readonly ipBin?: string;
  /** @default 10000 */
  readonly validateTimeoutMs?: number;
}

export interface KeepalivedDriver {
  readonly configPath: string;
  /** Writes `configText` if it differs, validated and atomically, then reloads keepalived. */
  apply(configText: string): Promise<KeepalivedApplyResult>;
}

/** keepalived refused a config (`keepalived -t` failed); the previous config is still in place. */
export class KeepalivedConfigError extends ShoalError {
  /** keepalived's own messages (stderr and stdout), e.g. `(Line 12) Unknown keyword 'foo'`. */
  readonly keepalivedOutput: string;
  readonly exitCode: number;
  constructor(configPath: string, exitCode: number, keepalivedOutput: string) {
    const first = keepalivedOutput.trim().split('\n').slice(0, 5).join('; ');
    super('E_CONFIG', `keepalived refused the new config for ${configPath} (exit ${exitCode}): ${first === '' ? 'no message' : first}`);
    this.name = 'KeepalivedConfigError';
    this.exitCode = exitCode;
    this.keepalivedOutput = keepalivedOutput;
  }
}

interface CommandResult {
  readonly code: number;
  readonly output: string;
}

/** Runs a command to completion; output = stderr then stdout (keepalived -t writes to both). */
function runCommand(cmd: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = e.code === 'ENOENT' || e.code === 'EACCES' ? 'E_UNAVAILABLE' : 'E_INTERNAL';
      reject(new ShoalError(code, `keepalived: cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new ShoalError('E_UNAVAILABLE', `keepalived: ${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms`));
      else resolve({ code: code ?? 1, output: Buffer.concat([...err, ...out]).toString('utf8') });
    });
  });
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * The pid in `pidFile` when it is a live keepalived, else null. The name check matters: a pid
 * file left by a crashed keepalived may name a pid the kernel has since given to something
 * else, and that process must not get our SIGHUP (SIGHUP's default action is to exit).
 */
export async function runningKeepalivedPid(pidFile: string): Promise<number | null> {
  const text = await readIfExists(pidFile);
  if (text === null) return null;
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const comm = await readIfExists(`/proc/${pid}/comm`);
  return comm?.trim() === 'keepalived' ? pid : null;
}

async function writeDurably(path: string, text: string): Promise<void> {
  // 0600: the config may hold a VRRP password.
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function createKeepalivedDriver(init: KeepalivedDriverInit): KeepalivedDriver {
  const { configPath } = init;
  const bin = init.keepalivedBin ?? KEEPALIVED_DEFAULTS.keepalivedBin;
  const pidFile = init.pidFile ?? KEEPALIVED_DEFAULTS.pidFile;
  const timeoutMs = init.validateTimeoutMs ?? KEEPALIVED_DEFAULTS.validateTimeoutMs;
  const log = init.logger.child({ component: 'keepalived', configPath });
  const dir = dirname(configPath);
  let seq = 0;
  // One apply at a time: two overlapping applies could otherwise rename in the wrong order.
  let queue: Promise<unknown> = Promise.resolve();

  async function validate(tmp: string): Promise<void> {
    const argv = ['-t', '-f', tmp];
    const [cmd, args] = init.netns === undefined ? [bin, argv] : [init.ipBin ?? KEEPALIVED_DEFAULTS.ipBin, ['netns', 'exec', init.netns, bin, ...argv]];
    const r = await runCommand(cmd, args, timeoutMs);
    // keepalived -t exits non-zero on errors and on some warnings it treats as fatal
    // (e.g. authentication under VRRPv3, a missing interface).
    if (r.code !== 0) throw new KeepalivedConfigError(configPath, r.code, r.output);
  }

  async function apply(configText: string): Promise<KeepalivedApplyResult> {
    const current = await readIfExists(configPath);
    if (current === configText) {
      log.debug('config unchanged');
      return 'unchanged';
    }
    const tmp = join(dir, `.${basename(configPath)}.${process.pid}.${++seq}.${randomBytes(3).toString('hex')}.tmp`);
    try {
      await writeDurably(tmp, configText);
      await validate(tmp);
      await rename(tmp, configPath);
    } catch (err) {
      await unlink(tmp).catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, tmp }, 'cannot remove temp config');
      });
      if (err instanceof KeepalivedConfigError) log.error({ exitCode: err.exitCode, keepalivedOutput: err.keepalivedOutput }, 'keepalived refused the config; the previous one stays');
      throw err;
    }
    await syncDirectory(dir);
    const pid = await runningKeepalivedPid(pidFile);
    if (pid === null) {
      log.info({ pidFile, bytes: configText.length }, 'config written; keepalived is not running');
      return 'written';
    }
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      // It exited between the check and the signal: the file is in place for its next start.
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
        log.info({ pid }, 'config written; keepalived exited before the reload');
        return 'written';
      }
      throw new ShoalError('E_INTERNAL', `keepalived: cannot signal pid ${pid}: ${(err as Error).message}`, { cause: err });
    }
    log.info({ pid, bytes: configText.length }, 'config written; keepalived reloading');
    return 'reloaded';
  }

  return {
    configPath,
    apply(configText) {
      const next = queue.then(() => apply(configText));
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
