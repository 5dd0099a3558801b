/** The CLI's tests: the shared fixtures of @shoal/testkit plus running shoalctl in-process. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pki } from '@shoal/testkit';
import { main, type CliIo } from '../src/index.js';

export * from '@shoal/testkit';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs shoalctl in-process with captured output and, unless given, an empty environment and home. */
export async function runCli(argv: readonly string[], io: Omit<CliIo, 'stdout' | 'stderr'> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    env: {},
    homeDir: join(tmpdir(), 'shoalctl-test-no-home'),
    ...io,
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

/** Global flags that connect to `url` with the PKI's admin certificate. */
export function connectFlags(pki: Pki, url: string, who = 'admin'): string[] {
  return ['--endpoint', url, '--ca', join(pki.dir, 'ca.crt'), '--cert', join(pki.dir, `${who}.crt`), '--key', join(pki.dir, `${who}.key`)];
}
