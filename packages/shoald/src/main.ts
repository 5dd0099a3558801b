/** `shoald --config shoald.yaml`: argument handling, signals and exit codes. */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ShoalError } from '@shoal/model';
import { ConfigError, loadConfigFile } from './config.js';
import { SHOALD_VERSION, startShoald } from './daemon.js';
import { selectDataplane } from './dataplane-select.js';
import { pino } from 'pino';

const USAGE = `usage: shoald [--config FILE] [--check-config | --cleanup] [--version] [--help]

  -c, --config FILE   configuration (YAML); default /etc/shoal/shoald.yaml
      --check-config  validate the configuration, print it with defaults filled in, exit
      --cleanup       remove everything Shoal put in the kernel (its IPVS services, its
                      nftables table), then exit; other services and tables are untouched
  -v, --version       print the version
  -h, --help          this text

Exit codes: 0 clean stop; 1 runtime failure; 2 bad arguments; 78 bad configuration (EX_CONFIG).
Signals: SIGTERM / SIGINT stop gracefully (withdraw BGP routes, leave the cluster, drain
requests, flush the store); SIGUSR2 is the same for a planned restart, except that BGP sessions
close without a NOTIFICATION so graceful-restart routers keep forwarding; SIGHUP re-reads the
cluster's gossip key file (key rotation).`;

const EX_CONFIG = 78;

export async function runFromArgv(argv: string[]): Promise<void> {
  let values: { config?: string | undefined; 'check-config'?: boolean | undefined; cleanup?: boolean | undefined; version?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        cleanup: { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`shoald: ${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`shoald ${SHOALD_VERSION}\n`);
    return;
  }
  const path = values.config ?? process.env['SHOALD_CONFIG'] ?? '/etc/shoal/shoald.yaml';
  let config;
  try {
    config = loadConfigFile(path);
  } catch (err) {
    reportStartupError(err);
    process.exitCode = err instanceof ConfigError ? EX_CONFIG : 1;
    return;
  }
  if (values['check-config']) {
    process.stdout.write(`# ${path}: valid\n${stringify(config)}`);
    return;
  }
  if (values.cleanup) {
    try {
      const logger = pino({ level: config.logging.level, base: { node: config.node.name } });
      const { dataplane, reason } = await selectDataplane(config, logger);
      if (dataplane) await dataplane.flush();
      process.stdout.write(`shoald: cleanup done (${dataplane?.kind ?? 'no data plane'}: ${reason})\n`);
    } catch (err) {
      reportStartupError(err);
      process.exitCode = 1;
    }
    return;
  }
  let running;
  try {
    running = await startShoald(config);
  } catch (err) {
    reportStartupError(err);
    process.exitCode = err instanceof ShoalError && err.code === 'E_CONFIG' ? EX_CONFIG : 1;
    return;
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    running.stop(signal).then(
      () => {
        process.exitCode = 0;
        // pino's destination is synchronous on stdout; nothing left to flush.
        process.exit();
      },
      (err: unknown) => {
        running.logger.fatal({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // A planned restart: like SIGTERM, but BGP sessions close without a NOTIFICATION, so the
  // routers (graceful-restart helpers) keep our routes until the new process is back (BIRD's
  // `graceful restart` command does the same).
  process.once('SIGUSR2', onSignal);
  process.on('SIGHUP', () => {
    try {
      running.cluster?.reloadKeys();
    } catch (err) {
      // A bad key file keeps the keys in use: gossip must not stop over a typo.
      running.logger.error({ err }, 'cannot reload gossip keys; keeping the current ones');
    }
  });
}

function reportStartupError(err: unknown): void {
  if (err instanceof ShoalError) {
    process.stderr.write(`shoald: ${err.message}\n`);
    for (const i of err.issues ?? []) process.stderr.write(`  ${i.path}: ${i.message}\n`);
  } else {
    process.stderr.write(`shoald: ${(err as Error).stack ?? String(err)}\n`);
  }
}
