/**
 * `nft -j list set inet <name> <set>` outputs (or one `list sets table`) -> VirtualService[].
 * Pure. Reads only the services and
 * servers sets (their comments carry everything a VirtualService has); the slot maps are
 * derived from them by planSlots and are not read back, which keeps a dump of 10,000 services
 * to ~50,000 elements instead of ~170,000.
 */
import { compareServers, compareServices, serverKey, serviceKey, type RealServer, type VirtualService } from '@shoal/dataplane';
import { canonicalIp, ShoalError, type IpFamily, type Protocol } from '@shoal/model';
import { FORMAT_MARKER_SET } from './constants.js';
import { decodeServerComment, decodeServiceComment } from './layout.js';

export interface ParsedTable {
  /** The marker set is present: the table is ours and in this layout. */
  readonly owned: boolean;
  readonly services: VirtualService[];
  /** Elements that could not be read back (hand-added, wrong comment); the driver logs them. */
  readonly ignored: string[];
}

interface JsonSet {
  readonly name: string;
  readonly elem: readonly unknown[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An element is either a bare value or `{elem: {val, comment}}`; a concatenation is `{concat: [...]}`. */
function elementParts(e: unknown): { parts: readonly unknown[]; comment: string } | null {
  let val: unknown = e;
  let comment = '';
  if (isRecord(e) && isRecord(e['elem'])) {
    val = e['elem']['val'];
    const c = e['elem']['comment'];
    if (typeof c === 'string') comment = c;
  }
  if (!isRecord(val) || !Array.isArray(val['concat'])) return null;
  return { parts: val['concat'] as readonly unknown[], comment };
}

function ip(v: unknown): string | null {
  return typeof v === 'string' ? canonicalIp(v) : null;
}

function port(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
}

const SERVICES = /^v([46])_(tcp|udp)_services$/;
const SERVERS = /^v([46])_(tcp|udp)_servers_v[46]$/;

function jsonItems(jsonText: string): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(jsonText);
  } catch (e) {
    throw new ShoalError('E_INTERNAL', `nftables: nft -j output is not JSON: ${(e as Error).message}`, { cause: e });
  }
  return isRecord(doc) && Array.isArray(doc['nftables']) ? (doc['nftables'] as unknown[]) : [];
}

/** One or several `nft -j` outputs; sets are gathered from all of them. */
export function parseTableSets(jsonTexts: string | readonly string[]): ParsedTable {
  const items = (typeof jsonTexts === 'string' ? [jsonTexts] : jsonTexts).flatMap(jsonItems);
  const sets: JsonSet[] = [];
  for (const item of items) {
    if (!isRecord(item) || !isRecord(item['set'])) continue;
    const s = item['set'];
    if (typeof s['name'] !== 'string') continue;
    sets.push({ name: s['name'], elem: Array.isArray(s['elem']) ? (s['elem'] as unknown[]) : [] });
  }
  const owned = sets.some((s) => s.name === FORMAT_MARKER_SET);
  const ignored: string[] = [];
  const byKey = new Map<string, { attrs: Omit<VirtualService, 'servers'>; servers: Map<string, RealServer> }>();
  for (const set of sets) {
    const m = SERVICES.exec(set.name);
    if (!m) continue;
    const family = Number(m[1]) as IpFamily;
    const protocol = m[2] as Protocol;
    for (const e of set.elem) {
      const el = elementParts(e);
      const vip = ip(el?.parts[0]);
      const p = port(el?.parts[1]);
      const attrs = el ? decodeServiceComment(el.comment) : null;
      if (!el || vip === null || p === null || !attrs) {
        ignored.push(`${set.name}: ${JSON.stringify(e)}`);
        continue;
      }
      const service = { protocol, vip, port: p, family, ...attrs };
      byKey.set(serviceKey(service), { attrs: service, servers: new Map() });
    }
  }
  for (const set of sets) {
    const m = SERVERS.exec(set.name);
    if (!m) continue;
    const protocol = m[2] as Protocol;
    for (const e of set.elem) {
      const el = elementParts(e);
      const vip = ip(el?.parts[0]);
      const vport = port(el?.parts[1]);
      const rip = ip(el?.parts[2]);
      const rport = port(el?.parts[3]);
      const attrs = el ? decodeServerComment(el.comment) : null;
      const entry = vip === null || vport === null ? undefined : byKey.get(serviceKey({ protocol, vip, port: vport }));
      if (!entry || rip === null || rport === null || !attrs) {
        ignored.push(`${set.name}: ${JSON.stringify(e)}`);
        continue;
      }
      const server: RealServer = { ip: rip, port: rport, ...attrs };
      entry.servers.set(serverKey(server), server);
    }
  }
  const services = [...byKey.values()].map((v) => ({ ...v.attrs, servers: [...v.servers.values()].sort(compareServers) })).sort(compareServices);
  return { owned, services, ignored };
}

/** Table names from `nft -j list tables inet`. */
export function parseTableNames(jsonText: string): string[] {
  return jsonItems(jsonText).flatMap((item) => (isRecord(item) && isRecord(item['table']) && typeof item['table']['name'] === 'string' ? [item['table']['name']] : []));
}
