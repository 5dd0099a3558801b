/**
 * The owner's side effects: hold exactly the VIPs the election gives this node, announce them,
 * and re-announce. Decide (election.ts, pure) then do (the VipAddresses and Announcer drivers).
 *
 * Passes are serialised and coalesced: any number of triggers during a pass cost one more pass.
 * Order inside a pass: release first, then claim, so a VIP moving between two of this node's
 * interfaces (a config change) is never on both; then announce every VIP claimed in this pass.
 * Membership changes re-announce everything held (a router or host with a stale ARP cache, the
 * common keepalived and kube-vip complaint, is corrected at the next change or period).
 */
import type { Logger } from 'pino';
import { electOwners, hasQuorum, vipsToHold, type Candidate, type QuorumInput } from './election.js';

/** Puts VIPs on this node's interfaces and takes them off (rtnetlink in shoald, a map in tests). */
export interface VipAddresses {
  /** Adds `vip` to the interface whose subnet holds it; resolves with that interface. */
  add(vip: string): Promise<{ readonly ifname: string }>;
  remove(vip: string): Promise<void>;
  /** VIPs this node holds now (including ones a previous run left). */
  held(): Promise<ReadonlyMap<string, string>>;
}

/** Tells the segment where a VIP now lives (gratuitous ARP / unsolicited NA, or a fake). */
export interface VipAnnouncer {
  announce(vip: string, ifname: string): Promise<unknown>;
}

export interface OwnershipInputs {
  /** Live members (alive in SWIM), this node included, with their priority and networks. */
  candidates(): readonly Candidate[];
  quorum(): QuorumInput;
  /** VIPs of the started, unconflicted instances (the management VIP included). */
  vips(): Iterable<string>;
}

