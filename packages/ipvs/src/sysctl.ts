/**
 * The sysctls an IPVS director needs: forwarding (NAT replies and DR/tunnel traffic pass
 * through) and vs.conntrack (keeps IPVS connections in netfilter's conntrack so nftables
 * rules and NAT see them). Written through /proc/sys, per network namespace.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '@shoal/model';

export const IPVS_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
  'net.ipv6.conf.all.forwarding': '1',
  'net.ipv4.vs.conntrack': '1',
};

export interface SysctlChange {
  readonly name: string;
  readonly previous: string;
  readonly value: string;
}

/**
 * Sets every IPVS_SYSCTLS value; returns what each was. `procSysDir` is for tests.
 * net.ipv4.vs.* exists only once ip_vs is loaded: its absence is an E_UNAVAILABLE error.
 */
export async function enableIpvsSysctls(options: { readonly procSysDir?: string } = {}): Promise<SysctlChange[]> {
  const root = options.procSysDir ?? '/proc/sys';
  const changes: SysctlChange[] = [];
  for (const [name, value] of Object.entries(IPVS_SYSCTLS)) {
    const path = join(root, ...name.split('.'));
    let previous: string;
    try {
      previous = (await readFile(path, 'utf8')).trim();
    } catch (err) {
      throw new ShoalError('E_UNAVAILABLE', `sysctl ${name} is missing (${path})${name.includes('.vs.') ? ': is ip_vs loaded?' : ''}`, { cause: err });
    }
    if (previous !== value) await writeFile(path, `${value}\n`);
    changes.push({ name, previous, value });
  }
  return changes;
}
