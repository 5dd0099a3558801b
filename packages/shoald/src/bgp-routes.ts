/**
 * Which VIPs this node announces by BGP, with which attributes. Pure: the store's instances,
 * backend health and what this node holds in, routes out; the speaker (packages/bgp) diffs
 * them against what each peer was told.
 *
 * Modes (MetalLB's two, plus Shoal's owner election):
 * - `owner`: only the node holding the VIP (the internal election's winner) announces it, so
 *   the routers send all of a VIP's traffic to one node, and a failover is a re-route.
 * - `ecmp`: every node with a healthy backend for the VIP announces it with identical
 *   attributes, and the routers spread flows over all of them (equal-cost multipath). Every
 *   node programs every service, so any of them can take any flow.
 *
 * Either way a VIP is withdrawn when its last instance stops, is deleted, loses a conflict or
 * has no backend left that may take traffic (disabled, weight 0, or failing its health check).
 */
import { ipFamilyOf, parseCidr, parseIp, rangeContains, type Instance } from '@shoal/model';

export type BgpAnnounceMode = 'owner' | 'ecmp';

/** RFC 1997 / RFC 3765 / RFC 7999 / RFC 8326 well-known communities by their usual names. */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, number>> = {
  'graceful-shutdown': 0xffff0000,
  blackhole: 0xffff029a,
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04,
};

/** "64512:100" or a well-known name -> the 32-bit community; null when it is neither. */
export function parseCommunity(text: string): number | null {
  const named = WELL_KNOWN_COMMUNITIES[text.toLowerCase()];
  if (named !== undefined) return named;
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const high = Number(m[1]);
  const low = Number(m[2]);
  if (high > 0xffff || low > 0xffff) return null;
  return high * 0x10000 + low;
}

export interface LargeCommunityValue {
  readonly globalAdmin: number;
  readonly localData1: number;
  readonly localData2: number;
}

/** "4200000001:1:2" (RFC 8092: three 32-bit numbers) -> value; null when malformed. */
export function parseLargeCommunity(text: string): LargeCommunityValue | null {
  const m = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(text);
  if (!m) return null;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (parts.some((p) => p > 0xffffffff)) return null;
  const [globalAdmin = 0, localData1 = 0, localData2 = 0] = parts;
  return { globalAdmin, localData1, localData2 };
}

/**
 * Which VIPs go to BGP, with which extra attributes (MetalLB's BGPAdvertisement). A VIP no
 * rule selects is not announced by BGP (it stays with layer 2); a rule with no selector selects
 * every VIP. Every matching rule applies: communities add up, and for MED, LOCAL_PREF and
 * prepending the last matching rule that sets one wins.
 */
export interface BgpAdvertisementRule {
  /** Instance names. */
  readonly instances?: readonly string[] | undefined;
  /** Pool names (the pool an instance's VIP came from). */
  readonly pools?: readonly string[] | undefined;
  /** CIDRs the VIP falls in. */
  readonly prefixes?: readonly string[] | undefined;
  readonly communities?: readonly string[] | undefined;
  readonly largeCommunities?: readonly string[] | undefined;
  readonly med?: number | undefined;
  /** Sent to iBGP peers only (RFC 4271 5.1.5). */
  readonly localPref?: number | undefined;
  /** Extra copies of our AS in AS_PATH: a backup node that stays announced but out of ECMP. */
  readonly asPathPrepend?: number | undefined;
}

export interface AnnouncedVip {
  /** Canonical VIP text. */
  readonly vip: string;
  readonly family: 'ipv4' | 'ipv6';
  /** Host prefix length: 32 or 128. */
  readonly length: number;
  /** The instances that put it here, sorted (for status and logs). */
  readonly instances: readonly string[];
  readonly communities: readonly number[];
  readonly largeCommunities: readonly LargeCommunityValue[];
  readonly med?: number;
  readonly localPref?: number;
  readonly asPathPrepend?: number;
}

