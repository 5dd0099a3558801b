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

function parseV4(text: string): bigint | null {
  if (!isIPv4(text)) return null;
  let v = 0n;
  for (const part of text.split('.')) v = (v << 8n) | BigInt(Number(part));
  return v;
}

function parseV6(text: string): bigint | null {
  // Zone ids (fe80::1%eth0) are not addresses a VIP can be.
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  let tailV4: bigint | null = null;
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    tailV4 = parseV4(maybeV4);
    if (tailV4 === null) return null;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left = '', right] = head.split('::');
  const leftParts = left === '' ? [] : left.split(':');
  const rightParts = right === undefined || right === '' ? [] : right.split(':');
  const fill = 8 - leftParts.length - rightParts.length;
  const groups = [...leftParts, ...Array<string>(right === undefined ? 0 : fill).fill('0'), ...rightParts];
  if (groups.length !== 8) return null;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== null) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

export function parseIp(text: string): IpAddress | null {
  const v4 = parseV4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseV6(text);
  if (v6 !== null) return { family: 6, value: v6 };
  return null;
}

export function formatIp(addr: IpAddress): string {
  if (addr.family === 4) {
    const v = addr.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 4.2: compress the longest run (leftmost on ties) of two or more zero groups.
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
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
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
