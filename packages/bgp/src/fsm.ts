/**
 * The RFC 4271 section 8 finite state machine, as pure logic: an input event gives a state
 * change and a list of actions (send this, start that timer, connect, drop the connection).
 * No sockets, no clock, no codec: session.ts carries the actions out, so every transition is
 * tested with plain values.
 *
 * One BgpFsm drives one TCP connection at a time (RFC 4271 8: "one FSM for each configured
 * peering, plus one FSM for each incoming TCP connection for which the peer has not yet been
 * identified"). The session keeps a primary FSM per peer and, during a connection collision,
 * a second one; `resolveCollision` below decides which survives (RFC 4271 6.8).
 *
 * Deliberate differences from the RFC text, all of them where the RFC leaves room:
 * - No DelayOpen, no DampPeerOscillations, no AllowAutomaticStop; the optional session
 *   attributes are off (RFC 4271 8.1.1).
 * - Automatic restart is always on for a configured peer: after an error the FSM goes to Idle
 *   and starts an IdleHoldTimer (event 13) whose expiry acts as AutomaticStart (event 3).
 * - Connect-retry backs off exponentially from `connectRetryS` to `connectRetryMaxS`, with the
 *   RFC 4271 10 jitter (x 0.75..1). A session that stayed Established for `stableS` resets the
 *   backoff, and the first retry after such a session goes at once: an announce-only speaker
 *   wants its routes back quickly (recipe bgp-peers-in-netns.md: "connect actively with a short
 *   retry").
 * - Connect + TcpConnectionFails goes to Active with the ConnectRetryTimer still running
 *   instead of Idle (BIRD too just waits out its connect retry time): the retry then comes
 *   from the running timer, so a refused connect does not retry in a tight loop.
 * - A passive peer never initiates: Active without a ConnectRetryTimer.
 * - A timer event for a timer that the current state does not run is ignored (the session
 *   cancels timers on every state change, so only a race can deliver one).
 * - Idle takes the peer's own connection while the IdleHoldTimer runs, if the session ended
 *   cleanly: a Cease from the peer, the connection closing in OpenConfirm or Established, or
 *   our Hold Timer expiring in Established (a router that died or restarted, and now connects
 *   back). That is RFC 4271 8.1.1 AutomaticStart with passive TCP establishment (event 5)
 *   followed at once by TcpConnectionConfirmed (17): the IdleHoldTimer stops and the FSM goes
 *   to OpenSent. After an error NOTIFICATION in either direction (header, OPEN, UPDATE, FSM
 *   errors: what the peer sends would fail again) Idle keeps refusing until the timer
 *   expires, so the backoff holds for a peer that keeps failing. The session adds a rate
 *   limit on top (session.ts: at most one such connection per connectRetryS).
 * - With a negotiated Hold Time of 0 the large OpenSent Hold Timer keeps running through
 *   OpenConfirm, so a peer that proposes 0 and never sends its KEEPALIVE cannot park the
 *   connection there forever (RFC 4271 would wait without a timer); Established stops it.
 */
import { CEASE_SUBCODE, ERROR_CODE, FSM_SUBCODE } from './messages.js';

export const FSM_STATES = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'] as const;
export type FsmState = (typeof FSM_STATES)[number];

/** ConnectRetry, Hold and Keepalive are RFC 4271 8 mandatory timers; idleHold is optional 8.1.1; stable is ours. */
export type FsmTimer = 'connectRetry' | 'hold' | 'keepalive' | 'idleHold' | 'stable';
export const FSM_TIMERS: readonly FsmTimer[] = ['connectRetry', 'hold', 'keepalive', 'idleHold', 'stable'];

/** The NOTIFICATION an error event asks the FSM to send. */
export interface NotificationSpec {
  readonly code: number;
  readonly subcode: number;
  readonly data?: Uint8Array;
}

