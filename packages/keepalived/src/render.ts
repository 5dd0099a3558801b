/**
 * keepalived.conf from Shoal's desired state: validate the input (zod, errors name the field),
 * turn it into a flat view of pre-formatted values, and lay that out with a Handlebars template
 * (deploy/keepalived/keepalived.conf.hbs by default; an operator may pass their own). Pure: the
 * same input gives byte-identical text, so the driver can skip a reload when nothing changed.
 * This is MetalLB's FRR approach: templates, golden files, then the real daemon checks them.
 *
 * Decisions (each also noted where it lands in the template):
 * - One vrrp_instance per VIP, all nodes `state BACKUP`, unicast to the peers (no multicast
 *   needed on the segment; clients never see VRRP).
 * - VRRPv3 (RFC 5798) always, so sub-second advert_int works and changing advert_int never
 *   switches the protocol version in the middle of a rolling reload (a v2 node and a v3 node
 *   ignore each other's adverts: two masters). keepalived has no authentication for v3 (it
 *   says "VRRP version 3 does not support authentication. Ignoring." and `keepalived -t` then
 *   fails), so `authentication` selects VRRPv2, which requires whole-second adverts and IPv4;
 *   the schema refuses the other combinations with the field named.
 * - preempt (keepalived's default), not `nopreempt`: Shoal decides where a VIP should live by
 *   giving that node the highest priority, and steps a node down by lowering its priority
 *   through track_file. Both only take effect when a higher-priority backup preempts; with
 *   nopreempt the VIP would stay wherever history left it and a drain would do nothing. The
 *   price is a second (hitless, measured) transition when a recovered node takes its VIP back.
 * - track_file with weight 1 (the file holds the priority delta) and `init_file 0` without
 *   `overwrite`: a restarted keepalived keeps the delta shoald last wrote (a drained node stays
 *   drained) instead of resetting it to 0.
 */
import Handlebars from 'handlebars';
import { z } from 'zod';
import { formatIp, parseIp, parseOrThrow } from '@shoal/model';
import { ADVERT_LIMITS, AUTH_PASS_MAX_LENGTH, PRIORITY_LIMITS } from './constants.js';
import { defaultKeepalivedTemplate } from './template.js';

/** A token keepalived reads as one word: no whitespace, quotes or comment characters (`#`, `!`). */
const TOKEN = /^[A-Za-z0-9_.-]+$/;
/** An absolute path keepalived can read unquoted: no whitespace, quotes or comment characters. */
const PATH = /^\/[A-Za-z0-9_./@+=,:-]*$/;
/** Linux interface names: 1..15 bytes (IFNAMSIZ 16 with the NUL), no `/` or whitespace. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
/** PASS passwords: printable ASCII without space, `"`, braces or keepalived's comment characters. */
const AUTH_PASS = /^[\x24-\x7a|~]+$/;

/** keepalived instance names are one word; anything else becomes `_` (`web/prod` -> `web_prod`). */
export function sanitizeInstanceName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return cleaned === '' ? '_' : cleaned;
}

const ipAddress = z.string().refine((s) => parseIp(s) !== null, { message: 'must be an IPv4 or IPv6 address' });
const absolutePath = z.string().regex(PATH, 'must be an absolute path without spaces, quotes, # or !');

const InstanceSchema = z.strictObject({
  /** Becomes the vrrp_instance name after sanitizeInstanceName (unique after sanitizing). */
  name: z.string().min(1),
  /** The one VIP of this instance (an address, no prefix). */
  vip: ipAddress,
  family: z.union([z.literal(4), z.literal(6)]),
  /** The interface the VIP is added to and adverts leave from. */
  interface: z.string().regex(IFNAME, 'must be a Linux interface name (1..15 of A-Z a-z 0-9 _ . -)'),
  vrid: z.number().int().min(1).max(255),
  priority: z.number().int().min(PRIORITY_LIMITS.min).max(PRIORITY_LIMITS.max),
  /** This node's address on `interface`; adverts are sent from it. */
  unicastSrcIp: ipAddress,
  /** The other nodes' addresses; at least one (one node alone needs no VRRP). */
  unicastPeers: z.array(ipAddress).min(1, 'needs at least one peer'),
  /** A file whose integer is added to the priority (shoald writes it to step the node down). */
  trackFile: absolutePath.optional(),
});

