/**
 * Deciding what one session announces (pure: no sockets, no timers): the export policy that
 * turns a desired route into the path attributes this peer gets, and the Adj-RIB-Out (RFC 4271
 * 3.2: "the routes ... advertised to a specific peer") that the declarative desired set is
 * diffed against, so only changes go on the wire.
 */
import { z } from 'zod';
import { BgpError } from './errors.js';
import { packUpdates, packWithdrawals } from './codec.js';
import type { AddressFamily, CodecContext, LargeCommunity, PathAttributes, Prefix, UpdateMessage } from './messages.js';
import { canonicalAddress, formatPrefix, parsePrefix } from './prefix.js';

/** One route to announce: the prefix (a VIP's /32 or /128) and its policy knobs. */
export interface BgpRoute {
  readonly prefix: Prefix;
  /** MULTI_EXIT_DISC; a higher MED makes this node a backup (recipe: it leaves the ECMP set). */
  readonly med?: number;
  /** LOCAL_PREF, sent to iBGP peers only. @default 100 */
  readonly localPref?: number;
  /** RFC 1997 communities as 32-bit values (`(asn << 16) | value`). */
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  /** Extra copies of our AS on eBGP sessions (another way to become a backup). @default 0 */
  readonly asPathPrepend?: number;
}

/** LOCAL_PREF sent to iBGP peers when a route sets none (RFC 4271 5.1.5: the conventional default). */
export const DEFAULT_LOCAL_PREF = 100;
/** AS_PATH prepending beyond this only makes a path longer than any router's patience. */
export const MAX_AS_PATH_PREPEND = 32;

export function familyOfPrefix(prefix: Prefix): AddressFamily {
  return prefix.family === 'ipv4' ? 'ipv4-unicast' : 'ipv6-unicast';
}

const u32 = z.int('must be an integer').min(0, 'must be 0..4294967295').max(0xffff_ffff, 'must be 0..4294967295');
const RouteSchema = z.strictObject({
  prefix: z.strictObject({ family: z.enum(['ipv4', 'ipv6']), address: z.string(), length: z.int('must be an integer') }),
  med: u32.optional(),
  localPref: u32.optional(),
  communities: z.array(u32).optional(),
  largeCommunities: z.array(z.strictObject({ globalAdmin: u32, localData1: u32, localData2: u32 })).optional(),
  asPathPrepend: z.int('must be an integer').min(0, 'must be >= 0').max(MAX_AS_PATH_PREPEND, `must be <= ${MAX_AS_PATH_PREPEND}`).optional(),
});

function routeError(path: string, message: string): BgpError {
  return new BgpError('E_BGP_CONFIG', `bgp routes: ${path}: ${message}`);
}

/**
 * Validates a desired route set and keys it by prefix text. Throws BgpError E_BGP_CONFIG
 * naming the bad field (`routes[3].med`), a non-canonical prefix, or a prefix given twice.
 */
export function normalizeRoutes(routes: readonly BgpRoute[]): ReadonlyMap<string, BgpRoute> {
  const out = new Map<string, BgpRoute>();
  routes.forEach((route, i) => {
    const parsed = RouteSchema.safeParse(route);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = [`routes[${i}]`, ...(issue?.path ?? []).map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))].join('');
      throw routeError(path, issue?.message ?? 'invalid');
    }
    let prefix: Prefix;
    try {
      prefix = parsePrefix(`${route.prefix.address}/${route.prefix.length}`);
    } catch (err) {
      throw routeError(`routes[${i}].prefix`, err instanceof Error ? err.message : String(err));
    }
    if (prefix.family !== route.prefix.family) throw routeError(`routes[${i}].prefix.family`, `is ${route.prefix.family} but the address is ${prefix.family}`);
    const key = formatPrefix(prefix);
    if (out.has(key)) throw routeError(`routes[${i}].prefix`, `${key} is given twice`);
    out.set(key, { ...route, prefix });
  });
  return out;
}

/** What the export policy needs to know about one Established session. */
export interface SessionExport {
  readonly localAsn: number;
  readonly peerAsn: number;
  /** The TCP connection's local address (canonical): the default next hop of its own family. */
  readonly localAddress: string;
  readonly nextHopIpv4?: string;
  readonly nextHopIpv6?: string;
  /** Negotiated families. */
  readonly families: readonly AddressFamily[];
}

/** How one family goes out on a session: classic NLRI with NEXT_HOP, MP_REACH_NLRI, or not at all (and why). */
export type FamilyPlan =
  | { readonly family: AddressFamily; readonly encoding: 'classic' | 'mp'; readonly nextHop: string }
  | { readonly family: AddressFamily; readonly encoding: 'none'; readonly problem: string };

