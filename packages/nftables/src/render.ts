/**
 * nft script text from virtual services. Pure: no I/O, the same input gives the same bytes
 * (golden-file tested), the driver only pipes the text into `nft -f -`.
 */
import { compareServices, serviceKey, type VirtualService } from '@shoal/dataplane';
import { ipFamilyOf, type IpFamily, type Protocol } from '@shoal/model';
import { FORMAT_MARKER_SET, JHASH_SEED, NFTABLES_DEFAULTS, OUTPUT_NAT_PRIORITY } from './constants.js';
import { ALGORITHMS, FAMILIES, PROTOCOLS, TIERS, addrType, encodeServerComment, encodeServiceComment, ipKeyword, serversSetName, servicesSetName, slotMapName } from './layout.js';
import { planSlots, type SlotAlgorithm } from './slots.js';

export interface RenderOptions {
  /**
   * The table Shoal owns (`table inet <name>`).
   * @default 'shoal'
   */
  readonly tableName?: string;
}

/** The elements one service owns, grouped by set/map name: what an incremental apply deletes and adds. */
export interface ServiceElements {
  /** set or map name -> element texts (keys, with data and comments for adding). */
  readonly add: ReadonlyMap<string, readonly string[]>;
  /** set or map name -> key texts only (what `delete element` takes). */
  readonly keys: ReadonlyMap<string, readonly string[]>;
}

function push(m: Map<string, string[]>, name: string, value: string): void {
  const list = m.get(name);
  if (list) list.push(value);
  else m.set(name, [value]);
}

export function serviceElements(s: VirtualService): ServiceElements {
  const add = new Map<string, string[]>();
  const keys = new Map<string, string[]>();
  const svcKey = `${s.vip} . ${s.port}`;
  const servicesSet = servicesSetName(s.family, s.protocol);
  push(add, servicesSet, `${svcKey} comment "${encodeServiceComment(s)}"`);
  push(keys, servicesSet, svcKey);
  for (const r of s.servers) {
    const serverFamily = ipFamilyOf(r.ip);
    if (serverFamily === null) continue;
    const set = serversSetName(s.family, s.protocol, serverFamily);
    const key = `${svcKey} . ${r.ip} . ${r.port}`;
    push(add, set, `${key} comment "${encodeServerComment(r)}"`);
    push(keys, set, key);
  }
  const plan = planSlots(s);
  const map = slotMapName(s.family, s.protocol, plan.algorithm, plan.tier);
  plan.slots.forEach((r, i) => {
    const key = `${svcKey} . ${i}`;
    push(add, map, `${key} : ${r.ip} . ${r.port}`);
    push(keys, map, key);
  });
  return { add, keys };
}

/**
 * Why a service runs differently than IPVS would run it; the driver logs these. Empty when
 * nftables does what the service asks.
 */
