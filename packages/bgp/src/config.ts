/**
 * Speaker configuration: one zod schema, every default in one place with the reason for it
 * (memberlist's config.go), and a bad field failing at startup with its path
 * (`bgp config: peers[1].asn: ...`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { BgpError } from './errors.js';
import type { AddressFamily } from './messages.js';
import { AS_TRANS } from './messages.js';
import { canonicalAddress, encodeAddress } from './prefix.js';

export interface BgpPeerInit {
  /** The peer's address: IPv4 or IPv6, the session's transport family. */
  address: string;
  /** The peer's AS; equal to ours makes the session iBGP. Its OPEN must carry it (else OPEN/Bad Peer AS). */
  asn: number;
  /** @default 179 (RFC 4271 8.2.1). */
  port?: number;
  /** Source address to bind; also the default NEXT_HOP. @default chosen by the kernel's routing. */
  localAddress?: string;
  /** Hold Time proposed in OPEN: 0 or 3..65535. @default 90 */
  holdTimeS?: number;
  /** First connect retry interval. @default 5 */
  connectRetryS?: number;
  /** Ceiling of the connect retry backoff. @default 60 */
  connectRetryMaxS?: number;
  /** Only accept connections, never initiate. @default false */
  passive?: boolean;
  /** IP TTL / hop limit of the session's packets (multihop eBGP, 255 for GTSM). @default the system default */
  ttl?: number;
  /** Address families to negotiate. @default the family of `address` */
  families?: AddressFamily[];
  /** NEXT_HOP for IPv4 routes; required to announce IPv4 over an IPv6 session. @default the session's local IPv4 address */
  nextHopIpv4?: string;
  /** Global IPv6 next hop; required to announce IPv6 over an IPv4 session. @default the session's local IPv6 address */
  nextHopIpv6?: string;
  /** Free text for logs and status. */
  description?: string;
}

export interface BgpGracefulRestartInit {
  /** Advertise the Graceful Restart capability (RFC 4724). @default false */
  enabled?: boolean;
  /** Restart Time advertised: how long helpers keep our routes after we vanish. @default 30 */
  restartTimeS?: number;
  /** When restarting: End-of-RIB goes out at the latest this long after start. @default 30 */
  initialRoutesTimeoutS?: number;
}

export interface BgpSpeakerInit {
  /** Our AS (4-octet, RFC 6793). */
  asn: number;
  /** BGP Identifier, dotted quad, not 0.0.0.0 (RFC 6286). */
  routerId: string;
  /** Where to accept connections; false: never listen (every peer must then be active). @default { port: 179, every address } */
  listen?: { port?: number; addresses?: string[] } | false;
  peers: BgpPeerInit[];
  gracefulRestart?: BgpGracefulRestartInit;
  /**
   * This process is a graceful restart of a previous one: OPEN carries the R bit and the F bit
   * per family (the dataplane kept forwarding), and End-of-RIB waits for
   * markInitialRoutesLoaded() or gracefulRestart.initialRoutesTimeoutS. @default false
   */
  restarting?: boolean;
}

export interface BgpPeerConfig {
  readonly address: string;
  readonly asn: number;
  readonly port: number;
  readonly localAddress?: string;
  readonly holdTimeS: number;
  readonly connectRetryS: number;
  readonly connectRetryMaxS: number;
  readonly passive: boolean;
  readonly ttl?: number;
  readonly families: readonly AddressFamily[];
  readonly nextHopIpv4?: string;
  readonly nextHopIpv6?: string;
  readonly description?: string;
}

export interface BgpSpeakerConfig {
  readonly asn: number;
  readonly routerId: string;
  readonly listen: { readonly port: number; readonly addresses: readonly string[] } | false;
  readonly peers: readonly BgpPeerConfig[];
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTimeS: number; readonly initialRoutesTimeoutS: number };
  readonly restarting: boolean;
}

/** Per-peer defaults, each with its reason. */
export const BGP_PEER_DEFAULTS = Object.freeze({
  port: 179, // RFC 4271 8.2.1: the BGP port
  holdTimeS: 90, // RFC 4271 10 suggests 90 s; labs and fast-failover setups set 3 (keepalive 1 s), or use BFD
  // RFC 4271 10 suggests 120 s, far too slow for a load balancer's routes: the recipe's routers
  // retry every second, and FRR as a GR helper never connects to a restarting speaker at all
  // (recipe bgp-peers-in-netns.md), so we connect actively, at once on start, then 5 s.
  connectRetryS: 5,
  connectRetryMaxS: 60, // backoff ceiling: an absent router is asked once a minute, not hammered
  passive: false, // the recipe: "connect actively with a short retry, and accept incoming connections"
});