function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/**
 * The transport family decides the encoding: IPv4 over an IPv4 session is classic NLRI with
 * NEXT_HOP (RFC 4271); everything else is MP_REACH_NLRI (RFC 4760). A next hop of the wrong
 * family is never sent: the recipe measured that an IPv4 (or IPv4-mapped) next hop for an IPv6
 * route is rejected by BIRD and, on FRR, removes the VIP for every speaker. So a family whose
 * next hop cannot be known is not announced, and the plan says why.
 */
export function planFamily(family: AddressFamily, s: SessionExport): FamilyPlan {
  const sessionIpv4 = !s.localAddress.includes(':');
  if (family === 'ipv4-unicast') {
    if (sessionIpv4) return { family, encoding: 'classic', nextHop: s.nextHopIpv4 ?? s.localAddress };
    if (s.nextHopIpv4 === undefined) return { family, encoding: 'none', problem: 'IPv4 routes over an IPv6 session need nextHopIpv4' };
    return { family, encoding: 'mp', nextHop: s.nextHopIpv4 };
  }
  if (s.nextHopIpv6 !== undefined) return { family, encoding: 'mp', nextHop: s.nextHopIpv6 };
  if (sessionIpv4) return { family, encoding: 'none', problem: 'IPv6 routes over an IPv4 session need nextHopIpv6 (a global IPv6 next hop)' };
  if (isLinkLocal(s.localAddress)) return { family, encoding: 'none', problem: `the session's local address ${s.localAddress} is link-local; set nextHopIpv6 to a global address` };
  return { family, encoding: 'mp', nextHop: canonicalAddress(s.localAddress) ?? s.localAddress };
}

/** A problem known from configuration alone (before any session): the cross-family next hop. */
export function configuredFamilyProblem(family: AddressFamily, peerAddress: string, nextHopIpv4: string | undefined, nextHopIpv6: string | undefined): string | undefined {
  const sessionIpv4 = !peerAddress.includes(':');
  if (family === 'ipv6-unicast' && sessionIpv4 && nextHopIpv6 === undefined) return 'IPv6 routes over an IPv4 session need nextHopIpv6 (a global IPv6 next hop)';
  if (family === 'ipv4-unicast' && !sessionIpv4 && nextHopIpv4 === undefined) return 'IPv4 routes over an IPv6 session need nextHopIpv4';
  return undefined;
}

/** One prefix as sent to one peer: the attributes without NLRI or next hop (those come from the plan). */
export interface Advertisement {
  readonly prefix: Prefix;
  readonly family: AddressFamily;
  readonly attributes: PathAttributes;
  /** Equal keys mean identical attributes: those prefixes share an UPDATE, and an unchanged key is not resent. */
  readonly key: string;
}

/**
 * RFC 4271 5.1: ORIGIN IGP; AS_PATH our AS (plus prepends) towards eBGP, empty towards iBGP
 * (5.1.2); LOCAL_PREF only to iBGP (5.1.5); MED and communities as the route says.
 */
export function exportAttributes(route: BgpRoute, s: SessionExport): PathAttributes {
  const ibgp = s.localAsn === s.peerAsn;
  const prepend = route.asPathPrepend ?? 0;
  return {
    origin: 'igp',
    asPath: ibgp ? [] : [{ type: 'sequence', asns: Array<number>(1 + prepend).fill(s.localAsn) }],
    ...(route.med === undefined ? {} : { med: route.med }),
    ...(ibgp ? { localPref: route.localPref ?? DEFAULT_LOCAL_PREF } : {}),
    ...(route.communities === undefined || route.communities.length === 0 ? {} : { communities: [...route.communities] }),
    ...(route.largeCommunities === undefined || route.largeCommunities.length === 0
      ? {}
      : { largeCommunities: route.largeCommunities.map((c) => ({ globalAdmin: c.globalAdmin, localData1: c.localData1, localData2: c.localData2 })) }),
  };
}

/** The advertisements one session should carry for `routes`, keyed by prefix text; families without a plan are left out. */
export function exportRoutes(routes: ReadonlyMap<string, BgpRoute>, s: SessionExport, plans: ReadonlyMap<AddressFamily, FamilyPlan>): Map<string, Advertisement> {
  const out = new Map<string, Advertisement>();
  for (const [key, route] of routes) {
    const family = familyOfPrefix(route.prefix);
    const plan = plans.get(family);
    if (plan === undefined || plan.encoding === 'none') continue;
    const attributes = exportAttributes(route, s);
    out.set(key, { prefix: route.prefix, family, attributes, key: `${plan.nextHop} ${JSON.stringify(attributes)}` });
  }
  return out;
}

