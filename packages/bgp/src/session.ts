/**
 * One peer: drives the FSM (fsm.ts) with real connections, the framer and the codec, and
 * keeps the peer's Adj-RIB-Out in step with the speaker's desired routes.
 *
 * Connections. The primary FSM owns connect-retry and the peer's state. A connection that
 * shows up while the primary already has one (ours completing after theirs was accepted, or
 * theirs arriving while ours is in OpenSent) gets a second FSM, and the first OPEN that
 * reveals the collision decides which survives (RFC 4271 6.8). The survivor is the primary.
 * Every connection (and every outbound attempt) gets a link id from a counter the speaker's
 * sessions share, so `link` in the logs names one TCP connection.
 *
 * Reconnecting peers. While the primary FSM is Idle after a clean end (fsm.ts: the peer's
 * Cease, a closed connection, our Hold Timer), a connection from the peer is taken at once
 * instead of being refused until the IdleHoldTimer expires: a router that restarted gets its
 * session back in one round trip. Two limits keep a peer that keeps failing from driving a
 * tight loop: after an error NOTIFICATION (either way) the FSM refuses until the timer
 * expires, and such an early accept happens at most once per `connectRetryS` (the peer's
 * first retry interval); otherwise the backoff applies as before.
 *
 * Failure. Nothing a peer sends escapes as an exception: a BgpProtocolError becomes the
 * NOTIFICATION it carries, the connection closes, the FSM goes to Idle and comes back after
 * its backoff. Anything unexpected (a bug) is logged and treated as a lost connection.
 */
import type { Logger } from 'pino';
import { TimerSet, type Clock } from '@shoal/model';
import {
  AdjRibOut,
  batchChanges,
  buildUpdates,
  configuredFamilyProblem,
  exportRoutes,
  planFamily,
  type BgpRoute,
  type FamilyPlan,
  type SessionExport,
} from './adj-rib-out.js';
import { decodeMessage, encodeMessage, endOfRib, isEndOfRib } from './codec.js';
import type { BgpPeerConfig } from './config.js';
import { BgpError, BgpProtocolError } from './errors.js';
import { MessageFramer } from './framer.js';
import {
  BgpFsm,
  keepaliveS,
  negotiateHoldTime,
  resolveCollision,
  type FsmAction,
  type FsmConfig,
  type FsmEvent,
  type FsmState,
  type FsmTimer,
} from './fsm.js';
import {
  ERROR_CODE,
  OPEN_SUBCODE,
  type AddressFamily,
  type BgpMessage,
  type Capability,
  type CodecContext,
  type OpenMessage,
} from './messages.js';
import { describeNotification } from './notification-text.js';
import { addressFamilyOf, afiSafiOf } from './prefix.js';
import type { BgpConnection, BgpTransport } from './transport.js';

/** What every session of a speaker shares. */
export interface SessionGlobals {
  readonly asn: number;
  readonly routerId: string;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTimeS: number };
  /** The speaker restarted (R and F bits, End-of-RIB held until initial routes are loaded). */
  readonly restarting: boolean;
}

export interface SessionComponents {
  readonly logger: Logger;
  readonly transport: BgpTransport;
  readonly clock: Clock;
  readonly random?: () => number;
  /** Ids for links (TCP connections) in logs; the speaker shares one counter between its sessions. @default a counter of this session's own */
  readonly nextLinkId?: () => number;
  /** The peer's state changed (primary FSM). Must not throw; errors are logged. */
  readonly onStateChange: (status: BgpPeerStatus) => void;
}

/** A NOTIFICATION as status shows it. */
export interface NotificationRecord {
  readonly code: number;
  readonly subcode: number;
  /** "Cease/Administrative Shutdown" */
  readonly text: string;
  /** Clock time (ms, the injected clock's scale). */
  readonly at: number;
}

export interface BgpPeerCounters {
  messagesIn: number;
  messagesOut: number;
  opensIn: number;
  opensOut: number;
  updatesIn: number;
  updatesOut: number;
  keepalivesIn: number;
  keepalivesOut: number;
  notificationsIn: number;
  notificationsOut: number;
  routeRefreshesIn: number;
  /** Outbound connection attempts. */
  connectAttempts: number;
  /** Inbound connections accepted (handed to an FSM). */
  connectionsAccepted: number;
  /** Inbound connections refused (Idle, or a third connection). */
  connectionsRefused: number;
  /** Collisions resolved (RFC 4271 6.8). */
  collisions: number;
}

export interface BgpFamilyStatus {
  readonly family: AddressFamily;
  /** Negotiated with the peer in the current (or last) session. */
  readonly negotiated: boolean;
  /** Prefixes currently in the Adj-RIB-Out. */
  readonly advertised: number;
  readonly endOfRibSent: boolean;
  /** Why this family is not announced (missing next hop, link-local local address...). */
  readonly problem?: string;
}

export interface BgpNegotiated {
  readonly holdTimeS: number;
  readonly keepaliveS: number;
  readonly families: readonly AddressFamily[];
  readonly fourOctetAs: boolean;
  readonly routeRefresh: boolean;
  /** The peer's graceful restart capability, if it sent one. */
  readonly peerGracefulRestart?: { readonly restartTimeS: number; readonly restarting: boolean; readonly families: readonly AddressFamily[] };
  /** The peer's capabilities as text ("multiprotocol ipv6-unicast", "four-octet-as 4200000001"...). */
  readonly peerCapabilities: readonly string[];
  readonly peerBgpId: string;
}

