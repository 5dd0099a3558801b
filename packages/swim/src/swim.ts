/**
 * createSwim: wires the wire (net.ts), the membership state machine (state.ts) and push-pull
 * (pushpull.ts) to a transport and a clock, runs the periodic loops (probe, gossip, push-pull,
 * reconnect), and exposes members, events and counters (memberlist memberlist.go).
 */
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { TimerSet, systemClock, type Clock } from '@shoal/model';
import { DecodeError, MAX_NAME_BYTES, decodePacketBody, encodedMetaSize, freezeMeta, type Message, type Meta, type PushPullMessage } from './codec.js';
import { validateConfig, type SwimConfig } from './config.js';
import { SwimError } from './errors.js';
import { Wire, type WireCounters } from './net.js';
import { acceptPushPull, pushPullWith, type PushPullComponents } from './pushpull.js';
import type { Random } from './random.js';
import { Keyring } from './security.js';
import { Membership, type ProtocolCounters } from './state.js';
import type { Endpoint, Transport } from './transport.js';
import type { Member, SwimEvent, SwimStats } from './types.js';

export interface SwimInit {
  /** Unique in the cluster; at most 128 UTF-8 bytes. */
  name: string;
  config: SwimConfig;
  keyring: Keyring;
  logger: Logger;
  transport: Transport;
  /** Address others reach us at. @default transport.address (must then not be 0.0.0.0 or ::) */
  advertiseAddress?: string;
  /** @default transport.port */
  advertisePort?: number;
  meta?: Record<string, string>;
  /** @default systemClock */
  clock?: Clock;
  /** Source of the protocol's random choices; a seeded one makes a test cluster replay exactly. @default Math.random */
  random?: () => number;
}

export interface Swim {
  readonly name: string;
  /**
   * Push-pull with each seed ("host:port", "[v6]:port") over TCP, in parallel. Resolves with how
   * many answered; rejects with SwimError E_JOIN only if seeds were given and none answered
   * (seeds naming our own address are skipped), E_CONFIG for an unparsable seed.
   */
  join(seeds: string[]): Promise<number>;
  /** Gossips that we left and waits until that has gone out, or `timeoutMs` (config.leaveTimeoutMs). */
  leave(timeoutMs?: number): Promise<void>;
  /** Stops the loops, cancels every timer, closes the transport. Idempotent. */
  shutdown(): Promise<void>;
  /** Every known member, self included, dead and left ones until config.deadMemberRetentionMs; by name. */
  members(): Member[];
  member(name: string): Member | undefined;
  /** New metadata for us: a new incarnation, gossiped; 'update' fires everywhere. Throws E_META_TOO_LARGE. */
  updateMeta(meta: Record<string, string>): void;
  on(event: SwimEvent, listener: (m: Member) => void): void;
  off(event: SwimEvent, listener: (m: Member) => void): void;
  stats(): SwimStats;
}

const PUSH_PULL_SCALE_THRESHOLD = 32;

/** memberlist pushPullScale: above 32 members, push-pull less often as the cluster doubles. */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return multiplier * intervalMs;
}

/** "host:port" or "[v6]:port". */
export function parseSeed(seed: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(seed) ?? /^([^:[\]]+):(\d{1,5})$/.exec(seed);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === undefined || !(port >= 1 && port <= 65535)) {
    throw new SwimError('E_CONFIG', `seed ${JSON.stringify(seed)} is not host:port or [v6]:port`);
  }
  return { address: m[1], port };
}

const gossipFirst = (m: Message): number => (m.type === 'alive' || m.type === 'suspect' || m.type === 'dead' ? 0 : 1);

