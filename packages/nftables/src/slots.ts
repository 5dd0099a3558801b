/**
 * Weights -> slots, the one decision that shapes the traffic split. Pure and deterministic:
 * the same service always gets the same slot table, on every node and every reload, so an
 * incremental delete can name exactly the elements an earlier apply wrote.
 *
 * A service owns `tier` slots (see SLOT_TIERS) in the map of its algorithm; a new connection
 * picks a slot (numgen inc for the round-robin family, jhash of the source address for the
 * hashing family) and the slot names the backend. A backend's share of new connections is its
 * slot count / tier.
 *
 * - Active servers: weight > 0 and the VIP's address family (nftables cannot NAT between
 *   IPv4 and IPv6). Weight 0 (quiesced, disabled, unhealthy) gets no slot: no new connections,
 *   established ones keep their conntrack entry and drain.
 * - Tier: the smallest tier that has a slot for every active server and gives the lightest
 *   one at least one whole slot's worth (tier * minWeight >= sumWeights); else the largest.
 * - Counts: largest-remainder (Hamilton) apportionment of tier * weight / sumWeights, every
 *   active server at least 1; remainders break ties by server order (serverKey).
 * - Order: smooth weighted round robin over the counts, so consecutive slots alternate between
 *   backends (a burst of new connections spreads instead of hitting one backend 9 times).
 */
import { ShoalError } from '@shoal/model';
import { compareServers, type RealServer, type VirtualService } from '@shoal/dataplane';
import { ipFamilyOf } from '@shoal/model';
import { SLOT_TIERS, type SlotTier } from './constants.js';

/** How a service picks a slot: a per-rule counter, or a hash of the client address. */
export type SlotAlgorithm = 'rr' | 'sh';

export interface SlotPlan {
  readonly algorithm: SlotAlgorithm;
  readonly tier: SlotTier;
  /** slots[i] is the backend of slot i; empty when no server is active (no DNAT at all). */
  readonly slots: readonly RealServer[];
}

/**
 * IPVS schedulers onto the two things nftables can do per new connection without state:
 * a counter (rr/wrr are exact over time; lc/wlc/sed/nq/fo/ovf/twos lose their connection
 * counting and become weighted round robin) or a source hash (sh/mh/dh/lblc/lblcr keep a
 * client on one backend while the server set is unchanged; dh and lblc* hash the client, not
 * the destination, which for a VIP would be constant). Persistence becomes source hashing:
 * the affinity has no timeout and ignores persistenceNetmask (the full address is hashed).
 */
export function slotAlgorithm(service: Pick<VirtualService, 'scheduler' | 'persistenceTimeoutS'>): SlotAlgorithm {
  if (service.persistenceTimeoutS > 0) return 'sh';
  switch (service.scheduler) {
    case 'sh':
    case 'mh':
    case 'dh':
    case 'lblc':
    case 'lblcr':
      return 'sh';
    case 'rr':
    case 'wrr':
    case 'lc':
    case 'wlc':
    case 'sed':
    case 'nq':
    case 'fo':
    case 'ovf':
    case 'twos':
      return 'rr';
  }
}

/** Servers that get slots, in serverKey order. */
export function activeServers(service: VirtualService): RealServer[] {
  return service.servers.filter((r) => r.weight > 0 && ipFamilyOf(r.ip) === service.family).sort(compareServers);
}

export function chooseTier(weights: readonly number[]): SlotTier {
  const n = weights.length;
  const sum = weights.reduce((a, b) => a + b, 0);
  const min = Math.min(...weights);
  let fallback: SlotTier | undefined;
  for (const tier of SLOT_TIERS) {
    if (tier < n) continue;
    fallback = tier;
    if (tier * min >= sum) return tier;
  }
  if (fallback === undefined) throw new ShoalError('E_VALIDATION', `nftables: ${n} active backends in one service, at most ${SLOT_TIERS[SLOT_TIERS.length - 1] ?? 0}`);
  return fallback;
}

/** Slot counts per server (same order as weights), summing to tier, each >= 1. */
export function apportionSlots(weights: readonly number[], tier: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const quotas = weights.map((w) => (tier * w) / sum);
  const counts = quotas.map((q) => Math.max(1, Math.floor(q)));
  let total = counts.reduce((a, b) => a + b, 0);
  if (total < tier) {
    const byRemainder = quotas.map((q, i) => ({ i, r: q - Math.floor(q) })).sort((a, b) => b.r - a.r || a.i - b.i);
    for (const { i } of byRemainder) {
      if (total === tier) break;
      counts[i] = (counts[i] ?? 0) + 1;
      total++;
    }
  }
  // Over only when minimum-1 bumps happened (largest tier, extreme ratios): take from the
  // biggest holders, later servers first, never below 1.
  while (total > tier) {
    let pick = -1;
    counts.forEach((c, i) => {
      if (c > 1 && (pick < 0 || c >= (counts[pick] ?? 0))) pick = i;
    });
    if (pick < 0) break;
    counts[pick] = (counts[pick] ?? 1) - 1;
    total--;
  }
  return counts;
}

/** Spreads counts over tier slots: smooth weighted round robin (nginx's), ties to the lower index. */
export function interleave<T>(items: readonly T[], counts: readonly number[], tier: number): T[] {
  const current = counts.map(() => 0);
  const out: T[] = [];
  for (let s = 0; s < tier; s++) {
    let best = 0;
    for (let i = 0; i < counts.length; i++) {
      current[i] = (current[i] ?? 0) + (counts[i] ?? 0);
      if ((current[i] ?? 0) > (current[best] ?? 0)) best = i;
    }
    current[best] = (current[best] ?? 0) - tier;
    const item = items[best];
    if (item !== undefined) out.push(item);
  }
  return out;
}

export function planSlots(service: VirtualService): SlotPlan {
  const algorithm = slotAlgorithm(service);
  const active = activeServers(service);
  if (active.length === 0) return { algorithm, tier: SLOT_TIERS[0], slots: [] };
  const weights = active.map((r) => r.weight);
  const tier = chooseTier(weights);
  return { algorithm, tier, slots: interleave(active, apportionSlots(weights, tier), tier) };
}
