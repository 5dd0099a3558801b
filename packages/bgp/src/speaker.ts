/**
 * The public face of the package: an announce-only BGP speaker. The caller says which routes
 * should be announced (the whole set, MetalLB style); the speaker keeps one session per peer
 * and sends each peer only what changed. It never learns routes.
 */
import type { Logger } from 'pino';
import { systemClock, TimerSet, type Clock } from '@shoal/model';
import { normalizeRoutes, type BgpRoute } from './adj-rib-out.js';
import { bgpPeerConfigs, bgpSpeakerConfig, type BgpPeerConfig, type BgpPeerInit, type BgpSpeakerConfig, type BgpSpeakerInit } from './config.js';
import { BgpError } from './errors.js';
import { CEASE_SUBCODE } from './messages.js';
import { BgpSession, type BgpPeerStatus } from './session.js';
import { createTcpTransport } from './tcp-transport.js';
import type { BgpConnection, BgpListener, BgpTransport } from './transport.js';
import { canonicalAddress } from './prefix.js';

export interface BgpSpeakerComponents {
  readonly logger: Logger;
  /** @default TCP (node:net) */
  readonly transport?: BgpTransport;
  /** @default the system's monotonic clock */
  readonly clock?: Clock;
  /** [0, 1) source of the timer jitter. @default Math.random */
  readonly random?: () => number;
}

export interface BgpSpeakerStopOptions {
  /**
   * false (default): every session ends with Cease/Administrative Shutdown, and the routers drop
   * our routes at once. true: the TCP connections just close, so graceful restart helpers keep
   * forwarding to us for the restart time (a planned restart).
   */
  readonly preserveForwarding?: boolean;
}

export interface BgpSpeaker {
  /** Binds the listener (if any) and starts every peer. Rejects with BgpError E_BGP_SOCKET when it cannot listen. */
  start(): Promise<void>;
  /**
   * The full desired set of routes. Each peer's Adj-RIB-Out is diffed against it and only the
   * changes are sent; calls in the same tick are coalesced. Throws BgpError E_BGP_CONFIG for a
   * bad route (`routes[2].med: ...`), leaving the previous set in force.
   */
  setRoutes(routes: readonly BgpRoute[]): void;
  /** Graceful restart: the initial routes are in, End-of-RIB may go (see BgpSpeakerInit.restarting). */
  markInitialRoutesLoaded(): void;
  /** Config reload: adds, removes and restarts only the peers that changed. Throws BgpError E_BGP_CONFIG (`peers[1].asn: ...`). */
  setPeers(peers: readonly BgpPeerInit[]): void;
  peers(): BgpPeerStatus[];
  /** Ends every session (see BgpSpeakerStopOptions) and closes the listener. */
  stop(opts?: BgpSpeakerStopOptions): Promise<void>;
  /** A peer's state changed; returns the unsubscribe function. */
  on(event: 'peer-state', fn: (status: BgpPeerStatus) => void): () => void;
}

/**
 * Connections from addresses that are not peers are closed at once and logged at info at most
 * once per this interval (with the count of the ones in between): a flood of them must not
 * become a flood of log lines.
 */
const STRANGER_LOG_INTERVAL_MS = 10_000;

class Speaker implements BgpSpeaker {
  readonly #config: BgpSpeakerConfig;
  readonly #log: Logger;
  readonly #transport: BgpTransport;
  readonly #clock: Clock;
  readonly #random: (() => number) | undefined;
  readonly #timers: TimerSet;
  readonly #sessions = new Map<string, BgpSession>();
  readonly #listeners = new Set<(status: BgpPeerStatus) => void>();
  #routes: ReadonlyMap<string, BgpRoute> = new Map();
  #flushScheduled = false;
  #listener: BgpListener | undefined;
  #state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  #initialRoutesLoaded: boolean;
  #cancelInitialRoutesTimer: (() => void) | undefined;
  /** Link ids in logs: one counter for every session, so each TCP connection has its own. */
  #lastLinkId = 0;
  readonly #strangers = { lastLoggedAt: undefined as number | undefined, unlogged: 0 };

