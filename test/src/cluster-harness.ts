/**
 * Clusters of real shoald processes on loopback: node certificates per node (the replication
 * link checks that the certificate names the member it dialled), gossip and API ports picked
 * free, node1 the seed of the others. Stopped by PID in the caller's finally.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createShoalClient, type ShoalClient } from '@shoal/client';
import type { NetnsLab } from '@shoal/testkit';
import { CERTS_SCRIPT, freePort, startShoaldProcess, type Pki, type ShoaldProcess } from './harness.js';

const execFileAsync = promisify(execFile);

/** Two fixed test keys (32 bytes, base64): the cluster key and a foreign one. */
export const GOSSIP_KEY = Buffer.alloc(32, 7).toString('base64');
export const OTHER_GOSSIP_KEY = Buffer.alloc(32, 9).toString('base64');

export interface ClusterNode {
  readonly name: string;
  readonly apiPort: number;
  readonly gossipPort: number;
  readonly dataDir: string;
  process: ShoaldProcess;
  /** An admin client of this node only (no failover: tests ask one node on purpose). */
  readonly client: ShoalClient;
}

export interface ClusterOptions {
  readonly pki: Pki;
  readonly root: string;
  readonly size: number;
  /** Merged into each node's `cluster` config section. */
  readonly cluster?: Record<string, unknown>;
  /** Give each node a key file (GOSSIP_KEY) instead of inline keys, for rotation by SIGHUP. */
  readonly keyFiles?: boolean;
  readonly namePrefix?: string;
}

/** Ports handed out by this process, so two nodes never get the same one. */
const handedOut = new Set<number>();

/** A port free for both TCP and UDP (gossip uses both on one port), not handed out before. */
export async function freeGossipPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (handedOut.has(port)) continue;
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => {
        u.close();
        resolve(false);
      });
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (!udpFree) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no port free for both TCP and UDP after 50 tries');
}

/** A TCP port not handed out before by this process. */
export async function freeApiPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function issueNodeCert(pki: Pki, name: string): Promise<void> {
  if (existsSync(join(pki.dir, `${name}.crt`))) return;
  await execFileAsync('bash', [CERTS_SCRIPT, 'node', '--dir', pki.dir, '--name', name]);
}

export async function adminClient(pki: Pki, url: string): Promise<ShoalClient> {
  const { cert, key, ca } = await pki.pem('admin');
  return createShoalClient({ endpoints: [url], cert, key, ca, timeoutMs: 15_000 });
}

/** Config of one member; `seed` is node1's gossip address. */
function nodeConfig(pki: Pki, node: { name: string; gossipPort: number; apiPort: number }, seed: string | undefined, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    api: { host: '127.0.0.1', port: node.apiPort, tls: { cert: join(pki.dir, `${node.name}.crt`), key: join(pki.dir, `${node.name}.key`), ca: join(pki.dir, 'ca.crt') } },
    cluster: {
      enabled: true,
      bind: { host: '127.0.0.1', port: node.gossipPort },
      seeds: seed === undefined ? [] : [seed],
      keys: [GOSSIP_KEY],
      profile: 'local',
      antiEntropyIntervalMs: 1000,
      ...extra,
    },
  };
}

/** The key file of one node (used when ClusterOptions.keyFiles is set). */
export function keyFileOf(root: string, name: string): string {
  return join(root, `gossip-${name}.keys`);
}

export async function startClusterNode(opts: ClusterOptions, node: { name: string; apiPort: number; gossipPort: number; dataDir: string }, seed: string | undefined): Promise<ShoaldProcess> {
  let extra = opts.cluster ?? {};
  if (opts.keyFiles === true) {
    const file = keyFileOf(opts.root, node.name);
    if (!existsSync(file)) await writeFile(file, `${GOSSIP_KEY}\n`);
    extra = { ...extra, keys: undefined, keyFile: file };
  }
  return startShoaldProcess({
    pki: opts.pki,
    root: opts.root,
    name: node.name,
    port: node.apiPort,
    dataDir: node.dataDir,
    config: nodeConfig(opts.pki, node, seed, extra),
  });
}

/** Starts `size` nodes; node1 first, the others seeded with it, all at once. */
export async function startLoopbackCluster(opts: ClusterOptions): Promise<ClusterNode[]> {
  const prefix = opts.namePrefix ?? 'node';
  const specs = [];
  for (let i = 1; i <= opts.size; i++) {
    const name = `${prefix}${i}`;
    await issueNodeCert(opts.pki, name);
    specs.push({ name, apiPort: await freeApiPort(), gossipPort: await freeGossipPort(), dataDir: join(opts.root, `data-${name}`) });
  }
  const nodes: ClusterNode[] = [];
  const first = specs[0];
  if (!first) return nodes;
  const seed = `127.0.0.1:${first.gossipPort}`;
  const started: ShoaldProcess[] = [];
  try {
    started.push(await startClusterNode(opts, first, undefined));
    // All at once; every one that started is stopped if any fails, or its pipes would keep
    // the test process alive.
    const rest = await Promise.allSettled(specs.slice(1).map((s) => startClusterNode(opts, s, seed)));
    for (const r of rest) if (r.status === 'fulfilled') started.push(r.value);
    const failed = rest.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const [i, s] of specs.entries()) {
      nodes.push({ ...s, process: started[i] as ShoaldProcess, client: await adminClient(opts.pki, `https://127.0.0.1:${s.apiPort}`) });
    }
  } catch (err) {
    for (const n of nodes) n.client.close();
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    throw err;
  }
  return nodes;
}

export async function stopCluster(nodes: readonly ClusterNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      n.client.close();
      await n.process.stop('SIGKILL');
    }),
  );
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | false | undefined | null>): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== false && v !== undefined && v !== null) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Member name -> state as `node` sees it. */
export async function memberStates(node: ClusterNode): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const m of await node.client.members()) out[m.name] = m.state;
  return out;
}

export async function allAlive(nodes: readonly ClusterNode[], expected: readonly string[]): Promise<boolean> {
  for (const n of nodes) {
    const states = await memberStates(n);
    if (!expected.every((name) => states[name] === 'alive')) return false;
  }
  return true;
}

export interface LabApiInit {
  readonly lab: NetnsLab;
  readonly pki: Pki;
  /** A node's namespace and its API address. */
  readonly nsOf: (node: string) => string;
  readonly ipOf: (node: string) => string;
  /** curl's --max-time, seconds. Default: none. */
  readonly maxTimeS?: number;
  /** Resolve with what curl printed even when it fails (a node being cut off). Default false. */
  readonly allowFailure?: boolean;
}

export type LabApi = (node: string, method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; json: any }>;

/** The admin API of a node in a namespace lab: curl inside that namespace; status and parsed JSON. */
export function labApi(init: LabApiInit): LabApi {
  const { pki } = init;
  return async (node, method, path, body, headers = {}) => {
    const args = ['-sS', '-X', method, ...(init.maxTimeS === undefined ? [] : ['--max-time', String(init.maxTimeS)])];
    args.push('--cacert', join(pki.dir, 'ca.crt'), '--cert', join(pki.dir, 'admin.crt'), '--key', join(pki.dir, 'admin.key'), '-w', '\n%{http_code}', '-H', 'content-type: application/json');
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
    if (body !== undefined) args.push('-d', JSON.stringify(body));
    args.push(`https://${init.ipOf(node)}:8443${path}`);
    const r = await init.lab.exec(init.nsOf(node), 'curl', args, { allowFailure: init.allowFailure ?? false });
    const cut = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, cut);
    return { status: Number(r.stdout.slice(cut + 1)), json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
}
