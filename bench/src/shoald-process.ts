/**
 * shoald as a separate process, as in production: the real binary and YAML config, its JSON
 * log lines going to a file (pino writes synchronously to stdout, so a pipe the bench was slow
 * to drain would throttle shoald and falsify the figures).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RECOMMENDED_NODE_FLAGS, type ShoaldConfigInput } from '@shoal/shoald';
import { freePort, startNodeChild, waitForLogLine, type NodeChild } from './procs.js';
import { SHOALD_BIN } from './repo.js';

export interface ShoaldProcessInit {
  /** Holds the config and log files. */
  readonly workDir: string;
  readonly dataDir: string;
  readonly certsDir: string;
  /** When set, shoald runs with --cpu-prof and writes its profile here on exit. */
  readonly cpuProfDir?: string | undefined;
  /** How long startup (store load included) may take. @default 60 s */
  readonly readyTimeoutMs?: number;
  /**
   * Node name, and the base name of its certificate in certsDir (a cluster's replication link
   * checks that a peer's certificate names the member it dialled). @default 'bench' with node1's certificate
   */
  readonly name?: string;
  /** The config's `cluster` section; absent: a single node. */
  readonly cluster?: ShoaldConfigInput['cluster'];
  /** API port. @default a free one */
  readonly port?: number;
}

export interface ShoaldProcess {
  readonly child: NodeChild;
  readonly host: string;
  readonly port: number;
  readonly logPath: string;
  /** The "shoald ready" log line (holds the instance count it loaded). */
  readonly readyLine: Record<string, unknown>;
  /** Wall time from spawn to the ready line. */
  readonly startupMs: number;
}

const HOST = '127.0.0.1';

export async function startShoaldProcess(init: ShoaldProcessInit): Promise<ShoaldProcess> {
  const port = init.port ?? (await freePort(HOST));
  const configPath = join(init.workDir, 'shoald.yaml');
  const certName = init.name ?? 'node1';
  const config: ShoaldConfigInput = {
    node: { name: init.name ?? 'bench' },
    dataDir: init.dataDir,
    api: {
      host: HOST,
      port,
      tls: { cert: join(init.certsDir, `${certName}.crt`), key: join(init.certsDir, `${certName}.key`), ca: join(init.certsDir, 'ca.crt') },
    },
    ...(init.cluster === undefined ? {} : { cluster: init.cluster }),
    // The production default, so its cost is in the figures (and the ready line is logged at info).
    logging: { level: 'info' },
    // The API bench measures the API: no kernel programming, no probes of fictional backends.
    dataplane: { driver: 'none' },
    ownership: { mode: 'none' },
    health: { enabled: false },
    // A stop should be quick; nothing in flight matters once the bench is done.
    shutdown: { graceMs: 2_000 },
  };
  await writeFile(configPath, stringify(config));
  const logPath = join(init.workDir, 'shoald.log');
  const stderrPath = join(init.workDir, 'shoald.stderr');
  // Run shoald as deploy/shoald.service does.
  const execArgv = [...RECOMMENDED_NODE_FLAGS, ...(init.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${init.cpuProfDir}`])];
  const started = performance.now();
  const child = startNodeChild({ script: SHOALD_BIN, args: ['--config', configPath], execArgv, stdoutPath: logPath, stderrPath });
  try {
    const readyLine = await waitForLogLine(child, logPath, (l) => l['msg'] === 'shoald ready', init.readyTimeoutMs ?? 60_000, stderrPath);
    return { child, host: HOST, port, logPath, readyLine, startupMs: performance.now() - started };
  } catch (err) {
    await child.stop(2_000);
    throw err;
  }
}