export interface BgpPeerStatus {
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  readonly localAsn: number;
  readonly type: 'ebgp' | 'ibgp';
  readonly description?: string;
  readonly state: FsmState;
  readonly passive: boolean;
  /** The connection's local and remote endpoints while one is open. */
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly remotePort?: number;
  /** Seconds in Established; 0 otherwise. */
  readonly uptimeS: number;
  /** Clock time the current session became Established. */
  readonly establishedAt?: number;
  /** Times the session left Established. */
  readonly flaps: number;
  /** Times the session reached Established. */
  readonly establishedTransitions: number;
  readonly negotiated?: BgpNegotiated;
  readonly families: readonly BgpFamilyStatus[];
  /** Prefixes in the Adj-RIB-Out, every family. */
  readonly routesAdvertised: number;
  readonly counters: Readonly<BgpPeerCounters>;
  readonly lastNotificationSent?: NotificationRecord;
  readonly lastNotificationReceived?: NotificationRecord;
  /** The last local failure (connect error, socket error, decode problem) as text. */
  readonly lastError?: string;
}

/** One TCP connection's worth of protocol: its FSM, framer, codec context, timers. */
interface Link {
  /** The current connection's (or outbound attempt's) id in logs; renewed for each one. */
  id: number;
  readonly fsm: BgpFsm;
  direction: 'outbound' | 'inbound' | undefined;
  connection: BgpConnection | undefined;
  framer: MessageFramer;
  codec: CodecContext;
  readonly timers: Map<FsmTimer, () => void>;
  connectAbort: AbortController | undefined;
  connectSeq: number;
  negotiated: BgpNegotiated | undefined;
  /** Resolves when the attached connection has closed. */
  closed: Promise<void>;
  /** No longer the primary or the collision candidate: its late callbacks are ignored. */
  discarded: boolean;
}

/** How long stop() waits for connections to close (the NOTIFICATION to flush). */
const STOP_WAIT_MS = 2000;

/**
 * RFC 2918 ROUTE-REFRESH re-sends a family's whole Adj-RIB-Out: a 23-byte request can cost
 * megabytes. At most one re-send per family per this interval; requests in between become one
 * re-send when it ends. A router asks once per operator action, so it never waits.
 */
const ROUTE_REFRESH_MIN_INTERVAL_MS = 1000;

const TIMER_EVENT: Readonly<Record<FsmTimer, FsmEvent>> = {
  connectRetry: { type: 'ConnectRetryTimerExpires' },
  hold: { type: 'HoldTimerExpires' },
  keepalive: { type: 'KeepaliveTimerExpires' },
  idleHold: { type: 'IdleHoldTimerExpires' },
  stable: { type: 'StableTimerExpires' },
};