/** RFC 4271 8.1 events (number in the comment); the session turns messages and socket events into these. */
export type FsmEvent =
  | { readonly type: 'ManualStart' } // 1 (5 when the FSM is passive)
  | { readonly type: 'ManualStop'; readonly ceaseSubcode?: number } // 2; without a subcode: close without NOTIFICATION
  | { readonly type: 'ConnectRetryTimerExpires' } // 9
  | { readonly type: 'HoldTimerExpires' } // 10
  | { readonly type: 'KeepaliveTimerExpires' } // 11
  | { readonly type: 'IdleHoldTimerExpires' } // 13, acting as AutomaticStart (3)
  | { readonly type: 'StableTimerExpires' } // not in the RFC: resets the connect-retry backoff
  | { readonly type: 'TcpCrAcked' } // 16: our outbound connection completed
  | { readonly type: 'TcpConnectionConfirmed' } // 17: an inbound connection was accepted
  | { readonly type: 'TcpConnectionFails' } // 18
  | { readonly type: 'BGPOpen'; readonly holdTimeS: number } // 19: an OPEN that passed validation
  | { readonly type: 'BGPHeaderErr'; readonly notification: NotificationSpec } // 21
  | { readonly type: 'BGPOpenMsgErr'; readonly notification: NotificationSpec } // 22
  | { readonly type: 'OpenCollisionDump' } // 23
  /** `code`: the NOTIFICATION's error code; only a Cease (6) counts as a clean end (module comment). */
  | { readonly type: 'NotifMsg'; readonly code?: number } // 25 (24, NotifMsgVerErr, is handled like it)
  | { readonly type: 'KeepAliveMsg' } // 26
  | { readonly type: 'UpdateMsg' } // 27
  | { readonly type: 'UpdateMsgErr'; readonly notification: NotificationSpec }; // 28

export type FsmEventType = FsmEvent['type'];
/** Every event but ManualStop, which is handled the same in every state. */
type StateEvent = Exclude<FsmEvent, { readonly type: 'ManualStop' }>;

export type FsmAction =
  | { readonly type: 'connect' }
  | { readonly type: 'drop-connection' }
  | { readonly type: 'send-open' }
  | { readonly type: 'send-keepalive' }
  | { readonly type: 'send-notification'; readonly code: number; readonly subcode: number; readonly data: Uint8Array }
  /** Starts the timer, or restarts it if it runs. */
  | { readonly type: 'start-timer'; readonly timer: FsmTimer; readonly seconds: number }
  | { readonly type: 'stop-timer'; readonly timer: FsmTimer }
  /** Forget everything about the connection: negotiated values, Adj-RIB-Out, the framer. */
  | { readonly type: 'release-resources' };

export interface FsmTransition {
  readonly from: FsmState;
  readonly to: FsmState;
  readonly actions: readonly FsmAction[];
}

export interface FsmConfig {
  /** Our Hold Time, proposed in OPEN (0, or 3..65535). */
  readonly holdTimeS: number;
  /** First ConnectRetryTimer value; doubles per failed attempt up to connectRetryMaxS. */
  readonly connectRetryS: number;
  readonly connectRetryMaxS: number;
  /** Never initiate a connection; wait in Active. */
  readonly passive: boolean;
  /**
   * After an error, come back by itself (Idle -> IdleHoldTimer -> Connect/Active). False for
   * the FSM of a colliding second connection, which simply ends in Idle.
   */
  readonly autoRestart: boolean;
  /** How long an Established session must last to reset the backoff. @default connectRetryMaxS */
  readonly stableS?: number;
  /** [0, 1) source for the jitter; Math.random unless a test pins it. */
  readonly random?: () => number;
}

/** RFC 4271 8.2.2: "HoldTimer to a large value ... A HoldTimer value of 4 minutes is suggested" (before OPEN). */
export const LARGE_HOLD_TIME_S = 240;

/** RFC 4271 10: timers are jittered by a random factor between 0.75 and 1.0. */
export function jitter(seconds: number, random: () => number): number {
  return seconds * (0.75 + 0.25 * Math.min(Math.max(random(), 0), 1));
}

/** The ConnectRetryTimer before jitter for the given 0-based attempt: initial x 2^attempt, at most max. */
export function backoffS(attempt: number, initialS: number, maxS: number): number {
  return Math.min(initialS * 2 ** Math.min(attempt, 30), maxS);
}

