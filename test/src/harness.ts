/**
 * Integration harness: a test PKI made with the project's own certs script, and real shoald
 * processes on loopback ports. Everything is named with a per-run prefix and removed in the
 * caller's finally; processes are stopped by PID, never by name.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CERTS_SCRIPT = join(REPO_ROOT, 'certs', 'shoal-certs.sh');
export const SHOALD_BIN = join(REPO_ROOT, 'packages', 'shoald', 'bin', 'shoald.js');
export const SHOALCTL_BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'shoalctl.js');

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `shoal-it-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export { hasCommand } from '@shoal/testkit';

async function runCerts(args: string[]): Promise<void> {
  try {
    await execFileAsync('bash', [CERTS_SCRIPT, ...args]);
  } catch (err) {
    throw new Error(`shoal-certs.sh ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`, { cause: err });
  }
}

export interface Pki {
  readonly dir: string;
  /** A second, unrelated CA with its own admin certificate. */
  readonly otherDir: string;
  pem(name: string): Promise<{ cert: Buffer; key: Buffer; ca: Buffer }>;
}

/** CA, node1 (127.0.0.1, ::1, localhost), admin/operator/viewer, an expired admin, and a foreign CA. */
export async function makePki(root: string): Promise<Pki> {
  const dir = join(root, 'pki');
  const otherDir = join(root, 'pki-other');
  await runCerts(['bootstrap', '--dir', dir]);
  await runCerts(['client', '--dir', dir, '--name', 'expired-admin', '--role', 'admin', '--expired']);
  await runCerts(['bootstrap', '--dir', otherDir, '--client', 'admin:admin']);
  return {
    dir,
    otherDir,
    pem: async (name) => {
      const base = name.startsWith('other:') ? otherDir : dir;
      const n = name.replace(/^other:/, '');
      return { cert: await readFile(join(base, `${n}.crt`)), key: await readFile(join(base, `${n}.key`)), ca: await readFile(join(dir, 'ca.crt')) };
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ShoaldProcess {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  readonly configPath: string;
  readonly dataDir: string;
  /** Everything shoald printed so far (JSON log lines). */
  logs(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ShoaldOptions {
  readonly pki: Pki;
  readonly root: string;
  readonly name?: string;
  readonly port?: number;
  readonly dataDir?: string;
  /** Merged over the generated config. */
  readonly config?: Record<string, unknown>;
}

export async function writeShoaldConfig(opts: ShoaldOptions): Promise<{ configPath: string; port: number; dataDir: string }> {
  const port = opts.port ?? (await freePort());
  const name = opts.name ?? 'node1';
  const dataDir = opts.dataDir ?? join(opts.root, `data-${name}`);
  const config = {
    node: { name },
    dataDir,
    api: { host: '127.0.0.1', port, tls: { cert: join(opts.pki.dir, 'node1.crt'), key: join(opts.pki.dir, 'node1.key'), ca: join(opts.pki.dir, 'ca.crt') } },
    logging: { level: 'info' },
    // These tests run on the host: never program its kernel, never probe the (fictional)
    // backend addresses, which would send traffic outside the test's namespaces.
    dataplane: { driver: 'none' },
    ownership: { mode: 'none' },
    health: { enabled: false },
    ...opts.config,
  };
  const configPath = join(opts.root, `shoald-${name}.yaml`);
  await writeFile(configPath, stringify(config));
  return { configPath, port, dataDir };
}

/** Starts shoald and resolves once it logged "shoald ready". */
export async function startShoaldProcess(opts: ShoaldOptions): Promise<ShoaldProcess> {
  const { configPath, port, dataDir } = await writeShoaldConfig(opts);
  const child = spawn(process.execPath, [SHOALD_BIN, '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: its pipes would keep the test process alive.
      child.kill('SIGKILL');
      reject(new Error(`shoald did not become ready in 15 s:\n${out}`));
    }, 15_000);
    const check = (): void => {
      if (out.includes('"shoald ready"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`shoald exited with ${code} before ready:\n${out}`));
    });
  });
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    child,
    configPath,
    dataDir,
    logs: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real shoalctl binary. */
export async function shoalctl(args: string[], env: Record<string, string>, stdin?: string): Promise<CliResult> {
  const child = spawn(process.execPath, [SHOALCTL_BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', HOME: env['HOME'] ?? tmpdir(), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(stdin ?? '');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}