function capabilityText(c: Capability): string {
  switch (c.kind) {
    case 'multiprotocol':
      return `multiprotocol ${addressFamilyOf(c.afi, c.safi) ?? `afi ${c.afi} safi ${c.safi}`}`;
    case 'route-refresh':
      return 'route-refresh';
    case 'four-octet-as':
      return `four-octet-as ${c.asn}`;
    case 'graceful-restart':
      return `graceful-restart${c.restarting ? ' restarting' : ''} ${c.restartTimeS}s`;
    case 'unknown':
      return `capability ${c.code}`;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class BgpSession {
  readonly config: BgpPeerConfig;
  readonly #globals: SessionGlobals;
  readonly #log: Logger;
  readonly #transport: BgpTransport;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onStateChange: (status: BgpPeerStatus) => void;
  readonly #timers: TimerSet;
  readonly #fsmConfig: FsmConfig;
  #primary: Link;
  #secondary: Link | undefined;
  readonly #nextLinkId: () => number;
  /** Clock time of the last connection taken during the idle hold (see the module comment). */
  #lastIdleHoldAcceptAt: number | undefined;
  /** Per family: the last ROUTE-REFRESH re-send, and a coalesced one waiting for the interval. */
  readonly #refreshes = new Map<AddressFamily, { lastAt: number; cancelPending: (() => void) | undefined }>();
  #started = false;
  #stopped = false;

  readonly #adjRibOut = new AdjRibOut();
  #routes: ReadonlyMap<string, BgpRoute> = new Map();
  #plans = new Map<AddressFamily, FamilyPlan>();
  readonly #endOfRibSent = new Set<AddressFamily>();
  /** End-of-RIB (and the R bit) wait for the speaker's initial routes while restarting. */
  #restartPending: boolean;

  #establishedAt: number | undefined;
  #flaps = 0;
  #establishedTransitions = 0;
  #lastNegotiated: BgpNegotiated | undefined;
  readonly #counters: BgpPeerCounters = {
    messagesIn: 0,
    messagesOut: 0,
    opensIn: 0,
    opensOut: 0,
    updatesIn: 0,
    updatesOut: 0,
    keepalivesIn: 0,
    keepalivesOut: 0,
    notificationsIn: 0,
    notificationsOut: 0,
    routeRefreshesIn: 0,
    connectAttempts: 0,
    connectionsAccepted: 0,
    connectionsRefused: 0,
    collisions: 0,
  };
  #lastNotificationSent: NotificationRecord | undefined;
  #lastNotificationReceived: NotificationRecord | undefined;
  #lastError: string | undefined;
  #lastReportedState: FsmState = 'Idle';

  constructor(config: BgpPeerConfig, globals: SessionGlobals, components: SessionComponents) {
    this.config = config;
    this.#globals = globals;
    this.#log = components.logger;
    this.#transport = components.transport;
    this.#clock = components.clock;
    this.#random = components.random ?? Math.random;
    this.#onStateChange = components.onStateChange;
    let ownLinkIds = 0;
    this.#nextLinkId = components.nextLinkId ?? (() => ++ownLinkIds);
    this.#restartPending = globals.restarting;
    this.#timers = new TimerSet(this.#clock, (err) => {
      this.#log.error({ err }, 'BGP timer callback failed');
    });
    this.#fsmConfig = {
      holdTimeS: config.holdTimeS,
      connectRetryS: config.connectRetryS,
      connectRetryMaxS: config.connectRetryMaxS,
      passive: config.passive,
      autoRestart: true,
      random: this.#random,
    };
    this.#primary = this.#newLink(new BgpFsm(this.#fsmConfig));
    for (const family of config.families) {
      const problem = configuredFamilyProblem(family, config.address, config.nextHopIpv4, config.nextHopIpv6);
      if (problem !== undefined) this.#log.warn({ family }, `${family} will not be announced to this peer: ${problem}`);
    }
  }

  get address(): string {
    return this.config.address;
  }

  get state(): FsmState {
    return this.#primary.fsm.state;
  }

  /** RFC 4271 8.1.2 ManualStart (event 1, or 5 for a passive peer): connect at once. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#feed(this.#primary, { type: 'ManualStart' });
  }

  /**
   * ManualStop. With `ceaseSubcode`, a Cease NOTIFICATION goes out first (routers drop the
   * routes at once); without, the TCP connection just closes (a GR helper keeps them).
   * Resolves when the connections have closed (at most STOP_WAIT_MS). The session is done.
   */
  async stop(opts: { ceaseSubcode?: number } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const links = [this.#primary, ...(this.#secondary === undefined ? [] : [this.#secondary])];
    const closing = links.filter((l) => l.connection !== undefined).map((l) => l.closed);
    const event: FsmEvent = opts.ceaseSubcode === undefined ? { type: 'ManualStop' } : { type: 'ManualStop', ceaseSubcode: opts.ceaseSubcode };
    for (const link of links) this.#feed(link, event);
    if (closing.length > 0) {
      await new Promise<void>((resolve) => {
        const cancel = this.#timers.after(STOP_WAIT_MS, resolve);
        void Promise.all(closing).then(() => {
          cancel();
          resolve();
        });
      });
    }
    this.#timers.close();
  }

  /** An inbound connection from this peer's address (the speaker's listener routed it here). */
  acceptConnection(connection: BgpConnection): void {
    try {
      this.#accept(connection);
    } catch (err) {
      this.#log.error({ err }, 'accepting a BGP connection failed');
      connection.destroy();
    }
  }

  /** The speaker's whole desired set (already validated and keyed by prefix text). */
  setRoutes(routes: ReadonlyMap<string, BgpRoute>): void {
    this.#routes = routes;
    if (this.#primary.fsm.state === 'Established') this.#syncRoutes();
  }

  /** Graceful restart: the initial routes are in; End-of-RIB may go (and later OPENs carry no R bit). */
  initialRoutesLoaded(): void {
    if (!this.#restartPending) return;
    this.#restartPending = false;
    if (this.#primary.fsm.state === 'Established') this.#sendEndOfRibs();
  }

  status(): BgpPeerStatus {
    const link = this.#primary;
    const state = link.fsm.state;
    const connection = link.connection;
    const negotiated = link.negotiated ?? this.#lastNegotiated;
    const establishedAt = state === 'Established' ? this.#establishedAt : undefined;
    const families: BgpFamilyStatus[] = this.config.families.map((family) => {
      const plan = this.#plans.get(family);
      const problem =
        plan?.encoding === 'none'
          ? plan.problem
          : configuredFamilyProblem(family, this.config.address, this.config.nextHopIpv4, this.config.nextHopIpv6) ??
            (negotiated !== undefined && !negotiated.families.includes(family) ? 'not negotiated: the peer did not offer this family' : undefined);
      return {
        family,
        negotiated: negotiated?.families.includes(family) ?? false,
        advertised: this.#adjRibOut.count(family),
        endOfRibSent: this.#endOfRibSent.has(family),
        ...(problem === undefined ? {} : { problem }),
      };
    });
    return {
      address: this.config.address,
      port: this.config.port,
      asn: this.config.asn,
      localAsn: this.#globals.asn,
      type: this.config.asn === this.#globals.asn ? 'ibgp' : 'ebgp',
      ...(this.config.description === undefined ? {} : { description: this.config.description }),
      state,
      passive: this.config.passive,
      ...(connection === undefined ? {} : { localAddress: connection.localAddress, localPort: connection.localPort, remotePort: connection.remotePort }),
      uptimeS: establishedAt === undefined ? 0 : Math.max(0, (this.#clock.now() - establishedAt) / 1000),
      ...(establishedAt === undefined ? {} : { establishedAt }),
      flaps: this.#flaps,
      establishedTransitions: this.#establishedTransitions,
      ...(negotiated === undefined ? {} : { negotiated }),
      families,
      routesAdvertised: this.#adjRibOut.size,
      counters: { ...this.#counters },
      ...(this.#lastNotificationSent === undefined ? {} : { lastNotificationSent: this.#lastNotificationSent }),
      ...(this.#lastNotificationReceived === undefined ? {} : { lastNotificationReceived: this.#lastNotificationReceived }),
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  // ---- links and the FSM ----------------------------------------------------------------------

  #newLink(fsm: BgpFsm, id = this.#nextLinkId()): Link {
    return {
      id,
      fsm,
      direction: undefined,
      connection: undefined,
      framer: new MessageFramer(),
      codec: { fourOctetAs: false },
      timers: new Map(),
      connectAbort: undefined,
      connectSeq: 0,
      negotiated: undefined,
      closed: Promise.resolve(),
      discarded: false,
    };
  }

  #isLive(link: Link): boolean {
    return !link.discarded && (link === this.#primary || link === this.#secondary);
  }

  /** Runs one event through a link's FSM and carries out what it asks. */
  #feed(link: Link, event: FsmEvent): void {
    if (!this.#isLive(link)) return;
    const transition = link.fsm.handle(event);
    if (transition.from !== transition.to || transition.actions.length > 0) {
      this.#log.debug({ link: link.id, event: event.type, from: transition.from, to: transition.to, actions: transition.actions.map((a) => a.type) }, 'FSM');
    }
    for (const action of transition.actions) this.#perform(link, action);
    if (transition.from !== transition.to) this.#transitioned(link, transition.from, transition.to);
  }

  #perform(link: Link, action: FsmAction): void {
    switch (action.type) {
      case 'connect':
        this.#connect(link);
        return;
      case 'drop-connection':
        this.#dropConnection(link);
        return;
      case 'send-open':
        this.#send(link, this.#openMessage());
        return;
      case 'send-keepalive':
        this.#send(link, { type: 'keepalive' });
        return;
      case 'send-notification': {
        const record: NotificationRecord = { code: action.code, subcode: action.subcode, text: describeNotification(action.code, action.subcode, action.data), at: this.#clock.now() };
        const adminStop = this.#stopped && action.code === ERROR_CODE.cease;
        this.#log[adminStop ? 'info' : 'warn']({ link: link.id, code: action.code, subcode: action.subcode }, `sending NOTIFICATION ${record.text}`);
        if (this.#send(link, { type: 'notification', code: action.code, subcode: action.subcode, data: action.data })) this.#lastNotificationSent = record;
        return;
      }
      case 'start-timer': {
        link.timers.get(action.timer)?.();
        const cancel = this.#timers.after(action.seconds * 1000, () => {
          link.timers.delete(action.timer);
          this.#guarded(link, () => {
            this.#feed(link, TIMER_EVENT[action.timer]);
          });
        });
        link.timers.set(action.timer, cancel);
        return;
      }
      case 'stop-timer':
        link.timers.get(action.timer)?.();
        link.timers.delete(action.timer);
        return;
      case 'release-resources':
        link.negotiated = undefined;
        link.codec = { fourOctetAs: false };
        link.framer = new MessageFramer();
        return;
    }
  }

  /** After a state change: Established side effects, promotion of a collision survivor, status events. */
  #transitioned(link: Link, from: FsmState, to: FsmState): void {
    if (link === this.#secondary) {
      if (to === 'Idle') this.#discard(link);
      return;
    }
    if (link !== this.#primary) return;
    if (from === 'Established') this.#sessionDown();
    if (to === 'Established') this.#sessionUp(link);
    // The primary failed while a second connection lives: that one carries on (RFC 4271 8:
    // it is just another FSM for the same peer).
    const secondary = this.#secondary;
    if ((to === 'Idle' || to === 'Active' || to === 'Connect') && secondary !== undefined && secondary.fsm.state !== 'Idle' && !this.#stopped) {
      this.#promote(secondary);
    }
    this.#reportState();
  }

  #promote(secondary: Link): void {
    const old = this.#primary;
    this.#log.debug({ from: old.id, to: secondary.id }, 'the second connection becomes the primary');
    secondary.fsm.promote(old.fsm, this.config.passive);
    this.#secondary = undefined;
    this.#primary = secondary;
    this.#discard(old);
    if (secondary.fsm.state === 'Established') this.#sessionUp(secondary);
  }

  /** Forgets a link: its timers, any pending connect and any connection. */
  #discard(link: Link): void {
    link.discarded = true;
    for (const cancel of link.timers.values()) cancel();
    link.timers.clear();
    link.connectAbort?.abort();
    link.connectAbort = undefined;
    const connection = link.connection;
    link.connection = undefined;
    connection?.end();
    if (this.#secondary === link) this.#secondary = undefined;
  }

  #reportState(): void {
    const state = this.#primary.fsm.state;
    if (state === this.#lastReportedState) return;
    this.#lastReportedState = state;
    // Established has its one info line, with the negotiated values, from #sessionUp.
    if (state === 'Idle') this.#log.info({ state }, `BGP session ${state}`);
    else this.#log.debug({ state }, `BGP session ${state}`);
    try {
      this.#onStateChange(this.status());
    } catch (err) {
      this.#log.error({ err }, 'a peer-state listener failed');
    }
  }

  /** Runs `fn` for a link; an unexpected exception is logged and costs the link its connection, never the process. */
  #guarded(link: Link, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#lastError = errorText(err);
      this.#log.error({ err, link: link.id }, 'BGP session internal error; dropping the connection');
      try {
        const connection = link.connection;
        this.#feed(link, { type: 'TcpConnectionFails' });
        if (link.connection === connection) {
          link.connection = undefined;
          connection?.destroy();
        }
      } catch (again) {
        this.#log.error({ err: again, link: link.id }, 'BGP session could not recover from an internal error');
        this.#discard(link);
      }
    }
  }

  // ---- connections ----------------------------------------------------------------------------

  #connect(link: Link): void {
    link.connectAbort?.abort();
    const abort = new AbortController();
    const seq = ++link.connectSeq;
    link.connectAbort = abort;
    // The attempt's id is the id of the connection it makes.
    const id = this.#nextLinkId();
    link.id = id;
    this.#counters.connectAttempts++;
    const opts = {
      remoteAddress: this.config.address,
      remotePort: this.config.port,
      signal: abort.signal,
      ...(this.config.localAddress === undefined ? {} : { localAddress: this.config.localAddress }),
      ...(this.config.ttl === undefined ? {} : { ttl: this.config.ttl }),
    };
    this.#log.debug({ link: link.id, localAddress: this.config.localAddress, port: this.config.port }, 'connecting');
    let attempt: Promise<BgpConnection>;
    try {
      attempt = this.#transport.connect(opts);
    } catch (err) {
      attempt = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    void attempt.then(
      (connection) => {
        this.#guarded(link, () => {
          this.#connected(link, seq, abort, connection, id);
        });
      },
      (err: unknown) => {
        this.#guarded(link, () => {
          this.#connectFailed(link, seq, abort, err);
        });
      },
    );
  }

  #connected(link: Link, seq: number, abort: AbortController, connection: BgpConnection, id: number): void {
    if (abort.signal.aborted || this.#stopped || !this.#isLive(link)) {
      connection.destroy();
      return;
    }
    if (link.connectSeq === seq) link.connectAbort = undefined;
    if (link.connectSeq === seq && link.connection === undefined && link.fsm.state === 'Connect') {
      this.#attach(link, connection, 'outbound', { type: 'TcpCrAcked' }, id);
      return;
    }
    // Our connection completed after theirs was accepted: a collision candidate.
    this.#offerSecondary(connection, 'outbound', id);
  }

  #connectFailed(link: Link, seq: number, abort: AbortController, err: unknown): void {
    if (abort.signal.aborted || !this.#isLive(link)) return;
    this.#lastError = errorText(err);
    this.#log.debug({ err: this.#lastError, link: link.id }, 'connect failed');
    if (link.connectSeq !== seq) return;
    link.connectAbort = undefined;
    if (link.connection === undefined && link.fsm.state === 'Connect') this.#feed(link, { type: 'TcpConnectionFails' });
  }

  #accept(connection: BgpConnection): void {
    if (!this.#started || this.#stopped) {
      this.#refuse(connection, 'the session is not running');
      return;
    }
    if (this.config.ttl !== undefined && connection.setTtl?.(this.config.ttl) === false) {
      this.#log.warn({ ttl: this.config.ttl }, 'could not set the TTL of an accepted connection');
    }
    const primary = this.#primary;
    if (primary.fsm.acceptsConnection && primary.connection === undefined) {
      // RFC 4271 8.2.2 Connect/Active, event 17. A connect of ours still under way stays so:
      // if it completes it becomes the collision candidate.
      this.#counters.connectionsAccepted++;
      this.#attach(primary, connection, 'inbound', { type: 'TcpConnectionConfirmed' }, this.#nextLinkId());
      return;
    }
    if (primary.fsm.state === 'Idle' && primary.connection === undefined) {
      this.#acceptInIdleHold(connection);
      return;
    }
    this.#offerSecondary(connection, 'inbound', this.#nextLinkId());
  }

  /** The peer connects back while we wait out the idle hold (module comment: the two limits). */
  #acceptInIdleHold(connection: BgpConnection): void {
    const primary = this.#primary;
    if (!primary.fsm.acceptsConnectionInIdleHold) {
      this.#refuse(connection, 'the session is Idle after an error; waiting out the idle hold');
      return;
    }
    const now = this.#clock.now();
    const last = this.#lastIdleHoldAcceptAt;
    if (last !== undefined && now - last < this.config.connectRetryS * 1000) {
      this.#refuse(connection, `the session is Idle, and a connection was already taken during an idle hold ${Math.round(now - last)} ms ago`);
      return;
    }
    this.#lastIdleHoldAcceptAt = now;
    this.#counters.connectionsAccepted++;
    const id = this.#nextLinkId();
    this.#log.info({ link: id, remotePort: connection.remotePort }, 'the peer connected during the idle hold: taking its connection');
    this.#attach(primary, connection, 'inbound', { type: 'TcpConnectionConfirmed' }, id);
  }

  /** A second connection for an FSM that already has one: kept until an OPEN shows which one wins. */
  #offerSecondary(connection: BgpConnection, direction: 'outbound' | 'inbound', id: number): void {
    const state = this.#primary.fsm.state;
    const busy = state === 'OpenSent' || state === 'OpenConfirm' || state === 'Established';
    if (!busy || this.#secondary !== undefined) {
      // RFC 4271 8.2.2 Idle refuses connections; and never more than two at once.
      this.#refuse(connection, `the session is ${state}${this.#secondary === undefined ? '' : ' with a collision pending'}`);
      return;
    }
    if (direction === 'inbound') this.#counters.connectionsAccepted++;
    const link = this.#newLink(BgpFsm.forOpenConnection(this.#fsmConfig), id);
    this.#secondary = link;
    this.#attach(link, connection, direction, { type: direction === 'inbound' ? 'TcpConnectionConfirmed' : 'TcpCrAcked' }, id);
  }

  #refuse(connection: BgpConnection, why: string): void {
    this.#counters.connectionsRefused++;
    this.#log.debug({ remotePort: connection.remotePort }, `refusing a connection: ${why}`);
    connection.destroy();
  }

  /**
   * Gives `connection` to `link` and runs `event` (TcpCrAcked / TcpConnectionConfirmed) before
   * listening to it: bytes that arrived already (the peer's OPEN) must meet an FSM in OpenSent.
   */
  #attach(link: Link, connection: BgpConnection, direction: 'outbound' | 'inbound', event: FsmEvent, id: number): void {
    link.id = id;
    link.connection = connection;
    link.direction = direction;
    link.framer = new MessageFramer();
    link.codec = { fourOctetAs: false };
    link.negotiated = undefined;
    let closed!: () => void;
    link.closed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    this.#log.debug({ link: link.id, direction, localAddress: connection.localAddress, localPort: connection.localPort, remotePort: connection.remotePort }, 'TCP connection up');
    this.#feed(link, event);
    connection.onClose((error) => {
      closed();
      this.#guarded(link, () => {
        if (link.connection !== connection) return;
        if (error !== undefined) this.#lastError = error.message;
        this.#log.debug({ link: link.id, err: error?.message }, 'TCP connection closed');
        link.connection = undefined;
        this.#feed(link, { type: 'TcpConnectionFails' });
      });
    });
    connection.onData((chunk) => {
      this.#guarded(link, () => {
        this.#onData(link, connection, chunk);
      });
    });
  }

  #dropConnection(link: Link): void {
    link.connectAbort?.abort();
    link.connectAbort = undefined;
    const connection = link.connection;
    if (connection === undefined) return;
    link.connection = undefined;
    // end(), not destroy(): a NOTIFICATION just written must reach the peer, and without one a
    // GR helper still sees a plain close (the transport resets it if the peer never answers).
    connection.end();
  }

  // ---- messages in ----------------------------------------------------------------------------

  #onData(link: Link, connection: BgpConnection, chunk: Uint8Array): void {
    if (link.connection !== connection) return;
    let frames: Uint8Array[];
    try {
      frames = link.framer.push(chunk);
    } catch (err) {
      this.#protocolError(link, err);
      return;
    }
    for (const frame of frames) {
      if (link.connection !== connection) return;
      let message: BgpMessage;
      try {
        message = decodeMessage(frame, link.codec);
      } catch (err) {
        this.#protocolError(link, err);
        return;
      }
      this.#onMessage(link, message);
    }
  }

  /** A BgpProtocolError carries its NOTIFICATION; the FSM event depends on the message it concerns (RFC 4271 8.1.5). */
  #protocolError(link: Link, err: unknown): void {
    if (!(err instanceof BgpProtocolError)) throw err;
    this.#lastError = err.message;
    this.#log.warn({ link: link.id, code: err.notificationCode, subcode: err.notificationSubcode }, `protocol error from peer: ${err.message}`);
    const notification = { code: err.notificationCode, subcode: err.notificationSubcode, data: err.data };
    if (err.notificationCode === ERROR_CODE.openMessage) this.#feed(link, { type: 'BGPOpenMsgErr', notification });
    else if (err.notificationCode === ERROR_CODE.updateMessage) this.#feed(link, { type: 'UpdateMsgErr', notification });
    else this.#feed(link, { type: 'BGPHeaderErr', notification });
  }

  #onMessage(link: Link, message: BgpMessage): void {
    this.#counters.messagesIn++;
    this.#log.debug({ link: link.id, type: message.type }, 'message in');
    switch (message.type) {
      case 'open':
        this.#counters.opensIn++;
        this.#onOpen(link, message);
        return;
      case 'update': {
        this.#counters.updatesIn++;
        // Announce-only: what the peer announces is not used, but it keeps the session alive.
        if (message.attributeErrors !== undefined && message.attributeErrors.length > 0) {
          this.#log.debug({ link: link.id, errors: message.attributeErrors }, 'UPDATE attribute errors handled per RFC 7606');
        }
        const eor = isEndOfRib(message);
        if (eor !== undefined) this.#log.debug({ family: eor }, 'End-of-RIB from peer');
        this.#feed(link, { type: 'UpdateMsg' });
        return;
      }
      case 'notification': {
        this.#counters.notificationsIn++;
        const record: NotificationRecord = { code: message.code, subcode: message.subcode, text: describeNotification(message.code, message.subcode, message.data), at: this.#clock.now() };
        this.#lastNotificationReceived = record;
        this.#log.warn({ link: link.id, code: message.code, subcode: message.subcode }, `NOTIFICATION from peer: ${record.text}`);
        this.#feed(link, { type: 'NotifMsg', code: message.code });
        return;
      }
      case 'keepalive':
        this.#counters.keepalivesIn++;
        this.#feed(link, { type: 'KeepAliveMsg' });
        return;
      case 'route-refresh':
        this.#counters.routeRefreshesIn++;
        this.#onRouteRefresh(link, message.afi, message.safi, message.subtype);
        return;
    }
  }

  /** RFC 4271 6.2 checks the codec cannot make (they need the configuration), then negotiation and collision detection. */
  #onOpen(link: Link, open: OpenMessage): void {
    if (link.fsm.state !== 'OpenSent') {
      // OPEN in OpenConfirm or Established: the FSM answers with an FSM Error (RFC 6608).
      this.#feed(link, { type: 'BGPOpen', holdTimeS: open.holdTimeS });
      return;
    }
    const reject = (subcode: number, reason: string): void => {
      this.#lastError = `OPEN rejected: ${reason}`;
      this.#log.warn({ link: link.id, peerAsn: open.asn, bgpId: open.bgpId, holdTimeS: open.holdTimeS }, `OPEN rejected: ${reason}`);
      this.#feed(link, { type: 'BGPOpenMsgErr', notification: { code: ERROR_CODE.openMessage, subcode } });
    };
    if (open.asn !== this.config.asn) {
      reject(OPEN_SUBCODE.badPeerAs, `peer AS ${open.asn}, configured ${this.config.asn}`);
      return;
    }
    const hold = negotiateHoldTime(this.config.holdTimeS, open.holdTimeS);
    if (hold === undefined) {
      reject(OPEN_SUBCODE.unacceptableHoldTime, `hold time ${open.holdTimeS} s`);
      return;
    }
    if (open.bgpId === '0.0.0.0' || (this.config.asn === this.#globals.asn && open.bgpId === this.#globals.routerId)) {
      // RFC 6286 2.2: within one AS the identifiers must differ.
      reject(OPEN_SUBCODE.badBgpIdentifier, `BGP Identifier ${open.bgpId}`);
      return;
    }
    const negotiated = this.#negotiate(open, hold);
    link.negotiated = negotiated;
    link.codec = { fourOctetAs: negotiated.fourOctetAs };
    if (!this.#resolveCollision(link, open)) return;
    this.#feed(link, { type: 'BGPOpen', holdTimeS: open.holdTimeS });
  }

  #negotiate(open: OpenMessage, holdTimeS: number): BgpNegotiated {
    const mp = open.capabilities.filter((c) => c.kind === 'multiprotocol');
    // RFC 4760 / RFC 5492: a peer that advertises no multiprotocol capability speaks IPv4 unicast only.
    const peerFamilies = new Set<AddressFamily>(mp.length === 0 ? ['ipv4-unicast'] : mp.flatMap((c) => addressFamilyOf(c.afi, c.safi) ?? []));
    const families = this.config.families.filter((f) => peerFamilies.has(f));
    const gr = open.capabilities.find((c) => c.kind === 'graceful-restart');
    return {
      holdTimeS,
      keepaliveS: keepaliveS(holdTimeS),
      families,
      fourOctetAs: open.capabilities.some((c) => c.kind === 'four-octet-as'),
      routeRefresh: open.capabilities.some((c) => c.kind === 'route-refresh'),
      ...(gr === undefined
        ? {}
        : {
            peerGracefulRestart: {
              restartTimeS: gr.restartTimeS,
              restarting: gr.restarting,
              families: gr.families.flatMap((f) => addressFamilyOf(f.afi, f.safi) ?? []),
            },
          }),
      peerCapabilities: open.capabilities.map(capabilityText),
      peerBgpId: open.bgpId,
    };
  }

  /**
   * RFC 4271 6.8, on an OPEN that passed validation: with another connection in OpenSent,
   * OpenConfirm (the peer's identifier is the one just received) or Established, one of the
   * two goes. Returns false when it is this one.
   */
  #resolveCollision(link: Link, open: OpenMessage): boolean {
    const other = link === this.#primary ? this.#secondary : this.#primary;
    if (other === undefined || other.connection === undefined) return true;
    const otherState = other.fsm.state;
    if (otherState !== 'OpenSent' && otherState !== 'OpenConfirm' && otherState !== 'Established') return true;
    this.#counters.collisions++;
    if (otherState === 'Established') {
      if (other.negotiated?.peerGracefulRestart !== undefined) {
        // RFC 4724 4.2: an OPEN on a new connection from a GR peer whose session is still
        // Established means the peer restarted: the old connection goes, the new one stays.
        this.#log.info({ keep: link.id, drop: other.id }, 'the peer restarted (graceful restart): replacing the old connection');
        this.#feed(other, { type: 'TcpConnectionFails' });
        return true;
      }
      // RFC 4271 6.8: a collision with an Established connection closes the new one.
      this.#log.info({ keep: other.id, drop: link.id }, 'connection collision with the Established session: closing the new connection');
      this.#feed(link, { type: 'OpenCollisionDump' });
      return false;
    }
    let keepThis: boolean;
    if (link.direction === other.direction) {
      keepThis = false; // two connections the same way: the older one stays
    } else {
      const keep = resolveCollision({ localId: this.#globals.routerId, localAsn: this.#globals.asn, remoteId: open.bgpId, remoteAsn: this.config.asn });
      keepThis = (keep === 'keep-outbound') === (link.direction === 'outbound');
    }
    const [winner, loser] = keepThis ? [link, other] : [other, link];
    this.#log.info({ keep: winner.id, keepDirection: winner.direction, drop: loser.id, localId: this.#globals.routerId, remoteId: open.bgpId }, 'connection collision resolved');
    this.#feed(loser, { type: 'OpenCollisionDump' });
    return keepThis;
  }

  /** RFC 2918 4: re-advertise the whole Adj-RIB-Out of that family. */
  #onRouteRefresh(link: Link, afi: number, safi: number, subtype: number): void {
    const family = addressFamilyOf(afi, safi);
    const negotiated = link.negotiated;
    if (link !== this.#primary || link.fsm.state !== 'Established' || negotiated === undefined) {
      this.#log.debug({ link: link.id, afi, safi }, 'ROUTE-REFRESH outside Established: ignored');
      return;
    }
    // RFC 7313 subtypes 1 and 2 (BoRR/EoRR) mark the peer's own refresh; only 0 is a request.
    if (subtype !== 0 || family === undefined || !negotiated.families.includes(family)) {
      this.#log.debug({ afi, safi, subtype }, 'ROUTE-REFRESH for a family not negotiated (or a marker): ignored');
      return;
    }
    const now = this.#clock.now();
    const last = this.#refreshes.get(family);
    if (last === undefined || now - last.lastAt >= ROUTE_REFRESH_MIN_INTERVAL_MS) {
      this.#resendFamily(link, family);
      return;
    }
    if (last.cancelPending !== undefined) {
      this.#log.debug({ family }, 'ROUTE-REFRESH: a re-send is already scheduled; coalesced');
      return;
    }
    const waitMs = last.lastAt + ROUTE_REFRESH_MIN_INTERVAL_MS - now;
    this.#log.debug({ family, waitMs }, 'ROUTE-REFRESH: re-sent moments ago; one more re-send when the interval ends');
    last.cancelPending = this.#timers.after(waitMs, () => {
      last.cancelPending = undefined;
      if (this.#primary !== link || link.fsm.state !== 'Established') return;
      this.#guarded(link, () => {
        this.#resendFamily(link, family);
      });
    });
  }

  #resendFamily(link: Link, family: AddressFamily): void {
    const record = this.#refreshes.get(family);
    if (record === undefined) this.#refreshes.set(family, { lastAt: this.#clock.now(), cancelPending: undefined });
    else record.lastAt = this.#clock.now();
    const entries = this.#adjRibOut.entries(family);
    this.#log.info({ family, prefixes: entries.length }, 'ROUTE-REFRESH: re-sending the Adj-RIB-Out');
    this.#sendBatches(link, batchChanges({ announce: entries, withdraw: [] }, this.#plans));
  }

  /** Scheduled ROUTE-REFRESH re-sends belong to one session: forgotten when it ends. */
  #forgetRefreshes(): void {
    for (const record of this.#refreshes.values()) record.cancelPending?.();
    this.#refreshes.clear();
  }

  // ---- messages out ---------------------------------------------------------------------------

  #openMessage(): OpenMessage {
    const capabilities: Capability[] = this.config.families.map((family) => ({ kind: 'multiprotocol', ...afiSafiOf(family) }));
    capabilities.push({ kind: 'route-refresh' }, { kind: 'four-octet-as', asn: this.#globals.asn });
    const gr = this.#globals.gracefulRestart;
    if (gr.enabled) {
      // RFC 4724 3: R while this restart is not finished; F per family when the dataplane kept
      // forwarding through it (a restarting speaker's LB kernel state survives the process).
      capabilities.push({
        kind: 'graceful-restart',
        restarting: this.#restartPending,
        notification: false,
        restartTimeS: gr.restartTimeS,
        families: this.config.families.map((family) => ({ ...afiSafiOf(family), forwardingPreserved: this.#globals.restarting })),
      });
    }
    return { type: 'open', version: 4, asn: this.#globals.asn, holdTimeS: this.config.holdTimeS, bgpId: this.#globals.routerId, capabilities };
  }

  /** Encodes and writes; false when nothing went out (no connection, or an encoding bug, logged). */
  #send(link: Link, message: BgpMessage): boolean {
    const connection = link.connection;
    if (connection === undefined) return false;
    let bytes: Buffer;
    try {
      bytes = encodeMessage(message, link.codec);
    } catch (err) {
      if (!(err instanceof BgpError)) throw err;
      this.#lastError = err.message;
      this.#log.error({ err, type: message.type }, 'a BGP message could not be encoded; not sent');
      return false;
    }
    connection.write(bytes);
    this.#counters.messagesOut++;
    switch (message.type) {
      case 'open':
        this.#counters.opensOut++;
        break;
      case 'update':
        this.#counters.updatesOut++;
        break;
      case 'notification':
        this.#counters.notificationsOut++;
        break;
      case 'keepalive':
        this.#counters.keepalivesOut++;
        break;
      case 'route-refresh':
        break;
    }
    this.#log.debug({ link: link.id, type: message.type, bytes: bytes.length }, 'message out');
    return true;
  }

  // ---- routes ---------------------------------------------------------------------------------

  #exportContext(link: Link): SessionExport | undefined {
    const connection = link.connection;
    const negotiated = link.negotiated;
    if (connection === undefined || negotiated === undefined) return undefined;
    return {
      localAsn: this.#globals.asn,
      peerAsn: this.config.asn,
      localAddress: connection.localAddress,
      families: negotiated.families,
      ...(this.config.nextHopIpv4 === undefined ? {} : { nextHopIpv4: this.config.nextHopIpv4 }),
      ...(this.config.nextHopIpv6 === undefined ? {} : { nextHopIpv6: this.config.nextHopIpv6 }),
    };
  }

  #sessionUp(link: Link): void {
    this.#establishedAt = this.#clock.now();
    this.#establishedTransitions++;
    this.#lastNegotiated = link.negotiated;
    this.#adjRibOut.clear();
    this.#endOfRibSent.clear();
    this.#forgetRefreshes();
    const ctx = this.#exportContext(link);
    this.#plans = new Map(ctx === undefined ? [] : ctx.families.map((family) => [family, planFamily(family, ctx)] as const));
    for (const plan of this.#plans.values()) {
      if (plan.encoding === 'none') this.#log.warn({ family: plan.family }, `${plan.family} not announced: ${plan.problem}`);
    }
    this.#log.info(
      { localAddress: link.connection?.localAddress, holdTimeS: link.negotiated?.holdTimeS, families: link.negotiated?.families, peerBgpId: link.negotiated?.peerBgpId },
      'BGP session Established',
    );
    this.#syncRoutes();
    if (!this.#restartPending) this.#sendEndOfRibs();
  }

  #sessionDown(): void {
    this.#forgetRefreshes();
    this.#flaps++;
    this.#establishedAt = undefined;
    this.#adjRibOut.clear();
    this.#endOfRibSent.clear();
  }

  /** Diffs the desired routes against the Adj-RIB-Out and sends the difference. */
  #syncRoutes(): void {
    const link = this.#primary;
    if (link.fsm.state !== 'Established') return;
    const ctx = this.#exportContext(link);
    if (ctx === undefined) return;
    const desired = exportRoutes(this.#routes, ctx, this.#plans);
    const changes = this.#adjRibOut.update(desired);
    if (changes.announce.length === 0 && changes.withdraw.length === 0) return;
    this.#log.debug({ announce: changes.announce.length, withdraw: changes.withdraw.length }, 'Adj-RIB-Out changes');
    this.#sendBatches(link, batchChanges(changes, this.#plans));
  }

  #sendBatches(link: Link, batches: ReturnType<typeof batchChanges>): void {
    let updates;
    try {
      updates = buildUpdates(batches, link.codec);
    } catch (err) {
      if (!(err instanceof BgpError)) throw err;
      this.#lastError = err.message;
      this.#log.error({ err }, 'UPDATEs could not be built; routes not sent');
      return;
    }
    for (const update of updates) this.#send(link, update);
  }

  /** RFC 4724 2: one End-of-RIB per negotiated family, after the initial UPDATEs. */
  #sendEndOfRibs(): void {
    const link = this.#primary;
    if (link.fsm.state !== 'Established') return;
    for (const family of link.negotiated?.families ?? []) {
      if (this.#endOfRibSent.has(family)) continue;
      if (this.#send(link, endOfRib(family))) this.#endOfRibSent.add(family);
    }
  }
}

