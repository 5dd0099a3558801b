/**
 * Who owns each VIP: decided by every node from the same inputs, so every node that sees the
 * same membership gets the same answer without talking to the others.
 *
 * Inputs: the live members (SWIM), each with a priority and the networks it can hold VIPs in
 * (from its gossiped metadata), and the VIPs of the started instances. For each VIP:
 *  1. eligible members: those whose networks contain the VIP;
 *  2. the highest priority among them wins (an operator's preference, as keepalived's);
 *  3. among equals, rendezvous hashing (highest random weight, Thaler & Ravishankar 1998)
 *     of (VIP, member name) picks one. Each VIP lands on an independent pseudo-random member,
 *     so VIPs spread evenly, and when a member leaves only its VIPs move (to the next member in
 *     each VIP's own ranking); when it returns they move back. Nothing else is disturbed.
 *
 * The key is the VIP, not the instance: instances sharing a VIP (sharingKey) must be owned by
 * one node, since the address lives on one interface.
 *
 * Split-brain guard: a node claims VIPs only while it sees a quorum of the cluster (itself
 * included). A node cut off from the majority owns nothing, so the two sides of a partition
 * never both answer for a VIP; the majority side elects among the members it still sees.
 */
import { createHash } from 'node:crypto';
import { parseCidr, parseIp, rangeContains, type IpRange } from '@shoal/model';

export interface Candidate {
  /** Member name (unique in the cluster). */
  readonly name: string;
  /** Higher wins. */
  readonly priority: number;
  /** CIDRs this member can hold VIPs in (its interfaces' subnets, plus configured ones). */
  readonly networks: readonly string[];
  /**
   * False while the member is alive but not yet taking VIPs: just (re)started, or just back in
   * a quorum, it waits until the others surely see it alive (the controller's claimDelayMs).
   * Every node leaves a member that is not ready out of the election, so the current holder
   * keeps a VIP until its next owner is ready to take it: no window where nobody holds it.
   * Absent means ready (members of versions before the flag).
   */
  readonly ready?: boolean;
}

export interface QuorumInput {
  /** Live members this node sees, itself included. */
  readonly live: number;
  /** Members of the cluster (every member that has not left). */
  readonly clusterSize: number;
  /** Live members needed: 'majority' (floor(N/2)+1) or a count. */
  readonly quorum: 'majority' | number;
}

export function quorumSize(clusterSize: number, quorum: QuorumInput['quorum']): number {
  return quorum === 'majority' ? Math.floor(clusterSize / 2) + 1 : Math.min(quorum, clusterSize);
}

export function hasQuorum(q: QuorumInput): boolean {
  return q.live >= quorumSize(q.clusterSize, q.quorum);
}

/** The 64-bit rendezvous score of (vip, member); larger wins. */
export function rendezvousScore(vip: string, member: string): bigint {
  // SHA-256 rather than a fast non-cryptographic hash: it is the same in every Node version
  // and on every platform, and a few thousand VIPs x a few members cost microseconds each.
  const digest = createHash('sha256').update(vip).update('\u0000').update(member).digest();
  return digest.readBigUInt64BE(0);
}

interface ParsedCandidate {
  readonly candidate: Candidate;
  readonly ranges: readonly IpRange[];
}

/** Members the election considers: alive (the caller's filter) and ready. */
function parseCandidates(candidates: readonly Candidate[]): ParsedCandidate[] {
  return candidates.filter((c) => c.ready !== false).map((candidate) => ({
    candidate,
    ranges: candidate.networks.map((n) => parseCidr(n)).filter((r): r is IpRange => r !== null),
  }));
}

function eligible(p: ParsedCandidate, vip: string): boolean {
  const addr = parseIp(vip);
  return addr !== null && p.ranges.some((r) => rangeContains(r, addr));
}

/** Ready members eligible for `vip`, best first: priority, then rendezvous score, then name. */
export function rankCandidates(vip: string, candidates: readonly Candidate[]): Candidate[] {
  return parseCandidates(candidates)
    .filter((p) => eligible(p, vip))
    .map((p) => ({ c: p.candidate, score: rendezvousScore(vip, p.candidate.name) }))
    .sort((a, b) => b.c.priority - a.c.priority || (a.score < b.score ? 1 : a.score > b.score ? -1 : 0) || (a.c.name < b.c.name ? -1 : 1))
    .map((x) => x.c);
}

export interface ElectionInput {
  readonly vips: Iterable<string>;
  /** Live members, this node included (only those that see a quorum should be passed as deciding). */
  readonly candidates: readonly Candidate[];
}

/** VIP -> owner name; a VIP no live member is eligible for is absent. */
export function electOwners(input: ElectionInput): Map<string, string> {
  const parsed = parseCandidates(input.candidates);
  const out = new Map<string, string>();
  for (const vip of input.vips) {
    if (out.has(vip)) continue;
    let best: { c: Candidate; score: bigint } | undefined;
    for (const p of parsed) {
      if (!eligible(p, vip)) continue;
      const score = rendezvousScore(vip, p.candidate.name);
      if (
        !best ||
        p.candidate.priority > best.c.priority ||
        (p.candidate.priority === best.c.priority && (score > best.score || (score === best.score && p.candidate.name < best.c.name)))
      ) {
        best = { c: p.candidate, score };
      }
    }
    if (best) out.set(vip, best.c.name);
  }
  return out;
}

export interface LocalClaimInput extends ElectionInput {
  readonly self: string;
  readonly quorum: QuorumInput;
}

/**
 * The VIPs this node should hold now: those it wins, and none at all without quorum.
 * Returned sorted, for stable logs and diffs.
 */
export function vipsToHold(input: LocalClaimInput): string[] {
  if (!hasQuorum(input.quorum)) return [];
  const owners = electOwners(input);
  return [...owners.entries()]
    .filter(([, owner]) => owner === input.self)
    .map(([vip]) => vip)
    .sort();
}
