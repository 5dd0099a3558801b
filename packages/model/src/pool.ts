/**
 * Address pools: named sets of ranges the VIPs of instances come from when a client names no
 * VIP (slb's --ipamRange, MetalLB's IPAddressPool). Allocation is a pure function of the pool
 * and the addresses in use, so every node allocating from the same state picks the same one.
 */
import { z } from 'zod';
import type { PoolConflict } from './conflicts.js';
import { DnsLabelSchema } from './instance.js';
import { formatIp, isBuggyIp, parseIp, parseRange, rangesOverlap, rangeContains, type IpFamily, type IpRange } from './ip.js';

export const RangeTextSchema = z.string().refine((s) => parseRange(s) !== null, {
  message: 'must be a CIDR (10.0.0.0/24), a range (192.168.0.85-192.168.0.90) or one address',
});

export const PoolSpecSchema = z
  .strictObject({
    name: DnsLabelSchema,
    description: z.string().max(256).optional(),
    /** CIDRs, `first-last` ranges or single addresses; IPv4 and IPv6 may be mixed. */
    ranges: z.array(RangeTextSchema).min(1, 'at least one range').max(1024),
    /** Skip IPv4 addresses ending in .0 and .255 (MetalLB's avoid-buggy-ips). */
    avoidBuggyIps: z.boolean().default(false),
    /** When false, the pool hands out addresses only to instances that name it. */
    autoAssign: z.boolean().default(true),
  })
  .superRefine((p, ctx) => {
    const parsed = p.ranges.map((r) => parseRange(r));
    for (let i = 0; i < parsed.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = parsed[i];
        const b = parsed[j];
        if (a && b && rangesOverlap(a, b)) {
          ctx.addIssue({ code: 'custom', path: ['ranges', i], message: `overlaps ranges[${j}]` });
        }
      }
    }
  });
export type PoolSpecInput = z.input<typeof PoolSpecSchema>;
export type PoolSpec = z.output<typeof PoolSpecSchema>;

export interface Pool extends PoolSpec {
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly generation: number;
}

/** Observed state the API adds to a pool; never stored, never accepted on writes. */
export interface PoolStatus {
  /** Set when a merge of concurrent writes left an older pool overlapping this one: it allocates nothing. */
  readonly conflict?: PoolConflict;
}

/** The pool slb's API and instances without a pool draw from. */
export const DEFAULT_POOL_NAME = 'default';

export function poolRanges(pool: Pick<PoolSpec, 'ranges'>): IpRange[] {
  const out: IpRange[] = [];
  for (const r of pool.ranges) {
    const parsed = parseRange(r);
    if (parsed) out.push(parsed);
  }
  return out;
}

export function poolContains(pool: Pick<PoolSpec, 'ranges'>, ip: string): boolean {
  const addr = parseIp(ip);
  return addr !== null && poolRanges(pool).some((r) => rangeContains(r, addr));
}

export function poolsOverlap(a: Pick<PoolSpec, 'ranges'>, b: Pick<PoolSpec, 'ranges'>): boolean {
  const rb = poolRanges(b);
  return poolRanges(a).some((x) => rb.some((y) => rangesOverlap(x, y)));
}

/**
 * First free address of `pool` in range order, skipping `inUse` (canonical text) and, when the
 * pool asks, buggy IPv4 addresses. At most |inUse| + 2 candidates per range are looked at, so
 * a /64 costs no more than a /30. Null when the pool is full.
 */
export function allocateFromPool(pool: Pick<PoolSpec, 'ranges' | 'avoidBuggyIps'>, inUse: ReadonlySet<string>, family?: IpFamily): string | null {
  for (const range of poolRanges(pool)) {
    if (family !== undefined && range.family !== family) continue;
    for (let v = range.first; v <= range.last; v++) {
      const addr = { family: range.family, value: v };
      if (pool.avoidBuggyIps && isBuggyIp(addr)) continue;
      const text = formatIp(addr);
      if (!inUse.has(text)) return text;
    }
  }
  return null;
}

/** Number of addresses a pool can hand out (bigint: an IPv6 /64 is 2^64). */
export function poolCapacity(pool: Pick<PoolSpec, 'ranges' | 'avoidBuggyIps'>): bigint {
  let total = 0n;
  for (const r of poolRanges(pool)) {
    let n = r.last - r.first + 1n;
    if (pool.avoidBuggyIps && r.family === 4) {
      // Count .0 and .255 addresses inside the range.
      for (const tail of [0n, 255n]) {
        const firstHit = r.first - (r.first & 0xffn) + tail + ((r.first & 0xffn) > tail ? 256n : 0n);
        if (firstHit <= r.last) n -= (r.last - firstHit) / 256n + 1n;
      }
    }
    total += n;
  }
  return total;
}
