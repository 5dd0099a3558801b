/**
 * The kernel switches a load balancer needs, as slb turns them on: IPv4 and IPv6 forwarding
 * (NAT replies and routed traffic pass through this node) and IPVS connection tracking (so
 * netfilter NAT/masquerade sees IPVS flows). A missing one (no IPVS, no IPv6) is skipped.
 */
import { writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';

export const LOAD_BALANCER_SYSCTLS: readonly { readonly path: string; readonly value: string }[] = [
  { path: '/proc/sys/net/ipv4/ip_forward', value: '1' },
  { path: '/proc/sys/net/ipv6/conf/all/forwarding', value: '1' },
  { path: '/proc/sys/net/ipv4/vs/conntrack', value: '1' },
];

export async function enableForwardingSysctls(log: Logger): Promise<void> {
  for (const s of LOAD_BALANCER_SYSCTLS) {
    try {
      await writeFile(s.path, s.value);
      log.info({ sysctl: s.path, value: s.value }, 'sysctl set');
    } catch (err) {
      log.warn({ sysctl: s.path, err: (err as Error).message }, 'sysctl not set');
    }
  }
}