/** Speaker-wide defaults, each with its reason. */
export const BGP_SPEAKER_DEFAULTS = Object.freeze({
  listenPort: 179, // routers connect to us as well (BIRD every second): accepting halves recovery time
  gracefulRestart: Object.freeze({
    // A GR helper keeps a dead speaker's VIP in its ECMP set for the whole restart time (30.7 s
    // measured with BIRD): for an HA load balancer that is traffic into a dead node, so off.
    enabled: false,
    // Short, for the same reason; it still covers a process restart (gobgpd came back in 7-12 s).
    restartTimeS: 30,
    // End-of-RIB must come even if markInitialRoutesLoaded() never does; well inside the
    // helpers' patience (FRR stalepath-time 360 s) and not longer than the outage they bridged.
    initialRoutesTimeoutS: 30,
  }),
  restarting: false,
});

const U32_MAX = 0xffff_ffff;

const ipv4 = z.string().refine((s) => isIPv4(s), 'must be an IPv4 address');
const ipAddress = z.string().refine((s) => isIPv4(s) || (isIPv6(s) && !s.includes('%')), 'must be an IPv4 or IPv6 address (no zone id)');
/** Not link-local (fe80::/10), not multicast, and not in ::/80 (unspecified, loopback, IPv4-mapped or -compatible). */
export function isGlobalIpv6(text: string): boolean {
  if (!isIPv6(text) || text.includes('%')) return false;
  const b = encodeAddress(text);
  if (b === undefined) return false;
  const first = b[0] ?? 0;
  const second = b[1] ?? 0;
  if (first === 0xfe && (second & 0xc0) === 0x80) return false;
  if (first === 0xff) return false;
  return !b.subarray(0, 10).every((x) => x === 0);
}

const globalIpv6 = z
  .string()
  .refine((s) => isIPv6(s) && !s.includes('%'), 'must be an IPv6 address (no zone id)')
  .refine(isGlobalIpv6, 'must be a global IPv6 address (not link-local, loopback, unspecified or IPv4-mapped: routers reject those as next hops)');
const asn = z
  .int('must be an integer')
  .min(1, 'must be 1..4294967295 (AS 0 is reserved, RFC 7607)')
  .max(U32_MAX, 'must be 1..4294967295')
  .refine((n) => n !== AS_TRANS, `must not be ${AS_TRANS} (AS_TRANS, RFC 6793)`);
const family = z.enum(['ipv4-unicast', 'ipv6-unicast']);

const PeerSchema = z
  .strictObject({
    address: ipAddress,
    asn,
    port: z.int('must be an integer').min(1, 'must be 1..65535').max(65535, 'must be 1..65535').optional(),
    localAddress: ipAddress.optional(),
    holdTimeS: z
      .int('must be an integer number of seconds')
      .min(0)
      .max(65535, 'must be <= 65535')
      .refine((n) => n === 0 || n >= 3, 'must be 0 or at least 3 (RFC 4271 4.2)')
      .optional(),
    connectRetryS: z.number('must be a number of seconds').min(0.1, 'must be >= 0.1').max(65535, 'must be <= 65535').optional(),
    connectRetryMaxS: z.number('must be a number of seconds').min(0.1, 'must be >= 0.1').max(65535, 'must be <= 65535').optional(),
    passive: z.boolean().optional(),
    ttl: z.int('must be an integer').min(1, 'must be 1..255').max(255, 'must be 1..255').optional(),
    families: z
      .array(family)
      .min(1, 'must name at least one address family')
      .refine((f) => new Set(f).size === f.length, 'must not repeat a family')
      .optional(),
    nextHopIpv4: ipv4.optional(),
    nextHopIpv6: globalIpv6.optional(),
    description: z.string().max(255, 'must be at most 255 characters').optional(),
  })
  .superRefine((p, ctx) => {
    if (p.localAddress !== undefined && isIPv4(p.localAddress) !== isIPv4(p.address)) {
      ctx.addIssue({ code: 'custom', path: ['localAddress'], message: 'must be of the same family as address' });
    }
    const retry = p.connectRetryS ?? BGP_PEER_DEFAULTS.connectRetryS;
    const max = p.connectRetryMaxS ?? Math.max(BGP_PEER_DEFAULTS.connectRetryMaxS, retry);
    if (max < retry) ctx.addIssue({ code: 'custom', path: ['connectRetryMaxS'], message: 'must be >= connectRetryS' });
  });

const SpeakerSchema = z.strictObject({
  asn,
  routerId: ipv4.refine((s) => s !== '0.0.0.0', 'must not be 0.0.0.0 (RFC 6286)'),
  listen: z
    .union([
      z.literal(false),
      z.strictObject({
        port: z.int('must be an integer').min(0, 'must be 0..65535').max(65535, 'must be 0..65535').optional(),
        addresses: z.array(ipAddress).optional(),
      }),
    ])
    .optional(),
  peers: z.array(PeerSchema).superRefine((peers, ctx) => {
    const seen = new Map<string, number>();
    peers.forEach((p, i) => {
      const key = canonicalAddress(p.address) ?? p.address;
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'address'], message: `duplicates peers[${first}].address` });
      else seen.set(key, i);
    });
  }),
  gracefulRestart: z
    .strictObject({
      enabled: z.boolean().optional(),
      restartTimeS: z.int('must be an integer').min(1, 'must be 1..4095').max(4095, 'must be 1..4095 (12 bits, RFC 4724 3)').optional(),
      initialRoutesTimeoutS: z.number('must be a number of seconds').min(0, 'must be >= 0').max(3600, 'must be <= 3600').optional(),
    })
    .optional(),
  restarting: z.boolean().optional(),
});