function checkMeta(meta: unknown, maxBytes: number): Meta {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new SwimError('E_CONFIG', 'meta: must be an object of strings');
  const entries: [string, string][] = [];
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') throw new SwimError('E_CONFIG', `meta.${k}: must be a string`);
    if (Buffer.byteLength(k) > 255) throw new SwimError('E_CONFIG', `meta.${k}: key longer than 255 bytes`);
    entries.push([k, v]);
  }
  if (entries.length > 255) throw new SwimError('E_META_TOO_LARGE', `meta has ${entries.length} entries, at most 255`);
  const frozen = freezeMeta(entries);
  const size = encodedMetaSize(frozen);
  if (size > maxBytes) throw new SwimError('E_META_TOO_LARGE', `meta encodes to ${size} bytes, config.metaMaxBytes is ${maxBytes}`);
  return frozen;
}

class SwimNode implements Swim {
  readonly name: string;
  readonly #config: SwimConfig;
  readonly #log: Logger;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #timers: TimerSet;
  readonly #wire: Wire;
  readonly #membership: Membership;
  readonly #pushPull: PushPullComponents;
  readonly #self: Endpoint;
  readonly #listeners = new Map<SwimEvent, Set<(m: Member) => void>>();
  readonly #wireCounters: WireCounters = {
    packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0, streamsOpened: 0, streamsAccepted: 0,
    dropped: { decrypt: 0, malformed: 0, replay: 0, tooLarge: 0 },
  };
  readonly #protocolCounters: ProtocolCounters = { probes: 0, probeFailures: 0, suspicionsRaised: 0, refutations: 0 };
  readonly #leaveWaiters = new Set<() => void>();
  #activeStreams = 0;
  #shutdown = false;

  constructor(init: SwimInit) {
    if (typeof init.name !== 'string' || init.name.length === 0) throw new SwimError('E_CONFIG', 'name: must be a non-empty string');
    if (Buffer.byteLength(init.name) > MAX_NAME_BYTES) throw new SwimError('E_CONFIG', `name: longer than ${MAX_NAME_BYTES} UTF-8 bytes`);
    if (!(init.keyring instanceof Keyring)) throw new SwimError('E_CONFIG', 'keyring: must be a Keyring');
    this.name = init.name;
    this.#config = validateConfig(init.config);
    this.#transport = init.transport;
    this.#clock = init.clock ?? systemClock;
    const address = init.advertiseAddress ?? init.transport.address;
    const port = init.advertisePort ?? init.transport.port;
    if (isIP(address) === 0) throw new SwimError('E_CONFIG', `advertiseAddress: ${JSON.stringify(address)} is not an IP address`);
    if (address === '0.0.0.0' || address === '::') throw new SwimError('E_CONFIG', `advertiseAddress: required when binding to ${address}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SwimError('E_CONFIG', `advertisePort: ${port} is not a port`);
    this.#self = { address, port };
    const meta = checkMeta(init.meta ?? {}, this.#config.metaMaxBytes);

    this.#log = init.logger.child({ component: 'swim', node: init.name });
    this.#timers = new TimerSet(this.#clock, (err) => {
      this.#log.error({ err }, 'swim: timer callback failed');
    });
    this.#wire = new Wire({ name: init.name, config: this.#config, keyring: init.keyring, transport: init.transport, logger: this.#log, clock: this.#clock, counters: this.#wireCounters });
    this.#membership = new Membership({
      name: init.name, address, port, meta, config: this.#config, clock: this.#clock, timers: this.#timers,
      random: init.random ?? Math.random, logger: this.#log, counters: this.#protocolCounters,
      sendPacket: (to, parts) => {
        this.#wire.sendPacket(to, parts);
      },
      emit: (event, member) => {
        this.#emit(event, member);
      },
    });
    this.#pushPull = {
      config: this.#config, timers: this.#timers, logger: this.#log, transport: init.transport, wire: this.#wire, counters: this.#wireCounters,
      localState: (join): PushPullMessage => ({ type: 'push-pull', join, members: this.#membership.localState() }),
      merge: (remote) => {
        if (!this.#shutdown) this.#membership.mergeRemoteState(remote.members);
      },
    };

    init.transport.onPacket((data, from) => {
      this.#onPacket(data, from);
    });
    init.transport.onStream((stream) => {
      if (this.#shutdown || this.#activeStreams >= this.#config.maxConcurrentStreams) {
        this.#log.warn({ from: `${stream.remote.address}:${stream.remote.port}`, active: this.#activeStreams }, 'swim: refusing inbound stream');
        stream.destroy();
        return;
      }
      this.#activeStreams++;
      void acceptPushPull(this.#pushPull, stream).finally(() => {
        this.#activeStreams--;
      });
    });
    init.transport.onError((err) => {
      this.#log.debug({ err }, 'swim: transport error');
    });

    this.#startLoops(init.random ?? Math.random);
    this.#log.info({ address, port, bootId: this.#wire.bootId.toString() }, 'swim: started');
  }

  // ------------------------------------------------------------ loops

  #startLoops(random: Random): void {
    const cfg = this.#config;
    // A random stagger keeps members that start together from probing in lockstep (memberlist triggerFunc).
    const probeLoop = () => {
      const start = this.#clock.now();
      this.#membership.probe(() => {
        const next = start + this.#membership.awareness.scale(cfg.probeIntervalMs) - this.#clock.now();
        this.#timers.after(next, probeLoop);
      });
    };
    this.#timers.after(random() * cfg.probeIntervalMs, probeLoop);

    if (cfg.gossipIntervalMs > 0 && cfg.gossipNodes > 0) {
      const gossipLoop = () => {
        this.#membership.gossip();
        this.#timers.after(cfg.gossipIntervalMs, gossipLoop);
      };
      this.#timers.after(random() * cfg.gossipIntervalMs, gossipLoop);
    }

    if (cfg.pushPullIntervalMs > 0) {
      const pushPullLoop = () => {
        const peer = this.#membership.pushPullPeer();
        if (peer !== undefined) void this.#pushPullWith(peer, false, 'periodic');
        this.#timers.after(pushPullScale(cfg.pushPullIntervalMs, this.#membership.liveCount()), pushPullLoop);
      };
      this.#timers.after(random() * cfg.pushPullIntervalMs, pushPullLoop);
    }

    if (cfg.reconnectIntervalMs > 0) {
      const reconnectLoop = () => {
        const peer = this.#membership.reconnectPeer();
        if (peer !== undefined) void this.#pushPullWith(peer, false, 'reconnect');
        this.#timers.after(cfg.reconnectIntervalMs, reconnectLoop);
      };
      this.#timers.after(random() * cfg.reconnectIntervalMs, reconnectLoop);
    }
  }

  /**
   * One push-pull; true if it completed. If merging their state made us refute (they had us
   * suspect or dead), push once more so they get our new incarnation straight away instead of
   * waiting for gossip, which may not reach them if they think we are dead.
   */
  async #pushPullWith(peer: Endpoint & { name?: string }, join: boolean, why: string, again = true): Promise<boolean> {
    if (this.#shutdown) return false;
    const before = this.#membership.selfIncarnation;
    try {
      await pushPullWith(this.#pushPull, peer, join);
    } catch (err) {
      this.#log.debug({ peer: `${peer.address}:${peer.port}`, name: peer.name, why, err }, 'swim: push-pull failed');
      return false;
    }
    if (again && this.#membership.selfIncarnation > before) void this.#pushPullWith(peer, false, 'after refutation', false);
    return true;
  }

  // ------------------------------------------------------------ inbound packets

  #onPacket(data: Uint8Array, from: Endpoint): void {
    if (this.#shutdown) return;
    const inbound = this.#wire.openPacket(data, from);
    if (inbound === undefined) return;
    let messages: Message[];
    try {
      messages = decodePacketBody(inbound.body);
    } catch (err) {
      if (err instanceof DecodeError) {
        this.#wire.drop('malformed', from, `from ${inbound.sender}: ${err.message}`);
        return;
      }
      this.#log.error({ err, from: inbound.sender }, 'swim: unexpected error decoding a packet');
      return;
    }
    if (messages.some((m) => m.type === 'push-pull')) {
      this.#wire.drop('malformed', from, `push-pull in a packet from ${inbound.sender}`);
      return;
    }
    // Membership news before probe traffic: a refutation that a buddy-system suspect provokes
    // is then already queued when we answer the ping, and rides the ack to the accuser.
    messages.sort((a, b) => gossipFirst(a) - gossipFirst(b));
    for (const m of messages) {
      try {
        this.#membership.handle(m);
      } catch (err) {
        // A bug, not a peer's fault; the packet must not take the node down with it.
        this.#log.error({ err, type: m.type, from: inbound.sender }, 'swim: handling a message failed');
      }
    }
  }

  // ------------------------------------------------------------ events

  #emit(event: SwimEvent, member: Member): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const l of [...set]) {
      try {
        l(member);
      } catch (err) {
        this.#log.error({ err, event, member: member.name }, 'swim: event listener threw');
      }
    }
  }

  on(event: SwimEvent, listener: (m: Member) => void): void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
  }

  off(event: SwimEvent, listener: (m: Member) => void): void {
    this.#listeners.get(event)?.delete(listener);
  }

  // ------------------------------------------------------------ API

  async join(seeds: string[]): Promise<number> {
    if (this.#shutdown) throw new SwimError('E_SHUTDOWN', 'join after shutdown');
    const targets = seeds.map(parseSeed).filter((s) => !(s.address === this.#self.address && s.port === this.#self.port));
    if (targets.length === 0) return 0;
    const results = await Promise.all(targets.map((t) => this.#pushPullWith(t, true, 'join')));
    const answered = results.filter(Boolean).length;
    this.#log.info({ seeds: targets.length, answered }, 'swim: join');
    if (answered === 0) throw new SwimError('E_JOIN', `none of ${targets.length} seeds answered a push-pull (${seeds.join(', ')})`);
    return answered;
  }

  leave(timeoutMs: number = this.#config.leaveTimeoutMs): Promise<void> {
    if (this.#shutdown) return Promise.reject(new SwimError('E_SHUTDOWN', 'leave after shutdown'));
    if (this.#membership.hasLeft) return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      let cancelTimeout = (): void => undefined;
      const finish = (how: 'broadcast' | 'alone' | 'timeout' | 'shutdown') => {
        if (done) return;
        done = true;
        cancelTimeout();
        this.#leaveWaiters.delete(onShutdown);
        if (how === 'timeout') this.#log.warn({ timeoutMs }, 'swim: left, but the leave broadcast had not finished in time');
        else this.#log.info({ how }, 'swim: left');
        resolve();
      };
      const onShutdown = () => {
        finish('shutdown');
      };
      this.#leaveWaiters.add(onShutdown);
      cancelTimeout = this.#timers.after(timeoutMs, () => {
        finish('timeout');
      });
      const othersToTell = this.#membership.anyAliveOthers();
      this.#membership.leave(() => {
        finish('broadcast');
      });
      if (!othersToTell) finish('alone');
    });
  }

  async shutdown(): Promise<void> {
    if (this.#shutdown) return;
    this.#shutdown = true;
    this.#timers.close();
    this.#membership.close();
    for (const w of [...this.#leaveWaiters]) w();
    await this.#transport.close();
    this.#log.info('swim: shut down');
  }

  members(): Member[] {
    return this.#membership.members();
  }

  member(name: string): Member | undefined {
    return this.#membership.member(name);
  }

  updateMeta(meta: Record<string, string>): void {
    if (this.#shutdown) throw new SwimError('E_SHUTDOWN', 'updateMeta after shutdown');
    this.#membership.updateMeta(checkMeta(meta, this.#config.metaMaxBytes));
  }

  stats(): SwimStats {
    const w = this.#wireCounters;
    return {
      packetsSent: w.packetsSent, packetsReceived: w.packetsReceived, bytesSent: w.bytesSent, bytesReceived: w.bytesReceived,
      streamsOpened: w.streamsOpened, streamsAccepted: w.streamsAccepted, dropped: { ...w.dropped },
      healthScore: this.#membership.awareness.score, ...this.#protocolCounters,
    };
  }
}

export function createSwim(init: SwimInit): Swim {
  return new SwimNode(init);
}
