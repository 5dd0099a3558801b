/**
 * Test certificates made at run time with the project's own script, so the bench exercises
 * the same mTLS material an operator would deploy (and none is committed).
 */
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CERTS_SCRIPT } from './repo.js';
import type { ClientTls } from './mtls-client.js';

const run = promisify(execFile);

export interface BenchCerts {
  readonly dir: string;
  /** What the load generator presents: the admin identity (OU admin) may create instances. */
  readonly admin: ClientTls;
}

export async function makeCerts(dir: string): Promise<BenchCerts> {
  try {
    await access(CERTS_SCRIPT);
  } catch {
    throw new Error(`${CERTS_SCRIPT} is missing: the bench needs it to make its mTLS certificates`);
  }
  await run('bash', [CERTS_SCRIPT, 'bootstrap', '--dir', dir], { timeout: 120_000 });
  const [cert, key, ca] = await Promise.all(['admin.crt', 'admin.key', 'ca.crt'].map((f) => readFile(join(dir, f))));
  if (!cert || !key || !ca) throw new Error(`certificates missing in ${dir}`);
  return { dir, admin: { cert, key, ca } };
}

/** The certificate script is written concurrently by a colleague; give it time to appear. */
export async function waitForCertsScript(timeoutMs: number, onWait: (msg: string) => void): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await access(CERTS_SCRIPT);
      return;
    } catch {
      if (performance.now() > deadline) throw new Error(`${CERTS_SCRIPT} did not appear within ${Math.round(timeoutMs / 1000)} s`);
      onWait(`waiting for ${CERTS_SCRIPT} ...`);
      await sleep(10_000);
    }
  }
}

/**
 * A node certificate for `name` (loopback SANs) in the bench CA, made by the same script: each
 * member of a cluster presents its own, since replication checks the name of the peer it dialled.
 * `bootstrap` already made node1's; existing ones are kept.
 */
export async function issueNodeCert(dir: string, name: string): Promise<void> {
  try {
    await access(join(dir, `${name}.crt`));
    return;
  } catch {
    await run('bash', [CERTS_SCRIPT, 'node', '--dir', dir, '--name', name], { timeout: 60_000 });
  }
}
