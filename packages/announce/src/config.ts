/**
 * Announcer configuration: one structure, every field saying what it does and why its default
 * is what it is (the memberlist config.go pattern). All of it shapes one burst; when to burst
 * again (periodic re-announcement) is the ownership loop's decision, not the announcer's.
 */
import { z } from 'zod';
import { AnnounceError } from './errors.js';
import type { ArpOp } from './frames.js';

export interface AnnounceConfig {
  /**
   * Rounds per burst. An IPv4 round is one frame per entry of `arpOps`; an IPv6 round is one
   * unsolicited NA.
   * @default 3. keepalived's garp_master_repeat is 5 back-to-back GARPs; one frame moved the
   * client's entry in every measured run (recipe: 5/5 for GARP and NA), so repeats only cover
   * loss, and 3 rounds of request + reply are already 6 ARP frames spread over 200 ms.
   */
  readonly repeat: number;
  /**
   * Pause between two rounds. The first round goes out at once, so this never delays the
   * failover itself, only the retries.
   * @default 100. keepalived sends its burst within 1 ms; a drop caused by a momentary
   * condition (a full receive queue, a busy link during failover) takes a whole back-to-back
   * burst with it, while rounds 100 ms apart fail independently. The burst still ends 200 ms
   * after it starts, well inside any sensible re-announcement period.
   */
  readonly intervalMs: number;
  /**
   * ARP forms sent in each IPv4 round, in this order.
   * @default ['request', 'reply']. Receivers differ in which gratuitous form they honour (RFC
   * 5227 3 prefers the request; some routers and older stacks only update on a reply), and
   * Linux accepts both, so both go out, like `arping -U` and `arping -A` together.
   */
  readonly arpOps: readonly ArpOp[];
}

export type AnnounceInit = Partial<AnnounceConfig>;

export const ANNOUNCE_DEFAULTS: AnnounceConfig = Object.freeze({
  repeat: 3, // keepalived garp_master_repeat is 5 single frames; 3 rounds x 2 forms = 6 ARP frames
  intervalMs: 100, // spread rounds so one transient drop cannot take the whole burst
  arpOps: Object.freeze(['request', 'reply'] as const), // receivers differ in the form they honour
});

const AnnounceConfigSchema = z.strictObject({
  repeat: z.int('must be an integer').min(1, 'must be >= 1').max(100, 'must be <= 100'),
  intervalMs: z.int('must be an integer number of milliseconds').min(0, 'must be >= 0').max(10_000, 'must be <= 10000: a burst is a burst'),
  arpOps: z
    .array(z.enum(['request', 'reply']))
    .min(1, 'must name at least one ARP form')
    .refine((ops) => new Set(ops).size === ops.length, 'must not repeat a form'),
});

/** The defaults with `init` applied, validated and frozen. Throws AnnounceError E_ANNOUNCE_CONFIG naming the field. */
export function announceConfig(init: AnnounceInit = {}): AnnounceConfig {
  // Callers building the init from parsed YAML or CLI flags may pass explicit undefineds.
  const defined = Object.fromEntries(Object.entries(init as Record<string, unknown>).filter(([, v]) => v !== undefined));
  const parsed = AnnounceConfigSchema.safeParse({ ...ANNOUNCE_DEFAULTS, ...defined });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.');
    throw new AnnounceError('E_ANNOUNCE_CONFIG', `announce config: ${path}: ${issue?.message ?? 'invalid'}`);
  }
  return Object.freeze({ ...parsed.data, arpOps: Object.freeze([...parsed.data.arpOps]) });
}