  constructor(init: BgpSpeakerInit, components: BgpSpeakerComponents) {
    this.#config = bgpSpeakerConfig(init);
    this.#log = components.logger.child({ component: 'bgp' });
    this.#transport = components.transport ?? createTcpTransport({ logger: this.#log });
    this.#clock = components.clock ?? systemClock;
    this.#random = components.random;
    this.#timers = new TimerSet(this.#clock, (err) => {
      this.#log.error({ err }, 'BGP speaker timer failed');
    });
    this.#initialRoutesLoaded = !this.#config.restarting;
    for (const peer of this.#config.peers) this.#sessions.set(peer.address, this.#newSession(peer));
  }

  #newSession(peer: BgpPeerConfig): BgpSession {
    const session = new BgpSession(
      peer,
      {
        asn: this.#config.asn,
        routerId: this.#config.routerId,
        gracefulRestart: this.#config.gracefulRestart,
        // A peer added after the restart finished is no part of it.
        restarting: this.#config.restarting && !this.#initialRoutesLoaded,
      },
      {
        logger: this.#log.child({ peer: peer.address }),
        transport: this.#transport,
        clock: this.#clock,
        ...(this.#random === undefined ? {} : { random: this.#random }),
        nextLinkId: () => ++this.#lastLinkId,
        onStateChange: (status) => {
          this.#emit(status);
        },
      },
    );
    session.setRoutes(this.#routes);
    return session;
  }

  #emit(status: BgpPeerStatus): void {
    for (const fn of this.#listeners) {
      try {
        fn(status);
      } catch (err) {
        this.#log.error({ err }, 'a peer-state listener threw');
      }
    }
  }

  /** A method, so that TypeScript does not narrow #state across an await. */
  #stopped(): boolean {
    return this.#state === 'stopped';
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    const listen = this.#config.listen;
    if (listen !== false) {
      try {
        this.#listener = await this.#transport.listen({ port: listen.port, addresses: listen.addresses }, (connection) => {
          this.#route(connection);
        });
      } catch (err) {
        this.#state = 'new';
        throw err instanceof BgpError ? err : new BgpError('E_BGP_SOCKET', `listen on port ${listen.port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      // stop() may have run while the listener was being bound.
      if (this.#stopped()) {
        await this.#listener.close();
        return;
      }
      this.#log.info({ port: this.#listener.port, addresses: listen.addresses }, 'BGP listening');
    }
    this.#state = 'running';
    if (!this.#initialRoutesLoaded) {
      const timeoutS = this.#config.gracefulRestart.initialRoutesTimeoutS;
      this.#cancelInitialRoutesTimer = this.#timers.after(timeoutS * 1000, () => {
        this.#log.warn({ timeoutS }, 'initial routes not marked loaded in time: sending End-of-RIB anyway');
        this.markInitialRoutesLoaded();
      });
    }
    this.#log.info({ asn: this.#config.asn, routerId: this.#config.routerId, peers: this.#sessions.size, restarting: !this.#initialRoutesLoaded }, 'BGP speaker started');
    for (const session of this.#sessions.values()) session.start();
  }

  /** An accepted connection goes to the session of its remote address. */
  #route(connection: BgpConnection): void {
    const address = canonicalAddress(connection.remoteAddress) ?? connection.remoteAddress;
    if (this.#state !== 'running') {
      this.#log.debug({ remoteAddress: address, remotePort: connection.remotePort }, 'BGP connection while the speaker is not running: closed');
      connection.destroy();
      return;
    }
    const session = this.#sessions.get(address);
    if (session === undefined) {
      connection.destroy();
      this.#logStranger(address, connection.remotePort);
      return;
    }
    session.acceptConnection(connection);
  }

  #logStranger(remoteAddress: string, remotePort: number): void {
    const now = this.#clock.now();
    const strangers = this.#strangers;
    if (strangers.lastLoggedAt !== undefined && now - strangers.lastLoggedAt < STRANGER_LOG_INTERVAL_MS) {
      strangers.unlogged++;
      this.#log.debug({ remoteAddress, remotePort }, 'BGP connection from an address that is not a configured peer: closed');
      return;
    }
    const earlier = strangers.unlogged;
    strangers.lastLoggedAt = now;
    strangers.unlogged = 0;
    this.#log.info(
      { remoteAddress, remotePort, ...(earlier === 0 ? {} : { moreSinceLastReport: earlier }) },
      earlier === 0
        ? 'BGP connection from an address that is not a configured peer: closed'
        : `BGP connection from an address that is not a configured peer: closed (and ${earlier} more since the last report)`,
    );
  }

  setRoutes(routes: readonly BgpRoute[]): void {
    this.#routes = normalizeRoutes(routes);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // One microtask: a burst of calls in the same tick (a reconcile loop) becomes one diff.
    queueMicrotask(() => {
      this.#flushRoutes();
    });
  }

  #flushRoutes(): void {
    if (!this.#flushScheduled) return;
    this.#flushScheduled = false;
    if (this.#state === 'stopped') return;
    for (const session of this.#sessions.values()) {
      try {
        session.setRoutes(this.#routes);
      } catch (err) {
        this.#log.error({ err, peer: session.address }, 'sending route changes failed');
      }
    }
  }

  markInitialRoutesLoaded(): void {
    if (this.#initialRoutesLoaded) return;
    // The routes set so far go out before End-of-RIB.
    this.#flushRoutes();
    this.#initialRoutesLoaded = true;
    this.#cancelInitialRoutesTimer?.();
    this.#cancelInitialRoutesTimer = undefined;
    this.#log.info({ routes: this.#routes.size }, 'initial routes loaded: End-of-RIB may go');
    for (const session of this.#sessions.values()) session.initialRoutesLoaded();
  }

  setPeers(peers: readonly BgpPeerInit[]): void {
    const next = bgpPeerConfigs(peers);
    if (this.#state === 'stopped') throw new BgpError('E_BGP_STOPPED', 'setPeers: the BGP speaker is stopped');
    const wanted = new Map(next.map((p) => [p.address, p]));
    for (const [address, session] of this.#sessions) {
      const peer = wanted.get(address);
      if (peer === undefined) {
        this.#log.info({ peer: address }, 'peer removed');
        this.#sessions.delete(address);
        this.#stopSession(session, CEASE_SUBCODE.peerDeconfigured);
      } else if (JSON.stringify(peer) !== JSON.stringify(session.config)) {
        this.#log.info({ peer: address }, 'peer changed: restarting its session');
        this.#stopSession(session, CEASE_SUBCODE.otherConfigurationChange);
        this.#sessions.delete(address);
      }
    }
    // Rebuilt in the order given, so peers() follows the configuration.
    const sessions = new Map<string, BgpSession>();
    for (const peer of next) {
      let session = this.#sessions.get(peer.address);
      if (session === undefined) {
        session = this.#newSession(peer);
        if (this.#state === 'running') session.start();
        this.#log.info({ peer: peer.address }, 'peer added');
      }
      sessions.set(peer.address, session);
    }
    this.#sessions.clear();
    for (const [address, session] of sessions) this.#sessions.set(address, session);
  }

  #stopSession(session: BgpSession, ceaseSubcode: number): void {
    session.stop({ ceaseSubcode }).catch((err: unknown) => {
      this.#log.error({ err, peer: session.address }, 'stopping a session failed');
    });
  }

  peers(): BgpPeerStatus[] {
    return [...this.#sessions.values()].map((s) => s.status());
  }

  async stop(opts: BgpSpeakerStopOptions = {}): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#timers.close();
    const preserve = opts.preserveForwarding ?? false;
    this.#log.info({ preserveForwarding: preserve }, preserve ? 'BGP speaker stopping without NOTIFICATION (forwarding preserved)' : 'BGP speaker stopping: Cease/Administrative Shutdown to every peer');
    const listener = this.#listener;
    this.#listener = undefined;
    const stops = [...this.#sessions.values()].map((s) => s.stop(preserve ? {} : { ceaseSubcode: CEASE_SUBCODE.administrativeShutdown }));
    await Promise.all([
      ...stops,
      listener?.close().catch((err: unknown) => {
        this.#log.warn({ err }, 'closing the BGP listener failed');
      }),
    ]);
  }

  on(_event: 'peer-state', fn: (status: BgpPeerStatus) => void): () => void {
    this.#listeners.add(fn);
    return () => {
      this.#listeners.delete(fn);
    };
  }
}

/** Validates `init` (BgpError E_BGP_CONFIG naming the field) and builds a speaker; nothing happens until start(). */
export function createBgpSpeaker(init: BgpSpeakerInit, components: BgpSpeakerComponents): BgpSpeaker {
  return new Speaker(init, components);
}
