/**
 * The kernel switches a load balancer needs, as slb turns them on (the list is the IPVS
 * driver's: forwarding for NAT replies and routed traffic, vs.conntrack so netfilter sees
 * IPVS flows). Unlike enableIpvsSysctls, a missing one is skipped with a warning: an
 * nftables node has no net.ipv4.vs.*, a host without IPv6 no ipv6 forwarding switch.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { IPVS_SYSCTLS } from '@shoal/ipvs';

export async function enableForwardingSysctls(log: Logger): Promise<void> {
  for (const [name, value] of Object.entries(IPVS_SYSCTLS)) {
    const path = `/proc/sys/${name.replaceAll('.', '/')}`;
    try {
      const previous = (await readFile(path, 'utf8')).trim();
      if (previous !== value) await writeFile(path, `${value}\n`);
      log.info({ sysctl: name, value, previous }, 'sysctl set');
    } catch (err) {
      log.warn({ sysctl: name, err: (err as Error).message }, 'sysctl not set');
    }
  }
}
