/**
 * Virtual router ids (VRIDs) for the keepalived mode: one VRRP instance per VIP, each needs an
 * id that no other instance on the same segment uses (RFC 5798 5.2.3: the VRID, 1..255, names
 * the virtual router; two routers with one VRID and different addresses fight over it).
 *
 * FlexLB picks ids locally on each node, so two nodes creating instances at once hand out the
 * same id. Shoal stores the id chosen at create time (`requestedVrid`) with the instance and
 * then lets every node compute the *effective* ids from the replicated state with the pure
 * function below. Same input, same answer on every node: no coordination and no round trip.
 *
 * Why concurrent creation is safe:
 * - Two nodes may create instances at the same moment, each pick the lowest id free in its own
 *   view (say 7) and store it. Once both records have replicated, every node sorts the
 *   instances oldest first (createdAt, then id as a tie-break, compared by code unit, never by
 *   locale) and grants a requested id only to the first instance that asks for it. The younger
 *   of the two gets the lowest id still free. So the effective map never gives one id to two
 *   instances, whatever the stored ids say, and every node renders the same keepalived.conf
 *   VRIDs.
 * - An instance's effective id depends only on the instances older than it. Creating (or
 *   deleting) an instance therefore never changes the id of an older one: VRRP instances that
 *   are already running keep their virtual router, and their masters are not disturbed. Only
 *   the newcomer can be moved, and it is moved before anybody has relied on its id for long.
 * - An instance that did not get its requested id is on a fallback id, which can still move
 *   when an older instance appears or goes away. Whoever owns writes (the API) should store the
 *   effective id back as `requestedVrid` (`planVirtualRouterIds(...).reassigned` lists them);
 *   after that every stored id is distinct and in range, and the map is fully stable.
 */
import { ValidationError } from '@shoal/model';

/** What the VRID assignment needs to know about one instance (from the replicated store). */
export interface VridCandidate {
  /** The instance id: unique; the final tie-break. */
  readonly id: string;
  /** ISO 8601 creation time; older instances keep their ids. */
  readonly createdAt: string;
  /** The id stored at create time (`pickVrid`), if any. */
  readonly requestedVrid?: number;
}

/** Inclusive range of ids Shoal may use on this segment (leave room for other VRRP users). */
export interface VridRange {
  readonly min: number;
  readonly max: number;
}

/** VRRP's own bounds (RFC 5798 5.2.3): 0 is not a valid VRID and the field is 8 bits. */
export const VRID_LIMITS = { min: 1, max: 255 } as const;

export interface VridPlan {
  /** Instance id -> effective VRID, for every instance that got one. */
  readonly vrids: Map<string, number>;
  /** Instances left without an id because the range is full (youngest ones), oldest first. */
  readonly unassigned: readonly string[];
  /** Instances whose effective id differs from the stored one (store it back to make it stick). */
  readonly reassigned: readonly { readonly id: string; readonly requested: number | undefined; readonly assigned: number }[];
}

function checkRange(range: VridRange): void {
  const issues: { path: string; message: string }[] = [];
  for (const key of ['min', 'max'] as const) {
    const v = range[key];
    if (!Number.isInteger(v) || v < VRID_LIMITS.min || v > VRID_LIMITS.max) issues.push({ path: `range.${key}`, message: `must be an integer in ${VRID_LIMITS.min}..${VRID_LIMITS.max}` });
  }
  if (issues.length === 0 && range.min > range.max) issues.push({ path: 'range', message: `min ${range.min} is above max ${range.max}` });
  if (issues.length > 0) throw new ValidationError(issues);
}

/** Milliseconds since the epoch, or +Infinity for an unreadable timestamp (sorted last, by id). */
function createdAtMs(createdAt: string): number {
  const ms = Date.parse(createdAt);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** Code-unit order: the same on every node (localeCompare depends on the node's ICU and locale). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order in which instances claim ids: oldest first, then by id. */
export function compareVridPriority(a: VridCandidate, b: VridCandidate): number {
  const ta = createdAtMs(a.createdAt);
  const tb = createdAtMs(b.createdAt);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return compareIds(a.id, b.id);
}

function inRange(vrid: number | undefined, range: VridRange): vrid is number {
  return vrid !== undefined && Number.isInteger(vrid) && vrid >= range.min && vrid <= range.max;
}

/**
 * The lowest id in `range` that is not in `taken`, or undefined when the range is full. For a
 * node creating an instance: pass every id in use (the effective ids and the stored ones), so
 * the new instance does not ask for an id a fallback instance is about to settle on.
 */
export function pickVrid(taken: ReadonlySet<number>, range: VridRange): number | undefined {
  checkRange(range);
  for (let v = range.min; v <= range.max; v++) if (!taken.has(v)) return v;
  return undefined;
}

/** The effective ids with what did not fit and what moved; see the file comment for why it is safe. */
export function planVirtualRouterIds(instances: readonly VridCandidate[], range: VridRange): VridPlan {
  checkRange(range);
  const seen = new Set<string>();
  for (const [i, inst] of instances.entries()) {
    if (seen.has(inst.id)) throw new ValidationError([{ path: `instances.${i}.id`, message: `duplicate instance id ${JSON.stringify(inst.id)}` }]);
    seen.add(inst.id);
  }
  const ordered = [...instances].sort(compareVridPriority);
  const vrids = new Map<string, number>();
  const taken = new Set<number>();
  const unassigned: string[] = [];
  const reassigned: { id: string; requested: number | undefined; assigned: number }[] = [];
  // The lowest id that may still be free: ids below it are all taken (taken only grows).
  let cursor = range.min;
  for (const inst of ordered) {
    let vrid: number | undefined;
    if (inRange(inst.requestedVrid, range) && !taken.has(inst.requestedVrid)) vrid = inst.requestedVrid;
    else {
      while (cursor <= range.max && taken.has(cursor)) cursor++;
      if (cursor <= range.max) vrid = cursor;
    }
    if (vrid === undefined) {
      unassigned.push(inst.id);
      continue;
    }
    taken.add(vrid);
    vrids.set(inst.id, vrid);
    if (vrid !== inst.requestedVrid) reassigned.push({ id: inst.id, requested: inst.requestedVrid, assigned: vrid });
  }
  return { vrids, unassigned, reassigned };
}

/**
 * Instance id -> effective VRID. Every node computes the same map from the same replicated
 * state; instances beyond the range's capacity are absent (`planVirtualRouterIds` names them).
 */
export function assignVirtualRouterIds(instances: readonly VridCandidate[], range: VridRange): Map<string, number> {
  return planVirtualRouterIds(instances, range).vrids;
}