export interface BgpRoutesInput {
  readonly mode: BgpAnnounceMode;
  readonly instances: readonly Instance[];
  /** Whether the instance lost a conflict (it is not programmed, so it is not announced). */
  readonly conflicted: (instanceId: string) => boolean;
  /** Backend health; 'up' for every backend when no checker runs. */
  readonly health: (instanceId: string, backendId: string) => 'up' | 'down' | 'unknown';
  /** Owner mode: the VIPs this node holds now (canonical text). Ignored in ecmp mode. */
  readonly held: ReadonlySet<string>;
  readonly advertisements: readonly BgpAdvertisementRule[];
}

/** A backend that may take new connections: enabled, weighted, and passing its check (if any). */
function servesTraffic(instance: Instance, backend: Instance['backends'][number], health: BgpRoutesInput['health']): boolean {
  if (!backend.enabled || backend.weight === 0) return false;
  return instance.healthCheck.type === 'none' || health(instance.id, backend.id) === 'up';
}

function ruleSelects(rule: BgpAdvertisementRule, instance: Instance): boolean {
  if (rule.instances === undefined && rule.pools === undefined && rule.prefixes === undefined) return true;
  if (rule.instances?.includes(instance.name) === true) return true;
  if (instance.pool !== undefined && rule.pools?.includes(instance.pool) === true) return true;
  const addr = parseIp(instance.vip);
  if (addr !== null && rule.prefixes !== undefined) {
    for (const cidr of rule.prefixes) {
      const range = parseCidr(cidr);
      if (range !== null && rangeContains(range, addr)) return true;
    }
  }
  return false;
}

/** Whether some rule selects `instance`: its VIP belongs to BGP rather than layer 2. */
export function selectedForBgp(rules: readonly BgpAdvertisementRule[], instance: Instance): boolean {
  return rules.some((r) => ruleSelects(r, instance));
}

/** The VIPs to announce, sorted by VIP; instances sharing a VIP make one route. */
export function bgpRoutes(input: BgpRoutesInput): AnnouncedVip[] {
  const byVip = new Map<string, Instance[]>();
  for (const instance of input.instances) {
    if (instance.state !== 'started' || input.conflicted(instance.id)) continue;
    if (!instance.backends.some((b) => servesTraffic(instance, b, input.health))) continue;
    if (input.mode === 'owner' && !input.held.has(instance.vip)) continue;
    const list = byVip.get(instance.vip);
    if (list) list.push(instance);
    else byVip.set(instance.vip, [instance]);
  }
  const out: AnnouncedVip[] = [];
  for (const [vip, instances] of byVip) {
    const ipFamily = ipFamilyOf(vip);
    if (ipFamily === null) continue;
    const family = ipFamily === 4 ? 'ipv4' : 'ipv6';
    const communities = new Set<number>();
    const large = new Map<string, LargeCommunityValue>();
    let med: number | undefined;
    let localPref: number | undefined;
    let asPathPrepend: number | undefined;
    // Rules apply in config order over the instances in name order: the result does not depend
    // on which instance happened to be listed first.
    const sorted = [...instances].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let selected = false;
    for (const rule of input.advertisements) {
      if (!sorted.some((i) => ruleSelects(rule, i))) continue;
      selected = true;
      for (const c of rule.communities ?? []) {
        const v = parseCommunity(c);
        if (v !== null) communities.add(v);
      }
      for (const c of rule.largeCommunities ?? []) {
        const v = parseLargeCommunity(c);
        if (v !== null) large.set(`${v.globalAdmin}:${v.localData1}:${v.localData2}`, v);
      }
      if (rule.med !== undefined) med = rule.med;
      if (rule.localPref !== undefined) localPref = rule.localPref;
      if (rule.asPathPrepend !== undefined) asPathPrepend = rule.asPathPrepend;
    }
    if (!selected) continue;
    out.push({
      vip,
      family,
      length: family === 'ipv4' ? 32 : 128,
      instances: sorted.map((i) => i.name),
      communities: [...communities].sort((a, b) => a - b),
      largeCommunities: [...large.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v),
      ...(med === undefined ? {} : { med }),
      ...(localPref === undefined ? {} : { localPref }),
      ...(asPathPrepend === undefined ? {} : { asPathPrepend }),
    });
  }
  return out.sort((a, b) => (a.vip < b.vip ? -1 : a.vip > b.vip ? 1 : 0));
}