function formatPath(path: readonly PropertyKey[], prefix: readonly PropertyKey[] = []): string {
  let out = '';
  for (const key of [...prefix, ...path]) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function fail(error: z.ZodError, prefix: readonly PropertyKey[] = []): never {
  const issue = error.issues[0];
  const path = formatPath(issue?.path ?? [], prefix);
  throw new BgpError('E_BGP_CONFIG', `bgp config: ${path}: ${issue?.message ?? 'invalid'}`);
}

/** Drops explicit undefineds (inits built from YAML or flags carry them), recursively through plain objects and arrays. */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]));
  }
  return value;
}

function resolvePeer(p: z.infer<typeof PeerSchema>): BgpPeerConfig {
  const address = canonicalAddress(p.address) ?? p.address;
  const connectRetryS = p.connectRetryS ?? BGP_PEER_DEFAULTS.connectRetryS;
  const peer: BgpPeerConfig = {
    address,
    asn: p.asn,
    port: p.port ?? BGP_PEER_DEFAULTS.port,
    holdTimeS: p.holdTimeS ?? BGP_PEER_DEFAULTS.holdTimeS,
    connectRetryS,
    // A short connectRetryS with the default ceiling keeps the ceiling; a long one lifts it.
    connectRetryMaxS: p.connectRetryMaxS ?? Math.max(BGP_PEER_DEFAULTS.connectRetryMaxS, connectRetryS),
    passive: p.passive ?? BGP_PEER_DEFAULTS.passive,
    // Another family over this session needs an explicit next hop (recipe: an IPv4 next hop
    // for IPv6 breaks the VIP on FRR), so by default a session carries its own family only.
    families: Object.freeze([...(p.families ?? [isIPv4(address) ? 'ipv4-unicast' : 'ipv6-unicast'])]),
    ...(p.localAddress === undefined ? {} : { localAddress: canonicalAddress(p.localAddress) ?? p.localAddress }),
    ...(p.ttl === undefined ? {} : { ttl: p.ttl }),
    ...(p.nextHopIpv4 === undefined ? {} : { nextHopIpv4: p.nextHopIpv4 }),
    ...(p.nextHopIpv6 === undefined ? {} : { nextHopIpv6: canonicalAddress(p.nextHopIpv6) ?? p.nextHopIpv6 }),
    ...(p.description === undefined ? {} : { description: p.description }),
  };
  return Object.freeze(peer);
}

/** Validates one peer (for setPeers); `index` only names the field in the error. Throws BgpError E_BGP_CONFIG. */
export function bgpPeerConfig(init: BgpPeerInit, index = 0): BgpPeerConfig {
  const parsed = PeerSchema.safeParse(withoutUndefined(init));
  if (!parsed.success) fail(parsed.error, ['peers', index]);
  return resolvePeer(parsed.data);
}

/** Validates a list of peers, duplicates included. Throws BgpError E_BGP_CONFIG naming `peers[i].field`. */
export function bgpPeerConfigs(peers: readonly BgpPeerInit[]): readonly BgpPeerConfig[] {
  const parsed = SpeakerSchema.shape.peers.safeParse(withoutUndefined(peers));
  if (!parsed.success) fail(parsed.error, ['peers']);
  return Object.freeze(parsed.data.map(resolvePeer));
}

/** The defaults with `init` applied, validated and frozen. Throws BgpError E_BGP_CONFIG naming the field. */
export function bgpSpeakerConfig(init: BgpSpeakerInit): BgpSpeakerConfig {
  const parsed = SpeakerSchema.safeParse(withoutUndefined(init));
  if (!parsed.success) fail(parsed.error);
  const d = parsed.data;
  const gr = BGP_SPEAKER_DEFAULTS.gracefulRestart;
  return Object.freeze({
    asn: d.asn,
    routerId: d.routerId,
    listen:
      d.listen === false
        ? false
        : Object.freeze({
            port: d.listen?.port ?? BGP_SPEAKER_DEFAULTS.listenPort,
            addresses: Object.freeze((d.listen?.addresses ?? []).map((a) => canonicalAddress(a) ?? a)),
          }),
    peers: Object.freeze(d.peers.map(resolvePeer)),
    gracefulRestart: Object.freeze({
      enabled: d.gracefulRestart?.enabled ?? gr.enabled,
      restartTimeS: d.gracefulRestart?.restartTimeS ?? gr.restartTimeS,
      initialRoutesTimeoutS: d.gracefulRestart?.initialRoutesTimeoutS ?? gr.initialRoutesTimeoutS,
    }),
    restarting: d.restarting ?? BGP_SPEAKER_DEFAULTS.restarting,
  });
}
