/**
 * Choosing the kernel data plane: IPVS when the kernel has it, nftables otherwise, as the
 * config says. Only here (the composition root) are real drivers made.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { ShoalError } from '@shoal/model';
import type { Dataplane } from '@shoal/dataplane';
import { createNftablesDataplane } from '@shoal/nftables';
import { createIpvsDataplane } from '@shoal/ipvs';
import { join } from 'node:path';
import type { ShoaldConfig } from './config.js';

const execFileAsync = promisify(execFile);

export interface DataplaneChoice {
  readonly dataplane: Dataplane | undefined;
  /** Why this one, for the log and /v1/status. */
  readonly reason: string;
}

/** The kernel has IPVS when /proc/net/ip_vs exists, or appears after loading the module. */
async function kernelHasIpvs(): Promise<boolean> {
  if (existsSync('/proc/net/ip_vs')) return true;
  try {
    await execFileAsync('modprobe', ['ip_vs']);
  } catch {
    return false;
  }
  return existsSync('/proc/net/ip_vs');
}

async function hasNft(): Promise<boolean> {
  try {
    await execFileAsync('nft', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/** Where the IPVS driver records which services are Shoal's: IPVS itself has no owner field. */
export const IPVS_OWNERSHIP_FILE = 'ipvs-owned.json';

export async function selectDataplane(config: Pick<ShoaldConfig, 'dataplane' | 'dataDir'>, logger: Logger): Promise<DataplaneChoice> {
  const cfg = config.dataplane;
  const nft = (): Dataplane => createNftablesDataplane({ tableName: cfg.nftablesTable, logger });
  const ipvsDriver = (): Dataplane => createIpvsDataplane({ logger, stateFile: join(config.dataDir, IPVS_OWNERSHIP_FILE) });
  switch (cfg.driver) {
    case 'none':
      return { dataplane: undefined, reason: 'dataplane.driver is none' };
    case 'nftables':
      if (!(await hasNft())) throw new ShoalError('E_CONFIG', 'dataplane.driver is nftables but the nft command is not installed (apt-get install nftables)');
      return { dataplane: nft(), reason: 'dataplane.driver is nftables' };
    case 'ipvs':
      if (!(await kernelHasIpvs())) throw new ShoalError('E_CONFIG', 'dataplane.driver is ipvs but the kernel has no IPVS (modprobe ip_vs failed)');
      return { dataplane: ipvsDriver(), reason: 'dataplane.driver is ipvs' };
    case 'auto': {
      if (await kernelHasIpvs()) return { dataplane: ipvsDriver(), reason: 'auto: the kernel has IPVS' };
      if (await hasNft()) return { dataplane: nft(), reason: 'auto: no IPVS in this kernel, nft is installed' };
      return { dataplane: undefined, reason: 'auto: neither IPVS nor nft available; nothing is programmed' };
    }
  }
}