export interface OwnershipControllerInit {
  readonly self: string;
  readonly inputs: OwnershipInputs;
  readonly addresses: VipAddresses;
  readonly announcer: VipAnnouncer;
  readonly logger: Logger;
  /** Every held VIP is announced again this often. @default 10000 (0 disables) */
  readonly reannounceIntervalMs?: number;
  /**
   * After start, claim nothing new for this long while other members are alive: they may not
   * see us alive yet (a restarted member must first refute its old death), so they still hold
   * the VIPs we would win, and claiming now puts a VIP on two nodes. Alone, claim at once.
   * @default 5000
   */
  readonly claimDelayMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface HeldVip {
  readonly vip: string;
  readonly ifname: string;
  readonly since: string;
  readonly lastAnnouncedAt: string | null;
}

export interface OwnershipStatus {
  readonly quorum: boolean;
  readonly held: readonly HeldVip[];
  /** VIP -> owner as this node's election sees it (every node sees the same with the same view). */
  readonly owners: Readonly<Record<string, string>>;
  readonly passes: number;
  readonly lastError: string | null;
}

export interface OwnershipController {
  start(): void;
  /** Asks for a pass (store or membership changed); `announceAll` also re-announces what is held. */
  trigger(reason: string, options?: { announceAll?: boolean }): void;
  /** Resolves when no pass is running or queued. */
  settled(): Promise<void>;
  /** Drops every VIP (graceful shutdown, after the others have been told we leave). */
  releaseAll(): Promise<void>;
  stop(): Promise<void>;
  status(): OwnershipStatus;
}

export const OWNERSHIP_DEFAULTS = {
  // keepalived refreshes GARPs only when configured to (garp_master_refresh); stale caches are
  // the common complaint, so Shoal refreshes by default, cheaply: a burst per VIP per period.
  reannounceIntervalMs: 10_000,
  // Covers a LAN-profile refutation (a probe round plus gossip) with margin.
  claimDelayMs: 5_000,
} as const;

export function createOwnershipController(init: OwnershipControllerInit): OwnershipController {
  const log = init.logger.child({ component: 'ownership' });
  const reannounceMs = init.reannounceIntervalMs ?? OWNERSHIP_DEFAULTS.reannounceIntervalMs;
  const claimDelayMs = init.claimDelayMs ?? OWNERSHIP_DEFAULTS.claimDelayMs;
  const now = init.now ?? Date.now;
  let startedAt = 0;
  let claimTimer: NodeJS.Timeout | null = null;
  const held = new Map<string, { ifname: string; since: Date; lastAnnouncedAt: Date | null }>();
  let running: Promise<void> | null = null;
  let queued = false;
  let queuedAnnounceAll = false;
  let stopped = false;
  let passes = 0;
  let lastError: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  let adopted = false;

  const announce = async (vip: string, ifname: string): Promise<void> => {
    try {
      await init.announcer.announce(vip, ifname);
      const h = held.get(vip);
      if (h) h.lastAnnouncedAt = new Date();
    } catch (err) {
      lastError = `announce ${vip}: ${(err as Error).message}`;
      log.warn({ vip, ifname, err: (err as Error).message }, 'announcement failed');
    }
  };

  const pass = async (announceAll: boolean): Promise<void> => {
    passes++;
    if (!adopted) {
      // VIPs a previous run left on the interfaces: keep them if still ours, release otherwise.
      for (const [vip, ifname] of await init.addresses.held()) held.set(vip, { ifname, since: new Date(), lastAnnouncedAt: null });
      adopted = true;
    }
    const inputs = init.inputs;
    const others = inputs.candidates().filter((c) => c.name !== init.self).length;
    const holdingBack = others > 0 && now() - startedAt < claimDelayMs;
    // Holding back, a VIP left from a previous run is let go too: a survivor took it over while
    // we were down, and keeping it as well would put it on two nodes until they see us alive.
    const want = holdingBack ? new Set<string>() : new Set(vipsToHold({ self: init.self, vips: inputs.vips(), candidates: inputs.candidates(), quorum: inputs.quorum() }));
    for (const vip of [...held.keys()]) {
      if (want.has(vip)) continue;
      try {
        await init.addresses.remove(vip);
        held.delete(vip);
        log.info({ vip }, 'VIP released');
      } catch (err) {
        lastError = `remove ${vip}: ${(err as Error).message}`;
        log.error({ vip, err: (err as Error).message }, 'cannot release VIP');
      }
    }
    const claimed: string[] = [];
    for (const vip of want) {
      if (held.has(vip)) continue;
      try {
        const { ifname } = await init.addresses.add(vip);
        held.set(vip, { ifname, since: new Date(), lastAnnouncedAt: null });
        claimed.push(vip);
        log.info({ vip, ifname }, 'VIP claimed');
      } catch (err) {
        lastError = `add ${vip}: ${(err as Error).message}`;
        log.error({ vip, err: (err as Error).message }, 'cannot claim VIP');
      }
    }
    const toAnnounce = announceAll ? [...held.keys()] : claimed;
    await Promise.all(toAnnounce.map((vip) => announce(vip, held.get(vip)?.ifname ?? '')));
  };

  const run = (): void => {
    if (running || stopped) return;
    const announceAll = queuedAnnounceAll;
    queued = false;
    queuedAnnounceAll = false;
    running = pass(announceAll)
      .catch((err: unknown) => {
        lastError = (err as Error).message;
        log.error({ err }, 'ownership pass failed');
      })
      .finally(() => {
        running = null;
        if (queued) run();
      });
  };

  const scheduleReannounce = (): void => {
    if (reannounceMs <= 0 || stopped) return;
    timer = setTimeout(() => {
      timer = null;
      controller.trigger('periodic re-announcement', { announceAll: true });
      scheduleReannounce();
    }, reannounceMs);
    timer.unref();
  };

  const controller: OwnershipController = {
    start() {
      startedAt = now();
      scheduleReannounce();
      if (claimDelayMs > 0) {
        claimTimer = setTimeout(() => {
          claimTimer = null;
          controller.trigger('claim delay over');
        }, claimDelayMs + 10);
        claimTimer.unref();
      }
      // Announce what is kept from a previous run too: while we were down, others may have held it.
      controller.trigger('start', { announceAll: true });
    },
    trigger(reason, options = {}) {
      if (stopped) return;
      log.debug({ reason }, 'ownership pass requested');
      queued = true;
      if (options.announceAll === true) queuedAnnounceAll = true;
      run();
    },
    async settled() {
      while (running) await running;
    },
    async releaseAll() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (claimTimer) clearTimeout(claimTimer);
      await controller.settled();
      await Promise.all(
        [...held.keys()].map(async (vip) => {
          try {
            await init.addresses.remove(vip);
            held.delete(vip);
            log.info({ vip }, 'VIP released on shutdown');
          } catch (err) {
            log.error({ vip, err: (err as Error).message }, 'cannot release VIP on shutdown');
          }
        }),
      );
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (claimTimer) clearTimeout(claimTimer);
      await controller.settled();
    },
    status() {
      const inputs = init.inputs;
      const owners = electOwners({ vips: inputs.vips(), candidates: inputs.candidates() });
      return {
        quorum: hasQuorum(inputs.quorum()),
        held: [...held.entries()]
          .map(([vip, h]) => ({ vip, ifname: h.ifname, since: h.since.toISOString(), lastAnnouncedAt: h.lastAnnouncedAt?.toISOString() ?? null }))
          .sort((a, b) => (a.vip < b.vip ? -1 : 1)),
        owners: Object.fromEntries([...owners.entries()].sort()),
        passes,
        lastError,
      };
    },
  };
  return controller;
}
