/**
 * IPv4 / IPv6 addresses as (family, bigint) pairs, CIDRs and ranges. Pure functions; the
 * canonical text form (dotted quad, RFC 5952 for IPv6) is what the store keeps, so two
 * spellings of one address can never hold the same VIP twice.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

export interface IpRange {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
}

const V4_BITS = 32;
const V6_BITS = 128;

export function bitsOf(family: IpFamily): number {
  return family === 4 ? V4_BITS : V6_BITS;
}

/** The four octets of a dotted quad, or null. Leading zeros are refused (octal ambiguity). */
function parseV4Octets(text: string): number[] | null {
  if (!isIPv4(text)) return null;
  return text.split('.').map(Number);
}

/** The eight 16-bit groups of an IPv6 address in any RFC 4291 2.2 spelling, or null. */
function parseV6Groups(text: string): number[] | null {
  // Zone ids (fe80::1%eth0) name an interface: not an address a VIP or a route can be.
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  let tailV4: number[] | null = null;
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    // Embedded IPv4 (::ffff:192.0.2.1): its four octets are the last two groups.
    tailV4 = parseV4Octets(maybeV4);
    if (tailV4 === null) return null;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left = '', right] = head.split('::');
  const leftParts = left === '' ? [] : left.split(':');
  const rightParts = right === undefined || right === '' ? [] : right.split(':');
  const fill = right === undefined ? 0 : Math.max(0, 8 - leftParts.length - rightParts.length);
  const groups: number[] = [];
  for (const g of leftParts) groups.push(parseInt(g, 16));
  for (let i = 0; i < fill; i++) groups.push(0);
  for (const g of rightParts) groups.push(parseInt(g, 16));
  if (groups.length !== 8) return null;
  if (tailV4 !== null) {
    const [a = 0, b = 0, c = 0, d = 0] = tailV4;
    groups[6] = (a << 8) | b;
    groups[7] = (c << 8) | d;
  }
  return groups;
}

/** RFC 5952 4 text of eight 16-bit groups. */
function formatV6Groups(groups: readonly number[]): string {
  // RFC 5952 4.2.1-4.2.3: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // RFC 5952 4.1 and 4.3: no leading zeros, lowercase hex.
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function unitsToBigint(units: readonly number[], bits: bigint): bigint {
  let v = 0n;
  for (const u of units) v = (v << bits) | BigInt(u);
  return v;
}

export function parseIp(text: string): IpAddress | null {
  const v4 = parseV4Octets(text);
  if (v4 !== null) return { family: 4, value: unitsToBigint(v4, 8n) };
  const v6 = parseV6Groups(text);
  if (v6 !== null) return { family: 6, value: unitsToBigint(v6, 16n) };
  return null;
}

export function formatIp(addr: IpAddress): string {
  if (addr.family === 4) {
    const v = addr.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr.value >> BigInt(i * 16)) & 0xffffn));
  return formatV6Groups(groups);
}

/**
 * The 4- or 16-byte network-order form of an address (what the kernel and the wire carry), or
 * null when the text is not one (zone ids refused, as in parseIp). Goes from text to bytes
 * without a bigint: codecs call it per prefix.
 */
export function ipToBytes(text: string): Uint8Array<ArrayBuffer> | null {
  const v4 = parseV4Octets(text);
  if (v4 !== null) return Uint8Array.from(v4);
  const v6 = parseV6Groups(text);
  if (v6 === null) return null;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = v6[i] ?? 0;
    bytes[i * 2] = g >>> 8;
    bytes[i * 2 + 1] = g & 0xff;
  }
  return bytes;
}

/**
 * Canonical text (the same as formatIp) of a 4- or 16-byte network-order address, or null for
 * any other length. Any bytes are an address, so it is safe on bytes straight off the wire.
 */
export function ipFromBytes(bytes: Uint8Array): string | null {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length !== 16) return null;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return formatV6Groups(groups);
}

/** Canonical text of an address, or null when it is not one. */
export function canonicalIp(text: string): string | null {
  const a = parseIp(text.trim());
  return a === null ? null : formatIp(a);
}

export function ipFamilyOf(text: string): IpFamily | null {
  return parseIp(text)?.family ?? null;
}

/** Parses `a.b.c.d/n`, `x::/n`; host bits set are accepted and masked off (as the kernel does). */
export function parseCidr(text: string): IpRange | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const addr = parseIp(text.slice(0, slash).trim());
  const prefixText = text.slice(slash + 1).trim();
  if (addr === null || !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  const bits = bitsOf(addr.family);
  if (prefix > bits) return null;
  const hostBits = BigInt(bits - prefix);
  const first = (addr.value >> hostBits) << hostBits;
  const last = first + (1n << hostBits) - 1n;
  return { family: addr.family, first, last };
}

/**
 * Parses an address range the way operators write them: a CIDR (`10.0.0.0/24`), slb's
 * `--ipamRange` form (`192.168.0.85-192.168.0.90`), or a single address.
 */
export function parseRange(text: string): IpRange | null {
  const t = text.trim();
  if (t.includes('/')) return parseCidr(t);
  const dash = t.indexOf('-');
  if (dash >= 0) {
    const a = parseIp(t.slice(0, dash).trim());
    const b = parseIp(t.slice(dash + 1).trim());
    if (a === null || b === null || a.family !== b.family || a.value > b.value) return null;
    return { family: a.family, first: a.value, last: b.value };
  }
  const single = parseIp(t);
  return single === null ? null : { family: single.family, first: single.value, last: single.value };
}

export function rangeContains(range: IpRange, addr: IpAddress): boolean {
  return range.family === addr.family && addr.value >= range.first && addr.value <= range.last;
}

export function rangeSize(range: IpRange): bigint {
  return range.last - range.first + 1n;
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/**
 * MetalLB's avoid-buggy-ips: IPv4 addresses ending in .0 or .255 trip up old client stacks
 * that treat them as network or broadcast addresses, whatever the real prefix is.
 */
export function isBuggyIp(addr: IpAddress): boolean {
  if (addr.family !== 4) return false;
  const last = addr.value & 0xffn;
  return last === 0n || last === 255n;
}