export interface AdjRibOutChanges {
  readonly announce: readonly Advertisement[];
  readonly withdraw: readonly Advertisement[];
}

/** What was advertised to one peer in the current Established session. */
export class AdjRibOut {
  readonly #entries = new Map<string, Advertisement>();

  get size(): number {
    return this.#entries.size;
  }

  count(family: AddressFamily): number {
    let n = 0;
    for (const a of this.#entries.values()) if (a.family === family) n++;
    return n;
  }

  entries(family?: AddressFamily): Advertisement[] {
    const all = [...this.#entries.values()];
    return family === undefined ? all : all.filter((a) => a.family === family);
  }

  /** Makes `desired` the advertised set and returns what has to be sent for that: new or changed, and gone. */
  update(desired: ReadonlyMap<string, Advertisement>): AdjRibOutChanges {
    const announce: Advertisement[] = [];
    const withdraw: Advertisement[] = [];
    for (const [key, advertisement] of desired) {
      if (this.#entries.get(key)?.key !== advertisement.key) announce.push(advertisement);
    }
    for (const [key, advertisement] of this.#entries) {
      if (!desired.has(key)) withdraw.push(advertisement);
    }
    for (const a of withdraw) this.#entries.delete(formatPrefix(a.prefix));
    for (const a of announce) this.#entries.set(formatPrefix(a.prefix), a);
    return { announce, withdraw };
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** One UPDATE's worth of intent before packing: prefixes sharing attributes, or withdrawals of one family. */
export type UpdateBatch =
  | { readonly kind: 'announce'; readonly plan: FamilyPlan & { encoding: 'classic' | 'mp' }; readonly attributes: PathAttributes; readonly prefixes: readonly Prefix[] }
  | { readonly kind: 'withdraw'; readonly plan: FamilyPlan & { encoding: 'classic' | 'mp' }; readonly prefixes: readonly Prefix[] };

/**
 * Groups changes into batches: withdrawals per family first (a changed route is an implicit
 * withdraw and needs none), then announcements grouped by identical attributes. Prefixes are
 * sorted so the wire order is stable.
 */
export function batchChanges(changes: AdjRibOutChanges, plans: ReadonlyMap<AddressFamily, FamilyPlan>): UpdateBatch[] {
  const batches: UpdateBatch[] = [];
  const byText = (a: Prefix, b: Prefix): number => (formatPrefix(a) < formatPrefix(b) ? -1 : 1);
  const withdrawBy = new Map<AddressFamily, Prefix[]>();
  for (const a of changes.withdraw) withdrawBy.set(a.family, [...(withdrawBy.get(a.family) ?? []), a.prefix]);
  for (const [family, prefixes] of withdrawBy) {
    const plan = plans.get(family);
    if (plan === undefined || plan.encoding === 'none') continue;
    batches.push({ kind: 'withdraw', plan, prefixes: prefixes.sort(byText) });
  }
  const announceBy = new Map<string, { family: AddressFamily; attributes: PathAttributes; prefixes: Prefix[] }>();
  for (const a of changes.announce) {
    const group = announceBy.get(`${a.family} ${a.key}`);
    if (group === undefined) announceBy.set(`${a.family} ${a.key}`, { family: a.family, attributes: a.attributes, prefixes: [a.prefix] });
    else group.prefixes.push(a.prefix);
  }
  for (const group of announceBy.values()) {
    const plan = plans.get(group.family);
    if (plan === undefined || plan.encoding === 'none') continue;
    batches.push({ kind: 'announce', plan, attributes: group.attributes, prefixes: group.prefixes.sort(byText) });
  }
  return batches;
}

/**
 * The UPDATEs for a list of batches, each fitting 4096 bytes (the codec's packUpdates and
 * packWithdrawals). IPv4 over an IPv6 session (plan encoding `mp`) goes in MP_REACH_NLRI /
 * MP_UNREACH_NLRI with AFI 1 and an IPv4 next hop (RFC 4760 3).
 */
export function buildUpdates(batches: readonly UpdateBatch[], ctx: CodecContext): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  for (const batch of batches) {
    const { plan } = batch;
    const options = { multiprotocolIpv4: plan.encoding === 'mp' };
    if (batch.kind === 'withdraw') out.push(...packWithdrawals(plan.family, batch.prefixes, options));
    else out.push(...packUpdates(plan.family, batch.attributes, [plan.nextHop], batch.prefixes, ctx, options));
  }
  return out;
}
