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
   * After start, and after any loss of quorum, this node is not ready (takes no VIPs) until it
   * has seen a quorum for this long while other members are alive: they may not see it alive
   * yet (a restarted member must first refute its old death), so they still hold the VIPs it
   * would win, and claiming now puts a VIP on two nodes. Alone, it is ready at once.
   * @default 5000
   */
  readonly claimDelayMs?: number;
  /**
   * Told when this node becomes ready or stops being ready, so it can gossip the flag: the
   * others keep it out of their elections until then (Candidate.ready), and so keep holding
   * the VIPs it will take. The handover is make-before-break: this node claims at once, the
   * old holder releases when the flag reaches it (one gossip hop later).
   */
  readonly onReadyChange?: (ready: boolean) => void;
  /**
   * An extra condition for being ready, checked on every pass (trigger a pass when it changes).
   * BGP owner mode: a node whose BGP sessions are all down cannot announce a VIP, so it must not
   * hold one; false makes it not ready at once, true lets it be ready once the quorum has also
   * been held for claimDelayMs. @default always true
   */
  readonly readyGate?: () => boolean;
  /** Told after a pass (or the shutdown release) that changed the set of held VIPs (BGP owner mode announces them). */
  readonly onHeldChange?: (held: ReadonlySet<string>) => void;
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
  /** Taking VIPs: quorum held for claimDelayMs (or alone). The others see it in metadata. */
  readonly ready: boolean;
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
  /** The VIPs held now (status() without the election it also runs). */
  heldVips(): ReadonlySet<string>;
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
  let ready = false;
  let quorumSinceMs: number | null = null;
  let readinessTimer: NodeJS.Timeout | null = null;
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

  /** Readiness not yet told to onReadyChange: told at the end of the pass, after its claims. */
  let unpublished = false;
  const setReady = (value: boolean, why: string): void => {
    if (ready === value) return;
    ready = value;
    unpublished = true;
    log.info({ ready, why }, ready ? 'ready to hold VIPs' : 'not ready to hold VIPs');
  };
  /**
   * Make-before-break: the others release a VIP to us when they hear we are ready, so they
   * must hear it only once our claims are on the interface (gossip can beat an rtnetlink add).
   */
  const publishReadiness = (): void => {
    if (!unpublished) return;
    unpublished = false;
    try {
      init.onReadyChange?.(ready);
    } catch (err) {
      log.error({ err }, 'readiness listener failed');
    }
  };

  let lastToldHeld = '';
  const notifyHeld = (): void => {
    const now = [...held.keys()].sort().join(',');
    if (now === lastToldHeld) return;
    lastToldHeld = now;
    try {
      init.onHeldChange?.(new Set(held.keys()));
    } catch (err) {
      log.error({ err }, 'held-VIPs listener failed');
    }
  };

  /** Ready = a quorum seen for claimDelayMs without a break, or no other member alive. */
  const updateReadiness = (quorate: boolean, othersAlive: boolean): void => {
    const t = now();
    if (!quorate) {
      quorumSinceMs = null;
      setReady(false, 'no quorum');
      return;
    }
    quorumSinceMs ??= t;
    if (init.readyGate !== undefined && !init.readyGate()) {
      setReady(false, 'ready gate closed');
      return;
    }
    if (ready) return;
    const waitedMs = t - quorumSinceMs;
    if (!othersAlive || waitedMs >= claimDelayMs) {
      setReady(true, othersAlive ? 'claim delay over' : 'no other member alive');
      return;
    }
    if (readinessTimer === null && !stopped) {
      readinessTimer = setTimeout(() => {
        readinessTimer = null;
        controller.trigger('claim delay over');
      }, claimDelayMs - waitedMs + 10);
      readinessTimer.unref();
    }
  };

  /** The inputs' candidates with this node's own readiness (the others' comes from gossip). */
  const withOwnReadiness = (candidates: readonly Candidate[]): Candidate[] =>
    candidates.map((c) => (c.name === init.self ? { ...c, ready } : c));

  const pass = async (announceAll: boolean): Promise<void> => {
    passes++;
    if (!adopted) {
      // VIPs a previous run left on the interfaces: keep them if still ours, release otherwise.
      for (const [vip, ifname] of await init.addresses.held()) held.set(vip, { ifname, since: new Date(), lastAnnouncedAt: null });
      adopted = true;
    }
    const inputs = init.inputs;
    const quorum = inputs.quorum();
    const raw = inputs.candidates();
    updateReadiness(hasQuorum(quorum), raw.some((c) => c.name !== init.self));
    // Not ready, this node is out of its own election too, so it wants nothing: a VIP left from
    // a previous run is let go, since a survivor took it over while we were down.
    const want = new Set(vipsToHold({ self: init.self, vips: inputs.vips(), candidates: withOwnReadiness(raw), quorum }));
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
    publishReadiness();
    notifyHeld();
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
      scheduleReannounce();
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
      if (readinessTimer) clearTimeout(readinessTimer);
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
      notifyHeld();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (readinessTimer) clearTimeout(readinessTimer);
      await controller.settled();
    },
    heldVips: () => new Set(held.keys()),
    status() {
      const inputs = init.inputs;
      const owners = electOwners({ vips: inputs.vips(), candidates: withOwnReadiness(inputs.candidates()) });
      return {
        quorum: hasQuorum(inputs.quorum()),
        ready,
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