export const KeepalivedConfigSchema = z
  .strictObject({
    node: z.strictObject({
      /** Shoal's node name, for the header comment. */
      name: z.string().regex(TOKEN, 'must be one word of A-Z a-z 0-9 _ . -'),
      /** keepalived's router_id (its log lines and SNMP name this node). */
      routerId: z.string().regex(TOKEN, 'must be one word of A-Z a-z 0-9 _ . -').max(63),
    }),
    /** Seconds between adverts; centiseconds allowed (0.1 = a failover in ~0.35 s). */
    advertIntervalS: z.number().positive(),
    /** VRRPv2 PASS authentication; forces VRRPv2 (whole-second adverts, IPv4 only). */
    authentication: z
      .strictObject({
        type: z.literal('PASS'),
        password: z.string().min(1).max(AUTH_PASS_MAX_LENGTH).regex(AUTH_PASS, 'must be printable ASCII without spaces, ", {, }, # or !'),
      })
      .optional(),
    garp: z.strictObject({
      /** Seconds from the transition to the second GARP burst; 0 = no second burst. */
      masterDelayS: z.number().int().min(0).max(3600),
      /** GARPs (NAs for IPv6) per burst. */
      masterRepeat: z.number().int().min(1).max(255),
      /** Seconds between refresh GARPs while master; 0 = no refresh. */
      masterRefreshS: z.number().int().min(0).max(86_400),
    }),
    /** keepalived creates this FIFO and writes a line per state transition. */
    notifyFifo: absolutePath.optional(),
    instances: z.array(InstanceSchema),
  })
  .superRefine((cfg, ctx) => {
    const v2 = cfg.authentication !== undefined;
    const limits = v2 ? ADVERT_LIMITS.v2 : ADVERT_LIMITS.v3;
    const centis = cfg.advertIntervalS * 100;
    if (cfg.advertIntervalS < limits.minS || cfg.advertIntervalS > limits.maxS) {
      ctx.addIssue({ code: 'custom', path: ['advertIntervalS'], message: `must be within ${limits.minS}..${limits.maxS} s for VRRPv${v2 ? 2 : 3}` });
    } else if (v2 && !Number.isInteger(cfg.advertIntervalS)) {
      ctx.addIssue({ code: 'custom', path: ['advertIntervalS'], message: 'must be whole seconds with authentication (VRRPv2; keepalived has no authentication for VRRPv3)' });
    } else if (Math.abs(centis - Math.round(centis)) > 1e-6) {
      ctx.addIssue({ code: 'custom', path: ['advertIntervalS'], message: 'must be a multiple of 0.01 s (VRRPv3 carries centiseconds)' });
    }
    const names = new Map<string, number>();
    const vips = new Map<string, number>();
    const vrids = new Map<string, number>();
    for (const [i, inst] of cfg.instances.entries()) {
      const at = (...p: (string | number)[]): (string | number)[] => ['instances', i, ...p];
      const name = sanitizeInstanceName(inst.name);
      const sameName = names.get(name);
      if (sameName !== undefined) ctx.addIssue({ code: 'custom', path: at('name'), message: `becomes vrrp_instance ${name}, as instances.${sameName}.name does` });
      else names.set(name, i);
      const vip = parseIp(inst.vip);
      if (vip === null) continue; // already reported by the field schema
      if (vip.family !== inst.family) ctx.addIssue({ code: 'custom', path: at('vip'), message: `is not an IPv${inst.family} address (family ${inst.family})` });
      if (v2 && inst.family === 6) ctx.addIssue({ code: 'custom', path: at('family'), message: 'IPv6 needs VRRPv3, which keepalived runs without authentication: drop authentication' });
      const vipKey = formatIp(vip);
      const sameVip = vips.get(vipKey);
      if (sameVip !== undefined) ctx.addIssue({ code: 'custom', path: at('vip'), message: `${vipKey} is also instances.${sameVip}.vip` });
      else vips.set(vipKey, i);
      // RFC 5798 5.2.3: a VRID names a virtual router per interface and per address family.
      const vridKey = `${inst.interface}/${inst.family}/${inst.vrid}`;
      const sameVrid = vrids.get(vridKey);
      if (sameVrid !== undefined) ctx.addIssue({ code: 'custom', path: at('vrid'), message: `${inst.vrid} is also instances.${sameVrid}.vrid on ${inst.interface} (IPv${inst.family})` });
      else vrids.set(vridKey, i);
      const src = parseIp(inst.unicastSrcIp);
      if (src !== null && src.family !== inst.family) ctx.addIssue({ code: 'custom', path: at('unicastSrcIp'), message: `is not an IPv${inst.family} address (family ${inst.family})` });
      const peers = new Set<string>();
      for (const [j, text] of inst.unicastPeers.entries()) {
        const peer = parseIp(text);
        if (peer === null) continue;
        const key = formatIp(peer);
        if (peer.family !== inst.family) ctx.addIssue({ code: 'custom', path: at('unicastPeers', j), message: `is not an IPv${inst.family} address (family ${inst.family})` });
        else if (src !== null && key === formatIp(src)) ctx.addIssue({ code: 'custom', path: at('unicastPeers', j), message: 'is this node (unicastSrcIp)' });
        else if (peers.has(key)) ctx.addIssue({ code: 'custom', path: at('unicastPeers', j), message: `${key} is listed twice` });
        peers.add(key);
      }
    }
  });

export type KeepalivedConfigInput = z.input<typeof KeepalivedConfigSchema>;
export type KeepalivedInstanceInput = z.input<typeof InstanceSchema>;

