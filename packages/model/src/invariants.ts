/**
 * Invariants that span instances: a name is unique, and a VIP is exclusive unless every
 * instance on it carries the same sharing key and they use different ports (MetalLB's
 * allow-shared-ip). Pure, so the store checks writes with it and every node resolves merged
 * concurrent writes with it the same way (conflicts.ts).
 */
import type { FieldIssue } from './errors.js';
import type { PortSpec } from './instance.js';

export interface VipClaim {
  readonly id: string;
  readonly name: string;
  readonly vip: string;
  readonly sharingKey?: string | undefined;
  readonly ports: readonly PortSpec[];
}

/** Why `candidate` cannot hold its VIP next to `other`, or null when they can coexist. */
export function vipClash(candidate: VipClaim, other: VipClaim): FieldIssue | null {
  if (candidate.id === other.id || candidate.vip !== other.vip) return null;
  if (candidate.sharingKey === undefined || candidate.sharingKey !== other.sharingKey) {
    return {
      path: 'vip',
      message: `${candidate.vip} is used by instance "${other.name}"${other.sharingKey === undefined ? '' : ' with another sharing key'}; a VIP is shared only by instances with the same sharingKey`,
    };
  }
  for (const p of candidate.ports) {
    if (other.ports.some((q) => q.port === p.port && q.protocol === p.protocol)) {
      return { path: 'ports', message: `${candidate.vip} ${p.protocol}/${p.port} is already served by instance "${other.name}"` };
    }
  }
  return null;
}

export function firstVipClash(candidate: VipClaim, others: Iterable<VipClaim>): FieldIssue | null {
  for (const o of others) {
    const clash = vipClash(candidate, o);
    if (clash) return clash;
  }
  return null;
}
