/**
 * Who holds a VIP, as seen from this node: in keepalived mode VRRP elects the owner, and the
 * only fact Shoal can observe locally is the address appearing on (or leaving) an interface
 * when keepalived becomes (or stops being) master. So ownership is learned from the kernel's
 * address events (RTM_NEWADDR / RTM_DELADDR), not from keepalived's logs or notify scripts:
 * the address is what clients reach, whoever put it there.
 *
 * Start-up and resync follow the list-then-watch rule: subscribe first and hold the events,
 * take a listing, make it the state, then replay the held events in order. Every event sets a
 * fact ((address, ifindex) present or not) rather than counting, so an event already reflected
 * in the listing is a no-op and the last word on each address wins.
 */
import type { Logger } from 'pino';
import { formatIp, parseIp } from '@shoal/model';
import { IFA_F_DADFAILED, IFA_F_TENTATIVE, openRouteNetlink, watchAddresses } from '@shoal/netlink';

/** The part of an interface address the observer reads (structurally @shoal/netlink's InterfaceAddress). */
export interface LocalAddress {
  readonly ifindex: number;
  readonly address: string;
  /** IFA_F_* flags; a tentative (DAD running) or DAD-failed IPv6 address is not usable yet. */
  readonly flags: number;
}

export interface LocalAddressEvent {
  readonly kind: 'added' | 'removed';
  readonly address: LocalAddress;
}

/** Where addresses come from: the kernel (netlinkAddressSource) or a fake in tests. */
export interface AddressSource {
  /** Every address in this network namespace now. */
  list(): Promise<readonly LocalAddress[]>;
  /** Delivers every address added or removed from now on; resolves once subscribed. */
  subscribe(onEvent: (event: LocalAddressEvent) => void): Promise<{ close(): Promise<void> }>;
}

/** The kernel's addresses in the current network namespace, through @shoal/netlink. */
export function netlinkAddressSource(opts: { logger?: Logger } = {}): AddressSource {
  const logOpts = opts.logger === undefined ? {} : { logger: opts.logger };
  return {
    async list() {
      const nl = await openRouteNetlink(logOpts);
      try {
        return await nl.listAddresses();
      } finally {
        await nl.close();
      }
    },
    subscribe: (onEvent) => watchAddresses(onEvent, logOpts),
  };
}

export type VipPresenceEvent = 'owned' | 'released';

export interface VipPresenceInit {
  /** The VIPs to report on; read again on every change and on refresh(). */
  readonly vips: () => ReadonlySet<string>;
  /** @default netlinkAddressSource() (the current network namespace) */
  readonly watch?: AddressSource;
  readonly logger?: Logger;
}

export interface VipPresence {
  /** Subscribes, takes the listing, and emits `owned` for each VIP already present. */
  start(): Promise<void>;
  /** `owned(vip)` when a VIP appears on a local interface, `released(vip)` when it leaves the last one. */
  on(event: VipPresenceEvent, listener: (vip: string) => void): () => void;
  /** The VIPs present locally now (canonical text). */
  owned(): ReadonlySet<string>;
  /** Re-reads vips() (call after the VIP set changed) and emits the differences. */
  refresh(): void;
  /**
   * Lists the addresses again and emits the differences. For after a netlink overflow
   * (ENOBUFS drops multicast events) or as a periodic safety net; events keep flowing meanwhile.
   */
  resync(): Promise<void>;
  close(): Promise<void>;
}

/** One spelling per address (RFC 5952 for IPv6), so `fd00:0::1` and `fd00::1` are one VIP. */
function canonical(text: string): string {
  const ip = parseIp(text);
  return ip === null ? text : formatIp(ip);
}

const UNUSABLE = IFA_F_TENTATIVE | IFA_F_DADFAILED;

export function createVipPresence(init: VipPresenceInit): VipPresence {
  const log = init.logger?.child({ component: 'vip-presence' });
  const source = init.watch ?? netlinkAddressSource(init.logger === undefined ? {} : { logger: init.logger });
  /** canonical address -> interfaces it is usable on. */
  const present = new Map<string, Set<number>>();
  const ownedNow = new Set<string>();
  const listeners: Record<VipPresenceEvent, Set<(vip: string) => void>> = { owned: new Set(), released: new Set() };
  /** Non-null while a listing is in flight: events are held here and replayed after it. */
  let held: LocalAddressEvent[] | null = null;
  let subscription: { close(): Promise<void> } | null = null;
  let closed = false;

  function emit(event: VipPresenceEvent, vip: string): void {
    log?.info({ vip }, event === 'owned' ? 'VIP present on a local interface' : 'VIP gone from every local interface');
    for (const l of listeners[event]) {
      try {
        l(vip);
      } catch (err) {
        log?.error({ err, vip, event }, 'VIP presence listener threw');
      }
    }
  }

  function setFact(addr: LocalAddress, usable: boolean): string {
    const key = canonical(addr.address);
    let on = present.get(key);
    if (usable) {
      if (on === undefined) present.set(key, (on = new Set()));
      on.add(addr.ifindex);
    } else if (on !== undefined) {
      on.delete(addr.ifindex);
      if (on.size === 0) present.delete(key);
    }
    return key;
  }

  function applyEvent(e: LocalAddressEvent): string {
    return setFact(e.address, e.kind === 'added' && (e.address.flags & UNUSABLE) === 0);
  }

  /** Emits the changes for `candidates` (canonical addresses) against the current vips(). */
  function evaluate(candidates: Iterable<string>): void {
    if (closed) return;
    const wanted = new Set([...init.vips()].map(canonical));
    for (const vip of new Set(candidates)) {
      const isOwned = wanted.has(vip) && (present.get(vip)?.size ?? 0) > 0;
      if (isOwned && !ownedNow.has(vip)) {
        ownedNow.add(vip);
        emit('owned', vip);
      } else if (!isOwned && ownedNow.has(vip)) {
        ownedNow.delete(vip);
        emit('released', vip);
      }
    }
  }

  function everything(): Set<string> {
    return new Set([...present.keys(), ...ownedNow, ...[...init.vips()].map(canonical)]);
  }

  function onEvent(e: LocalAddressEvent): void {
    if (held !== null) {
      held.push(e);
      return;
    }
    log?.debug({ kind: e.kind, address: e.address.address, ifindex: e.address.ifindex, flags: e.address.flags }, 'address event');
    evaluate([applyEvent(e)]);
  }

  async function listAndReplay(): Promise<void> {
    held ??= [];
    try {
      const listing = await source.list();
      present.clear();
      for (const a of listing) setFact(a, (a.flags & UNUSABLE) === 0);
    } finally {
      // Replay whatever arrived meanwhile (also when the listing failed: the events are facts).
      const replay = held;
      held = null;
      for (const e of replay) applyEvent(e);
    }
    evaluate(everything());
  }

  // One listing at a time: a second one would share (and then drop) the first one's held events.
  let syncing: Promise<void> = Promise.resolve();
  function sync(): Promise<void> {
    const next = syncing.then(listAndReplay, listAndReplay);
    syncing = next.catch(() => undefined);
    return next;
  }

  return {
    async start() {
      if (subscription !== null) throw new Error('VIP presence already started');
      held = [];
      subscription = await source.subscribe(onEvent);
      await sync();
    },
    on(event, listener) {
      listeners[event].add(listener);
      return () => listeners[event].delete(listener);
    },
    owned: () => new Set(ownedNow),
    refresh() {
      evaluate(everything());
    },
    resync: sync,
    async close() {
      closed = true;
      const s = subscription;
      subscription = null;
      await s?.close();
    },
  };
}