/** One vrrp_instance, every value formatted for keepalived. */
export interface KeepalivedTemplateInstance {
  readonly name: string;
  readonly vip: string;
  readonly prefixLength: 32 | 128;
  readonly family: 4 | 6;
  readonly interface: string;
  readonly vrid: number;
  readonly priority: number;
  /** Same as the top-level one, repeated so a template needs no `../`. */
  readonly advertInt: string;
  readonly unicastSrcIp: string;
  readonly unicastPeers: readonly string[];
  /** The track_file block name, or null. */
  readonly trackFile: string | null;
  readonly authentication: { readonly type: 'PASS'; readonly password: string } | null;
}

/**
 * What a template sees. Absent values are null (not missing), so templates run in Handlebars'
 * strict mode: a misspelt field in an operator's template fails the render instead of
 * silently leaving a keyword without its value.
 */
export interface KeepalivedTemplateView {
  readonly node: { readonly name: string; readonly routerId: string };
  readonly vrrpVersion: 2 | 3;
  readonly advertInt: string;
  readonly authentication: { readonly type: 'PASS'; readonly password: string } | null;
  readonly garp: { readonly masterDelayS: number; readonly masterRepeat: number; readonly masterRefreshS: number };
  readonly notifyFifo: string | null;
  readonly trackFiles: readonly { readonly name: string; readonly path: string }[];
  /** Sorted by name, so the text does not depend on the order the store listed instances in. */
  readonly instances: readonly KeepalivedTemplateInstance[];
}

/** `0.1`, `1`, `0.25`: centiseconds without float noise (0.1 * 3 would print 0.30000000000000004). */
function formatSeconds(s: number): string {
  const centis = Math.round(s * 100);
  const whole = Math.floor(centis / 100);
  const frac = centis % 100;
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(2, '0').replace(/0$/, '')}`;
}

function canonicalIp(text: string): string {
  const ip = parseIp(text);
  // The schema has already refused anything parseIp cannot read.
  if (ip === null) throw new Error(`unreachable: ${text} passed validation`);
  return formatIp(ip);
}

/** Validates `input` (ValidationError naming each bad field) and builds the template's view. */
export function keepalivedTemplateView(input: unknown): KeepalivedTemplateView {
  const cfg = parseOrThrow(KeepalivedConfigSchema, input);
  const authentication = cfg.authentication === undefined ? null : { type: cfg.authentication.type, password: cfg.authentication.password };
  const advertInt = formatSeconds(cfg.advertIntervalS);
  // One track_file block per distinct file, named by the order files first appear in (sorted instances).
  const sorted = [...cfg.instances].map((i) => ({ ...i, name: sanitizeInstanceName(i.name) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const trackFiles: { name: string; path: string }[] = [];
  const trackName = (path: string): string => {
    let tf = trackFiles.find((t) => t.path === path);
    if (tf === undefined) {
      tf = { name: `shoal_track_${trackFiles.length + 1}`, path };
      trackFiles.push(tf);
    }
    return tf.name;
  };
  const instances = sorted.map(
    (i): KeepalivedTemplateInstance => ({
      name: i.name,
      vip: canonicalIp(i.vip),
      prefixLength: i.family === 4 ? 32 : 128,
      family: i.family,
      interface: i.interface,
      vrid: i.vrid,
      priority: i.priority,
      advertInt,
      unicastSrcIp: canonicalIp(i.unicastSrcIp),
      unicastPeers: i.unicastPeers.map(canonicalIp),
      trackFile: i.trackFile === undefined ? null : trackName(i.trackFile),
      authentication,
    }),
  );
  return {
    node: { name: cfg.node.name, routerId: cfg.node.routerId },
    vrrpVersion: authentication === null ? 3 : 2,
    advertInt,
    authentication,
    garp: { ...cfg.garp },
    notifyFifo: cfg.notifyFifo ?? null,
    trackFiles,
    instances,
  };
}

const compiled = new Map<string, Handlebars.TemplateDelegate<KeepalivedTemplateView>>();

/**
 * Compiles a template once (cached by its text). noEscape: the output is a config file, not
 * HTML, and every value was validated to be one safe word. strict: missing fields throw.
 */
export function compileKeepalivedTemplate(source: string): Handlebars.TemplateDelegate<KeepalivedTemplateView> {
  let t = compiled.get(source);
  if (t === undefined) {
    t = Handlebars.compile<KeepalivedTemplateView>(source, { noEscape: true, strict: true, knownHelpersOnly: true });
    if (compiled.size >= 16) compiled.clear(); // a handful of templates per process; never grow unbounded
    compiled.set(source, t);
  }
  return t;
}

/**
 * Renders keepalived.conf for one node. `template` is Handlebars source (the operator's file);
 * absent = deploy/keepalived/keepalived.conf.hbs. Throws ValidationError (E_VALIDATION) naming
 * each bad input field, or a Handlebars error when the template uses a field the view lacks.
 */
export function renderKeepalivedConfig(input: KeepalivedConfigInput, template?: string): string {
  const view = keepalivedTemplateView(input);
  return compileKeepalivedTemplate(template ?? defaultKeepalivedTemplate())(view);
}