export function approximations(s: VirtualService): string[] {
  const out: string[] = [];
  const methods = new Set(s.servers.map((r) => r.forwarding).filter((f) => f !== 'nat'));
  if (methods.size > 0) out.push(`forwarding ${[...methods].sort().join(', ')} cannot be expressed as nftables DNAT; served as nat (DNAT + masquerade)`);
  if (s.servers.some((r) => ipFamilyOf(r.ip) !== s.family)) out.push(`backends of the other address family get no traffic (nftables cannot NAT between IPv4 and IPv6)`);
  if (s.persistenceTimeoutS > 0) out.push(`persistence is source-address hashing: no timeout${s.persistenceNetmask === undefined ? '' : ', netmask ignored'}`);
  const lossy: readonly string[] = ['lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'twos'];
  if (lossy.includes(s.scheduler)) out.push(`scheduler ${s.scheduler} runs as weighted round robin (no connection counts in nftables)`);
  return out;
}

function slotKeyTypeof(family: IpFamily, protocol: Protocol, tier: number): string {
  // numgen's typeof even for the jhash maps: nft 1.0.6 segfaults listing a map declared with
  // `typeof ... jhash ...`; the key type (integer) is the same.
  return `typeof ${ipKeyword(family)} daddr . ${protocol} dport . numgen inc mod ${tier} : ${ipKeyword(family)} daddr . ${protocol} dport`;
}

function selector(family: IpFamily, algorithm: SlotAlgorithm, tier: number): string {
  return algorithm === 'rr' ? `numgen inc mod ${tier}` : `jhash ${ipKeyword(family)} saddr mod ${tier} seed 0x${JHASH_SEED.toString(16)}`;
}

/** One rule per slot map. A lookup miss ends the rule without a verdict, so the next map is tried. */
function dnatRules(): string[] {
  const rules: string[] = [];
  for (const family of FAMILIES)
    for (const protocol of PROTOCOLS)
      for (const algorithm of ALGORITHMS)
        for (const tier of TIERS) {
          // `meta l4proto`: "transport protocol mapping is only valid after transport protocol match".
          rules.push(
            `meta l4proto ${protocol} dnat ${ipKeyword(family)} to ${ipKeyword(family)} daddr . ${protocol} dport . ${selector(family, algorithm, tier)} map @${slotMapName(family, protocol, algorithm, tier)}`,
          );
        }
  return rules;
}

function block(name: string, header: string, elements: readonly string[] | undefined): string {
  const lines = [`\t${name} {`, `\t\t${header}`];
  if (elements && elements.length > 0) lines.push(`\t\telements = {\n\t\t\t${elements.join(',\n\t\t\t')}\n\t\t}`);
  lines.push('\t}');
  return lines.join('\n');
}

/**
 * The whole table as one nft transaction: `table` (creates it if missing), `delete table`,
 * then the full definition. nft 1.0.6 has no `destroy`; this idiom replaces the table
 * atomically (no connection sees a half-loaded ruleset) and leaves every other table alone.
 */
export function renderRuleset(desired: readonly VirtualService[], opts: RenderOptions = {}): string {
  const table = opts.tableName ?? NFTABLES_DEFAULTS.tableName;
  const elements = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const s of [...desired].sort(compareServices)) {
    const key = serviceKey(s);
    if (seen.has(key)) continue;
    seen.add(key);
    for (const [name, list] of serviceElements(s).add) for (const e of list) push(elements, name, e);
  }
  const parts: string[] = [];
  parts.push(block(`set ${FORMAT_MARKER_SET}`, 'type inet_service', undefined));
  for (const family of FAMILIES)
    for (const protocol of PROTOCOLS) {
      const a = addrType(family);
      parts.push(block(`set ${servicesSetName(family, protocol)}`, `type ${a} . inet_service`, elements.get(servicesSetName(family, protocol))));
      for (const serverFamily of FAMILIES) {
        const name = serversSetName(family, protocol, serverFamily);
        parts.push(block(`set ${name}`, `type ${a} . inet_service . ${addrType(serverFamily)} . inet_service`, elements.get(name)));
      }
      for (const algorithm of ALGORITHMS)
        for (const tier of TIERS) {
          const name = slotMapName(family, protocol, algorithm, tier);
          parts.push(block(`map ${name}`, slotKeyTypeof(family, protocol, tier), elements.get(name)));
        }
    }
  const rules = dnatRules().map((r) => `\t\t${r}`).join('\n');
  // Masquerade only flows we DNATed (original destination is one of our services), so the
  // backends need no route back through this node and other tables' DNAT is left alone.
  const masquerade = FAMILIES.flatMap((family) =>
    PROTOCOLS.map((protocol) => `\t\tmeta l4proto ${protocol} ct status dnat ct original ${ipKeyword(family)} daddr . ct original proto-dst @${servicesSetName(family, protocol)} masquerade`),
  ).join('\n');
  parts.push(`\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n${rules}\n\t}`);
  // Connections from this node itself to a VIP skip prerouting; they are DNATed here.
  parts.push(`\tchain output {\n\t\ttype nat hook output priority ${OUTPUT_NAT_PRIORITY}; policy accept;\n${rules}\n\t}`);
  parts.push(`\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n${masquerade}\n\t}`);
  return [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `\tcomment "managed by Shoal (@shoal/nftables); edits are overwritten"`,
    parts.join('\n\n'),
    '}',
    '',
  ].join('\n');
}

/** Deletes the table if it exists (create-then-delete: no error when it is already gone). */
export function renderFlush(opts: RenderOptions = {}): string {
  const table = opts.tableName ?? NFTABLES_DEFAULTS.tableName;
  return `table inet ${table}\ndelete table inet ${table}\n`;
}

export interface IncrementalInput extends RenderOptions {
  /** The touched services as the table holds them now (their elements are deleted). */
  readonly before: readonly VirtualService[];
  /** The touched services as they should be (their elements are added); absent = deleted. */
  readonly after: readonly VirtualService[];
}

/**
 * One transaction that deletes every element of the touched services and adds their new ones;
 * nothing else in the table is named, so other services' elements, the rules and the table
 * stay as they are. If the table does not hold exactly `before` (a hand edit), nft fails the
 * whole transaction (ENOENT / EEXIST) and nothing changes; the driver then rebuilds.
 */
export function renderIncremental(input: IncrementalInput): string {
  const table = input.tableName ?? NFTABLES_DEFAULTS.tableName;
  const lines: string[] = [];
  const emit = (verb: 'delete' | 'add', groups: ReadonlyMap<string, readonly string[]>): void => {
    for (const [name, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (list.length > 0) lines.push(`${verb} element inet ${table} ${name} { ${list.join(', ')} }`);
    }
  };
  for (const s of [...input.before].sort(compareServices)) emit('delete', serviceElements(s).keys);
  for (const s of [...input.after].sort(compareServices)) emit('add', serviceElements(s).add);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