/**
 * RFC 4271 4.2 / 10: the negotiated Hold Time is the smaller of the two proposals; 0 means
 * no Hold Timer and no KEEPALIVEs. `undefined` when the peer's value is unacceptable (1 or 2
 * seconds: RFC 4271 6.2 "MUST reject").
 */
export function negotiateHoldTime(oursS: number, theirsS: number): number | undefined {
  if (theirsS === 1 || theirsS === 2) return undefined;
  return Math.min(oursS, theirsS);
}

/** RFC 4271 10: KeepaliveTime is one third of the Hold Time (before jitter). */
export function keepaliveS(holdTimeS: number): number {
  return holdTimeS / 3;
}

/** A BGP Identifier as the unsigned 32-bit number RFC 4271 6.8 compares. */
export function bgpIdToNumber(id: string): number {
  const parts = id.split('.').map(Number);
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

/**
 * RFC 4271 6.8 (and RFC 6286 2.3 for equal identifiers): which of two colliding connections
 * survives. The one initiated by the speaker with the higher BGP Identifier is kept; with equal
 * identifiers (allowed between ASes by RFC 6286), the one initiated by the higher AS.
 */
export function resolveCollision(p: { localId: string; localAsn: number; remoteId: string; remoteAsn: number }): 'keep-outbound' | 'keep-inbound' {
  const local = bgpIdToNumber(p.localId);
  const remote = bgpIdToNumber(p.remoteId);
  if (local !== remote) return local > remote ? 'keep-outbound' : 'keep-inbound';
  return p.localAsn > p.remoteAsn ? 'keep-outbound' : 'keep-inbound';
}

const ALL_TIMERS_BUT_IDLE: readonly FsmTimer[] = ['connectRetry', 'hold', 'keepalive', 'stable'];

export class BgpFsm {
  readonly #config: FsmConfig;
  readonly #random: () => number;
  #autoRestart: boolean;
  #state: FsmState = 'Idle';
  /** Attempts since the last stable session; drives the backoff. */
  #attempt = 0;
  /** RFC 4271 8: ConnectRetryCounter (counts failures; only reported). */
  #connectRetryCounter = 0;
  #negotiatedHoldS: number | undefined;
  #started = false;
  /** Set when a collision winner is promoted to primary. */
  #passiveOverride: boolean | undefined;
  /** The IdleHoldTimer runs (started by #toIdle, not yet expired or stopped). */
  #idleHoldPending = false;
  /** The last way into Idle was clean (module comment): the peer may connect back during the idle hold. */
  #endedCleanly = false;

  constructor(config: FsmConfig) {
    this.#config = config;
    this.#random = config.random ?? Math.random;
    this.#autoRestart = config.autoRestart;
  }

  get state(): FsmState {
    return this.#state;
  }

  /** The negotiated Hold Time, once an OPEN was accepted on this connection. */
  get negotiatedHoldTimeS(): number | undefined {
    return this.#negotiatedHoldS;
  }

  get connectRetryCounter(): number {
    return this.#connectRetryCounter;
  }

  /** Whether a new TCP connection can be handed to this FSM now (RFC 4271 8.2.2: Connect and Active listen; Idle refuses). */
  get acceptsConnection(): boolean {
    return this.#state === 'Connect' || this.#state === 'Active';
  }

  /**
   * Whether Idle takes the peer's connection now (TcpConnectionConfirmed goes to OpenSent): the
   * IdleHoldTimer runs after a clean end of the session (module comment, RFC 4271 8.1.1 event 5).
   */
  get acceptsConnectionInIdleHold(): boolean {
    return this.#state === 'Idle' && this.#idleHoldPending && this.#endedCleanly && this.#started && this.#autoRestart;
  }

  /**
   * An FSM for a connection that is already open and waiting for OPEN: a collision candidate
   * (RFC 4271 8: one FSM per incoming connection). It starts in Active, passive, without
   * restart; feed it TcpConnectionConfirmed (or TcpCrAcked) next.
   */
  static forOpenConnection(config: FsmConfig): BgpFsm {
    const fsm = new BgpFsm({ ...config, passive: true, autoRestart: false });
    fsm.#state = 'Active';
    fsm.#started = true;
    return fsm;
  }

  /**
   * The collision winner becomes the peer's primary FSM: it restarts by itself from now on,
   * continues the loser's backoff and is passive only if the peer is.
   */
  promote(from: BgpFsm, passive: boolean): void {
    this.#autoRestart = true;
    this.#attempt = from.#attempt;
    this.#connectRetryCounter = from.#connectRetryCounter;
    this.#passiveOverride = passive;
  }

  get #passive(): boolean {
    return this.#passiveOverride ?? this.#config.passive;
  }

  handle(event: FsmEvent): FsmTransition {
    const from = this.#state;
    const actions: FsmAction[] = [];
    this.#step(event, actions);
    return { from, to: this.#state, actions };
  }

  #nextRetryS(): number {
    const s = jitter(backoffS(this.#attempt, this.#config.connectRetryS, this.#config.connectRetryMaxS), this.#random);
    this.#attempt++;
    return s;
  }

  /** Idle -> Connect (initiate) or Active (listen); RFC 4271 8.2.2 Idle, events 1/3/5. */
  #begin(actions: FsmAction[]): void {
    if (this.#passive) {
      this.#state = 'Active';
      return;
    }
    actions.push({ type: 'connect' }, { type: 'start-timer', timer: 'connectRetry', seconds: this.#nextRetryS() });
    this.#state = 'Connect';
  }

  /** A connection is up (events 16/17 in Connect or Active): send OPEN, wait with a large Hold Timer. */
  #connected(actions: FsmAction[]): void {
    actions.push(
      { type: 'stop-timer', timer: 'connectRetry' },
      { type: 'send-open' },
      { type: 'start-timer', timer: 'hold', seconds: LARGE_HOLD_TIME_S },
    );
    this.#state = 'OpenSent';
  }

  /**
   * The common "-> Idle" of RFC 4271 8.2.2: optionally a NOTIFICATION, every timer stopped,
   * the connection dropped, resources released, ConnectRetryCounter incremented; then, for a
   * configured peer, the IdleHoldTimer that brings it back.
   */
  #toIdle(actions: FsmAction[], notification: NotificationSpec | undefined, restart: boolean, clean = false): void {
    if (notification !== undefined) {
      actions.push({ type: 'send-notification', code: notification.code, subcode: notification.subcode, data: notification.data ?? new Uint8Array(0) });
    }
    for (const timer of ALL_TIMERS_BUT_IDLE) actions.push({ type: 'stop-timer', timer });
    actions.push({ type: 'drop-connection' }, { type: 'release-resources' });
    this.#connectRetryCounter++;
    this.#negotiatedHoldS = undefined;
    this.#state = 'Idle';
    this.#endedCleanly = clean;
    this.#idleHoldPending = false;
    if (restart && this.#autoRestart && this.#started) {
      // After a session that lasted (attempt reset to 0) the first retry goes at once.
      const seconds = this.#attempt === 0 ? 0 : this.#nextRetryS();
      actions.push({ type: 'start-timer', timer: 'idleHold', seconds });
      this.#idleHoldPending = true;
    }
  }

  /** The peer ended it with a NOTIFICATION: clean only for a Cease. */
  #notified(event: { readonly code?: number }, actions: FsmAction[]): void {
    this.#toIdle(actions, undefined, true, event.code === ERROR_CODE.cease);
  }

  #fsmError(actions: FsmAction[], subcode: number): void {
    // RFC 6608: FSM Error with the state it happened in.
    this.#toIdle(actions, { code: ERROR_CODE.fsm, subcode }, true);
  }

  #startKeepalive(actions: FsmAction[]): void {
    const hold = this.#negotiatedHoldS ?? 0;
    if (hold > 0) actions.push({ type: 'start-timer', timer: 'keepalive', seconds: jitter(keepaliveS(hold), this.#random) });
  }

  #restartHold(actions: FsmAction[]): void {
    const hold = this.#negotiatedHoldS ?? 0;
    if (hold > 0) actions.push({ type: 'start-timer', timer: 'hold', seconds: hold });
  }

  #step(event: FsmEvent, actions: FsmAction[]): void {
    if (event.type === 'ManualStop') {
      this.#manualStop(event.ceaseSubcode, actions);
      return;
    }
    switch (this.#state) {
      case 'Idle':
        this.#idle(event, actions);
        return;
      case 'Connect':
        this.#connect(event, actions);
        return;
      case 'Active':
        this.#active(event, actions);
        return;
      case 'OpenSent':
        this.#openSent(event, actions);
        return;
      case 'OpenConfirm':
        this.#openConfirm(event, actions);
        return;
      case 'Established':
        this.#established(event, actions);
        return;
    }
  }

  /** RFC 4271 8.2.2, event 2 in any state: Cease (when a connection carries OPENs), everything stopped, Idle, no restart. */
  #manualStop(ceaseSubcode: number | undefined, actions: FsmAction[]): void {
    this.#started = false;
    this.#idleHoldPending = false;
    if (this.#state === 'Idle') {
      actions.push({ type: 'stop-timer', timer: 'idleHold' });
      return;
    }
    const openExchanged = this.#state === 'OpenSent' || this.#state === 'OpenConfirm' || this.#state === 'Established';
    const notification = openExchanged && ceaseSubcode !== undefined ? { code: ERROR_CODE.cease, subcode: ceaseSubcode } : undefined;
    actions.push({ type: 'stop-timer', timer: 'idleHold' });
    this.#toIdle(actions, notification, false);
    this.#connectRetryCounter = 0;
    this.#attempt = 0;
  }

  #idle(event: StateEvent, actions: FsmAction[]): void {
    switch (event.type) {
      case 'ManualStart':
        this.#started = true;
        this.#connectRetryCounter = 0;
        this.#attempt = 0;
        this.#idleHoldPending = false;
        this.#begin(actions);
        return;
      case 'IdleHoldTimerExpires':
        this.#idleHoldPending = false;
        if (this.#started && this.#autoRestart) this.#begin(actions);
        return;
      case 'TcpConnectionConfirmed':
        // Deviation (module comment): AutomaticStart with passive TCP establishment (RFC 4271
        // 8.1.1 event 5), the peer's connection already there; else refused like the RFC's Idle.
        if (!this.acceptsConnectionInIdleHold) return;
        this.#idleHoldPending = false;
        actions.push({ type: 'stop-timer', timer: 'idleHold' });
        this.#connected(actions);
        return;
      // RFC 4271 8.2.2 Idle: "any other event ... is ignored"; a connection is refused by the
      // session (acceptsConnection is false).
      case 'ConnectRetryTimerExpires':
      case 'HoldTimerExpires':
      case 'KeepaliveTimerExpires':
      case 'StableTimerExpires':
      case 'TcpCrAcked':
      case 'TcpConnectionFails':
      case 'BGPOpen':
      case 'BGPHeaderErr':
      case 'BGPOpenMsgErr':
      case 'OpenCollisionDump':
      case 'NotifMsg':
      case 'KeepAliveMsg':
      case 'UpdateMsg':
      case 'UpdateMsgErr':
        return;
    }
  }

  #connect(event: StateEvent, actions: FsmAction[]): void {
    switch (event.type) {
      case 'ManualStart':
        return;
      case 'ConnectRetryTimerExpires':
        // RFC 4271 8.2.2 Connect, event 9: drop the attempt, restart the timer, try again.
        actions.push({ type: 'drop-connection' }, { type: 'connect' }, { type: 'start-timer', timer: 'connectRetry', seconds: this.#nextRetryS() });
        return;
      case 'TcpCrAcked':
      case 'TcpConnectionConfirmed':
        this.#connected(actions);
        return;
      case 'TcpConnectionFails':
        // Deviation (module comment): wait for the running ConnectRetryTimer in Active.
        actions.push({ type: 'drop-connection' });
        this.#state = 'Active';
        return;
      case 'HoldTimerExpires':
      case 'KeepaliveTimerExpires':
      case 'IdleHoldTimerExpires':
      case 'StableTimerExpires':
        return;
      case 'BGPOpen':
      case 'BGPHeaderErr':
      case 'BGPOpenMsgErr':
      case 'OpenCollisionDump':
      case 'NotifMsg':
      case 'KeepAliveMsg':
      case 'UpdateMsg':
      case 'UpdateMsgErr':
        // RFC 4271 8.2.2 Connect, "any other event": drop, count, Idle.
        this.#toIdle(actions, undefined, true);
        return;
    }
  }

  #active(event: StateEvent, actions: FsmAction[]): void {
    switch (event.type) {
      case 'ManualStart':
        return;
      case 'ConnectRetryTimerExpires':
        if (this.#passive) return;
        // RFC 4271 8.2.2 Active, event 9: restart the timer, initiate, Connect.
        actions.push({ type: 'connect' }, { type: 'start-timer', timer: 'connectRetry', seconds: this.#nextRetryS() });
        this.#state = 'Connect';
        return;
      case 'TcpCrAcked':
      case 'TcpConnectionConfirmed':
        this.#connected(actions);
        return;
      case 'TcpConnectionFails':
      case 'HoldTimerExpires':
      case 'KeepaliveTimerExpires':
      case 'IdleHoldTimerExpires':
      case 'StableTimerExpires':
        return;
      case 'BGPOpen':
      case 'BGPHeaderErr':
      case 'BGPOpenMsgErr':
      case 'OpenCollisionDump':
      case 'NotifMsg':
      case 'KeepAliveMsg':
      case 'UpdateMsg':
      case 'UpdateMsgErr':
        this.#toIdle(actions, undefined, true);
        return;
    }
  }

  #openSent(event: StateEvent, actions: FsmAction[]): void {
    switch (event.type) {
      case 'ManualStart':
      case 'TcpCrAcked':
      case 'TcpConnectionConfirmed':
        // A second connection gets its own FSM (the session's collision candidate).
        return;
      case 'BGPOpen': {
        // RFC 4271 8.2.2 OpenSent, event 19: KEEPALIVE, KeepaliveTimer, negotiated Hold Timer.
        const hold = negotiateHoldTime(this.#config.holdTimeS, event.holdTimeS) ?? 0;
        this.#negotiatedHoldS = hold;
        actions.push({ type: 'stop-timer', timer: 'connectRetry' }, { type: 'send-keepalive' });
        if (hold > 0) {
          this.#startKeepalive(actions);
          actions.push({ type: 'start-timer', timer: 'hold', seconds: hold });
        }
        // Hold Time 0: the large Hold Timer of OpenSent keeps running (module comment).
        this.#state = 'OpenConfirm';
        return;
      }
      case 'TcpConnectionFails':
        // RFC 4271 8.2.2 OpenSent, event 18: close, restart the ConnectRetryTimer, listen (Active).
        if (!this.#autoRestart) {
          this.#toIdle(actions, undefined, false);
          return;
        }
        actions.push({ type: 'stop-timer', timer: 'hold' }, { type: 'drop-connection' }, { type: 'release-resources' });
        if (!this.#passive) actions.push({ type: 'start-timer', timer: 'connectRetry', seconds: this.#nextRetryS() });
        this.#state = 'Active';
        return;
      case 'HoldTimerExpires':
        this.#toIdle(actions, { code: ERROR_CODE.holdTimerExpired, subcode: 0 }, true);
        return;
      case 'BGPHeaderErr':
      case 'BGPOpenMsgErr':
      case 'UpdateMsgErr':
        this.#toIdle(actions, event.notification, true);
        return;
      case 'OpenCollisionDump':
        this.#toIdle(actions, { code: ERROR_CODE.cease, subcode: CEASE_SUBCODE.connectionCollisionResolution }, false);
        return;
      case 'NotifMsg':
        this.#notified(event, actions);
        return;
      case 'KeepAliveMsg':
      case 'UpdateMsg':
        this.#fsmError(actions, FSM_SUBCODE.unexpectedInOpenSent);
        return;
      case 'ConnectRetryTimerExpires':
      case 'KeepaliveTimerExpires':
      case 'IdleHoldTimerExpires':
      case 'StableTimerExpires':
        return;
    }
  }

  #openConfirm(event: StateEvent, actions: FsmAction[]): void {
    switch (event.type) {
      case 'ManualStart':
      case 'TcpCrAcked':
      case 'TcpConnectionConfirmed':
        return;
      case 'KeepAliveMsg':
        // RFC 4271 8.2.2 OpenConfirm, event 26: restart the Hold Timer, Established. With Hold
        // Time 0, the large one that ran through OpenConfirm stops here (module comment).
        if ((this.#negotiatedHoldS ?? 0) > 0) this.#restartHold(actions);
        else actions.push({ type: 'stop-timer', timer: 'hold' });
        actions.push({ type: 'start-timer', timer: 'stable', seconds: this.#config.stableS ?? this.#config.connectRetryMaxS });
        this.#state = 'Established';
        return;
      case 'KeepaliveTimerExpires':
        actions.push({ type: 'send-keepalive' });
        this.#startKeepalive(actions);
        return;
      case 'HoldTimerExpires':
        this.#toIdle(actions, { code: ERROR_CODE.holdTimerExpired, subcode: 0 }, true);
        return;
      case 'TcpConnectionFails':
        this.#toIdle(actions, undefined, true, true);
        return;
      case 'NotifMsg':
        this.#notified(event, actions);
        return;
      case 'BGPHeaderErr':
      case 'BGPOpenMsgErr':
      case 'UpdateMsgErr':
        this.#toIdle(actions, event.notification, true);
        return;
      case 'OpenCollisionDump':
        this.#toIdle(actions, { code: ERROR_CODE.cease, subcode: CEASE_SUBCODE.connectionCollisionResolution }, false);
        return;
      case 'BGPOpen':
      case 'UpdateMsg':
        this.#fsmError(actions, FSM_SUBCODE.unexpectedInOpenConfirm);
        return;
      case 'ConnectRetryTimerExpires':
      case 'IdleHoldTimerExpires':
      case 'StableTimerExpires':
        return;
    }
  }

  #established(event: StateEvent, actions: FsmAction[]): void {
    switch (event.type) {
      case 'ManualStart':
      case 'TcpCrAcked':
      case 'TcpConnectionConfirmed':
        return;
      case 'KeepAliveMsg':
      case 'UpdateMsg':
        // RFC 4271 8.2.2 Established, events 26/27: restart the Hold Timer.
        this.#restartHold(actions);
        return;
      case 'KeepaliveTimerExpires':
        actions.push({ type: 'send-keepalive' });
        this.#startKeepalive(actions);
        return;
      case 'StableTimerExpires':
        this.#attempt = 0;
        return;
      case 'HoldTimerExpires':
        // The peer vanished (a router that died or restarted): a clean end.
        this.#toIdle(actions, { code: ERROR_CODE.holdTimerExpired, subcode: 0 }, true, true);
        return;
      case 'TcpConnectionFails':
        this.#toIdle(actions, undefined, true, true);
        return;
      case 'NotifMsg':
        this.#notified(event, actions);
        return;
      case 'BGPHeaderErr':
      case 'BGPOpenMsgErr':
      case 'UpdateMsgErr':
        this.#toIdle(actions, event.notification, true);
        return;
      case 'OpenCollisionDump':
        this.#toIdle(actions, { code: ERROR_CODE.cease, subcode: CEASE_SUBCODE.connectionCollisionResolution }, false);
        return;
      case 'BGPOpen':
        this.#fsmError(actions, FSM_SUBCODE.unexpectedInEstablished);
        return;
      case 'ConnectRetryTimerExpires':
      case 'IdleHoldTimerExpires':
        return;
    }
  }
}
