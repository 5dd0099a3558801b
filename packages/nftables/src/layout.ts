/**
 * The table's layout: which set or map holds what, and the element comments that carry what
 * the slot maps cannot (scheduler, persistence, weights including 0, forwarding), so a dump
 * gives back exactly the VirtualService the reconciler asked for.
 *
 * Per address family (v4, v6) and protocol (tcp, udp):
 * - `<f>_<p>_services`: VIP . port, comment `s=<scheduler> p=<persistenceS>[ m=<netmask>]`;
 *   also matched by the masquerade rule, so only flows to our services are SNATed.
 * - `<f>_<p>_servers_<g>`: VIP . port . server . port for servers of family g, comment
 *   `w=<weight> f=<forwarding>` (weight-0 servers live only here).
 * - `<f>_<p>_<rr|sh>_<tier>`: VIP . port . slot -> server . port, the maps the DNAT rules use.
 */
import { FORWARDING_METHODS, SCHEDULERS, type ForwardingMethod, type IpFamily, type Protocol, type Scheduler } from '@shoal/model';
import { SLOT_TIERS, type SlotTier } from './constants.js';
import type { SlotAlgorithm } from './slots.js';

export const FAMILIES: readonly IpFamily[] = [4, 6];
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];
export const ALGORITHMS: readonly SlotAlgorithm[] = ['rr', 'sh'];
export const TIERS: readonly SlotTier[] = SLOT_TIERS;

export function servicesSetName(family: IpFamily, protocol: Protocol): string {
  return `v${family}_${protocol}_services`;
}

export function serversSetName(family: IpFamily, protocol: Protocol, serverFamily: IpFamily): string {
  return `v${family}_${protocol}_servers_v${serverFamily}`;
}

export function slotMapName(family: IpFamily, protocol: Protocol, algorithm: SlotAlgorithm, tier: SlotTier): string {
  return `v${family}_${protocol}_${algorithm}_${tier}`;
}

export function addrType(family: IpFamily): 'ipv4_addr' | 'ipv6_addr' {
  return family === 4 ? 'ipv4_addr' : 'ipv6_addr';
}

/** The payload expression of the destination address: `ip daddr` / `ip6 daddr`. */
export function ipKeyword(family: IpFamily): 'ip' | 'ip6' {
  return family === 4 ? 'ip' : 'ip6';
}

export interface ServiceAttributes {
  readonly scheduler: Scheduler;
  readonly persistenceTimeoutS: number;
  readonly persistenceNetmask?: number;
}

export function encodeServiceComment(s: ServiceAttributes): string {
  return `s=${s.scheduler} p=${s.persistenceTimeoutS}${s.persistenceNetmask === undefined ? '' : ` m=${s.persistenceNetmask}`}`;
}

export function encodeServerComment(r: { readonly weight: number; readonly forwarding: ForwardingMethod }): string {
  return `w=${r.weight} f=${r.forwarding}`;
}

function fields(comment: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of comment.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

function nonNegativeInt(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  return Number(text);
}

function isScheduler(s: string | undefined): s is Scheduler {
  return (SCHEDULERS as readonly string[]).includes(s ?? '');
}

function isForwarding(s: string | undefined): s is ForwardingMethod {
  return (FORWARDING_METHODS as readonly string[]).includes(s ?? '');
}

/** null when the comment is not one this driver wrote (hand-added element). */
export function decodeServiceComment(comment: string): ServiceAttributes | null {
  const f = fields(comment);
  const scheduler = f.get('s');
  const persistenceTimeoutS = nonNegativeInt(f.get('p'));
  if (!isScheduler(scheduler) || persistenceTimeoutS === null) return null;
  const m = f.get('m');
  if (m === undefined) return { scheduler, persistenceTimeoutS };
  const persistenceNetmask = nonNegativeInt(m);
  return persistenceNetmask === null ? null : { scheduler, persistenceTimeoutS, persistenceNetmask };
}

export function decodeServerComment(comment: string): { weight: number; forwarding: ForwardingMethod } | null {
  const f = fields(comment);
  const weight = nonNegativeInt(f.get('w'));
  const forwarding = f.get('f');
  if (weight === null || !isForwarding(forwarding)) return null;
  return { weight, forwarding };
}
