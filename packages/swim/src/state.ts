/**
 * Membership state and failure detection (memberlist state.go): the member table with
 * memberlist's incarnation rules (aliveNode / suspectNode / deadNode / mergeState), the probe
 * round (SWIM 3.1 and 4.3: round-robin over a shuffled list, direct ping, then ping-req through k
 * helpers), Lifeguard's nacks, local health and buddy system, suspicion with refutation
 * (SWIM 4.2), and gossip rounds. No sockets: it sends through `sendPacket` and keeps time
 * through the injected clock, so tests drive it with a fake network and a hand-driven clock.
 */
import type { Logger } from 'pino';
import type { TimerSet, Clock } from '@shoal/model';
import { Awareness } from './awareness.js';
import {
  COMPOUND_HEADER_BYTES, COMPOUND_SLOT_BYTES, MAX_COMPOUND_PARTS, encodeMessage, metaEquals,
  type AliveMessage, type DeadMessage, type IndirectPingMessage, type Message, type Meta, type PingMessage, type PushPullMember, type SuspectMessage,
} from './codec.js';
import type { SwimConfig } from './config.js';
import { BroadcastQueue } from './queue.js';
import { pickRandom, shuffle, randomInt, type Random } from './random.js';
import { sealOverhead } from './security.js';
import { Suspicion, suspicionTimeoutMs } from './suspicion.js';
import type { Endpoint } from './transport.js';
import type { Member, MemberState, SwimEvent } from './types.js';

/** Protocol counters this module owns (the rest of SwimStats is the wire's). */
export interface ProtocolCounters {
  probes: number;
  probeFailures: number;
  suspicionsRaised: number;
  refutations: number;
}

export interface MembershipComponents {
  name: string;
  address: string;
  port: number;
  meta: Meta;
  config: SwimConfig;
  clock: Clock;
  timers: TimerSet;
  random: Random;
  logger: Logger;
  counters: ProtocolCounters;
  /** Seals and sends encoded messages as one packet (a compound if several). */
  sendPacket(to: Endpoint, parts: Uint8Array[]): void;
  emit(event: SwimEvent, member: Member): void;
}

interface NodeState {
  name: string;
  address: string;
  port: number;
  meta: Meta;
  incarnation: number;
  state: MemberState;
  stateChangedAtMs: number;
  /** Bumped on every state change: a suspicion timer only acts on the change that started it. */
  change: number;
}

interface AckHandler {
  onAck(): void;
  onNack?(): void;
}

/**
 * The helper's nack goes out at this fraction of the probe timeout. memberlist waits the whole
 * timeout, so with LAN defaults (ping-req at 500 ms, nack 500 ms later) nacks reach the prober
 * after its 1 s deadline and every failed probe counts as missed nacks; answering a little early
 * keeps Lifeguard's signal (as swift-cluster-membership does, its PR #14).
 */
const NACK_FRACTION = 0.8;

const MAX_INCARNATION = 0xffffffff;

const deadOrLeft = (n: NodeState): boolean => n.state === 'dead' || n.state === 'left';

export class Membership {
  readonly awareness: Awareness;
  readonly queue: BroadcastQueue;
  readonly #c: MembershipComponents;
  readonly #cfg: SwimConfig;
  readonly #log: Logger;
  readonly #self: NodeState;
  readonly #nodes = new Map<string, NodeState>();
  #probeList: NodeState[] = [];
  #probeIndex = 0;
  #incarnation = 0;
  #seq = 0;
  #left = false;
  readonly #suspicions = new Map<string, Suspicion>();
  readonly #ackHandlers = new Map<number, AckHandler>();
  readonly #selfNameBytes: number;

  constructor(c: MembershipComponents) {
    this.#c = c;
    this.#cfg = c.config;
    this.#log = c.logger;
    this.awareness = new Awareness(c.config.awarenessMaxMultiplier);
    this.queue = new BroadcastQueue({ retransmitMult: c.config.retransmitMult, numMembers: () => this.liveCount() });
    this.#selfNameBytes = new TextEncoder().encode(c.name).length;
    // memberlist setAlive: our first alive message takes incarnation 1.
    this.#incarnation = 1;
    this.#self = { name: c.name, address: c.address, port: c.port, meta: c.meta, incarnation: 1, state: 'alive', stateChangedAtMs: c.clock.now(), change: 0 };
    this.#nodes.set(c.name, this.#self);
    this.#probeList.push(this.#self);
    // memberlist setAlive: announce ourselves; after a join this spreads us alongside the seed's gossip.
    this.#broadcast(c.name, this.#aliveOfSelf());
  }

  // ------------------------------------------------------------ views

  get selfIncarnation(): number {
    return this.#self.incarnation;
  }

  get hasLeft(): boolean {
    return this.#left;
  }

  /** Members that count for the protocol's log(n) scaling: alive and suspect ones, self included. */
  liveCount(): number {
    let n = 0;
    for (const s of this.#nodes.values()) if (s.state === 'alive' || s.state === 'suspect') n++;
    return n;
  }

  members(): Member[] {
    return [...this.#nodes.values()].map(snapshot).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  member(name: string): Member | undefined {
    const s = this.#nodes.get(name);
    return s === undefined ? undefined : snapshot(s);
  }

  /** True if some member other than us is alive (someone to hear our leave). */
  anyAliveOthers(): boolean {
    for (const s of this.#nodes.values()) if (s !== this.#self && s.state === 'alive') return true;
    return false;
  }

  /** A random alive member for periodic push-pull. */
  pushPullPeer(): Endpoint & { name: string } | undefined {
    return this.#randomMember((n) => n !== this.#self && n.state === 'alive');
  }

  /** A random dead (not left) member to try to reconnect to after a partition. */
  reconnectPeer(): Endpoint & { name: string } | undefined {
    return this.#randomMember((n) => n !== this.#self && n.state === 'dead');
  }

  #randomMember(keep: (n: NodeState) => boolean): Endpoint & { name: string } | undefined {
    const [n] = pickRandom(this.#c.random, this.#probeList, 1, keep);
    return n === undefined ? undefined : { name: n.name, address: n.address, port: n.port };
  }

  /** Everything we know, for push-pull (memberlist sends dead members too). */
  localState(): PushPullMember[] {
    return [...this.#nodes.values()].map((n) => ({ name: n.name, address: n.address, port: n.port, meta: n.meta, incarnation: n.incarnation, state: n.state }));
  }

  // ------------------------------------------------------------ sending

  /** One packet: the given messages first, then as many queued broadcasts as fit (SWIM 4.1 piggybacking). */
  #send(to: Endpoint, messages: Message[]): boolean {
    const parts = messages.map(encodeMessage);
    let room = this.#cfg.udpBufferSize - sealOverhead(this.#selfNameBytes) - COMPOUND_HEADER_BYTES;
    for (const p of parts) room -= p.length + COMPOUND_SLOT_BYTES;
    if (room < 0) this.#log.warn({ to, bytes: this.#cfg.udpBufferSize - room }, 'swim: message larger than udpBufferSize; the receiver will drop it');
    const extra = this.queue.getBroadcasts(COMPOUND_SLOT_BYTES, room, MAX_COMPOUND_PARTS - parts.length);
    parts.push(...extra);
    if (parts.length === 0) return false;
    this.#c.sendPacket(to, parts);
    return true;
  }

  #broadcast(name: string, m: Message, onFinished?: () => void): void {
    this.queue.queue(onFinished === undefined ? { name, message: encodeMessage(m) } : { name, message: encodeMessage(m), onFinished });
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  // ------------------------------------------------------------ inbound

  handle(m: Message): void {
    switch (m.type) {
      case 'ping':
        this.#handlePing(m);
        break;
      case 'indirect-ping':
        this.#handleIndirectPing(m);
        break;
      case 'ack': {
        const h = this.#ackHandlers.get(m.seq);
        h?.onAck();
        break;
      }
      case 'nack':
        this.#ackHandlers.get(m.seq)?.onNack?.();
        break;
      case 'suspect':
        this.suspectNode(m);
        break;
      case 'alive':
        this.aliveNode(m);
        break;
      case 'dead':
        this.deadNode(m);
        break;
      case 'push-pull':
        // Only valid on a stream; the wire refuses it on packets before it gets here.
        break;
    }
  }

  #handlePing(p: PingMessage): void {
    // A ping for another name reached us (an address reused after a restart under a new name).
    if (p.target !== '' && p.target !== this.#c.name) {
      this.#log.debug({ target: p.target, from: p.sourceName }, 'swim: ping for another member ignored');
      return;
    }
    this.#send({ address: p.sourceAddress, port: p.sourcePort }, [{ type: 'ack', seq: p.seq }]);
  }

  /** SWIM 3.1 ping-req: probe the target on the requester's behalf and relay the ack; Lifeguard 4.1: or nack. */
  #handleIndirectPing(ind: IndirectPingMessage): void {
    const requester: Endpoint = { address: ind.sourceAddress, port: ind.sourcePort };
    if (ind.target === this.#c.name) {
      this.#send(requester, [{ type: 'ack', seq: ind.seq }]);
      return;
    }
    const localSeq = this.#nextSeq();
    let answered = false;
    const cancelNack = ind.nack
      ? this.#c.timers.after(Math.floor(this.#cfg.probeTimeoutMs * NACK_FRACTION), () => {
        if (!answered) this.#send(requester, [{ type: 'nack', seq: ind.seq }]);
      })
      : () => undefined;
    const cancelReap = this.#c.timers.after(this.#cfg.probeTimeoutMs, () => {
      this.#ackHandlers.delete(localSeq);
    });
    this.#ackHandlers.set(localSeq, {
      onAck: () => {
        answered = true;
        this.#ackHandlers.delete(localSeq);
        cancelNack();
        cancelReap();
        this.#send(requester, [{ type: 'ack', seq: ind.seq }]);
      },
    });
    this.#send({ address: ind.targetAddress, port: ind.targetPort }, [
      { type: 'ping', seq: localSeq, target: ind.target, sourceAddress: this.#self.address, sourcePort: this.#self.port, sourceName: this.#c.name },
    ]);
  }

  // ------------------------------------------------------------ probing

  /** One probe round; `done` is called when it is over (acked or failed), or at once with no one to probe. */
  probe(done: () => void): void {
    const node = this.#nextProbeTarget();
    if (node === undefined) {
      done();
      return;
    }
    this.#probeNode(node, done);
  }

  /** SWIM 4.3: round-robin over a list shuffled at each wrap, so every member is probed within a bounded time. */
  #nextProbeTarget(): NodeState | undefined {
    const limit = this.#probeList.length * 2 + 1;
    for (let i = 0; i < limit; i++) {
      if (this.#probeIndex >= this.#probeList.length) {
        this.#resetProbeList();
        this.#probeIndex = 0;
        continue;
      }
      const node = this.#probeList[this.#probeIndex++];
      if (node === undefined || node === this.#self || deadOrLeft(node)) continue;
      return node;
    }
    return undefined;
  }

  /** memberlist resetNodes: forget dead and left members past retention, shuffle the rest. */
  #resetProbeList(): void {
    const now = this.#c.clock.now();
    const keep: NodeState[] = [];
    for (const n of this.#probeList) {
      if (n !== this.#self && deadOrLeft(n) && now - n.stateChangedAtMs > this.#cfg.deadMemberRetentionMs) {
        this.#nodes.delete(n.name);
        this.#log.debug({ member: n.name, state: n.state }, 'swim: forgetting member past retention');
      } else {
        keep.push(n);
      }
    }
    this.#probeList = shuffle(this.#c.random, keep);
  }

  #probeNode(node: NodeState, done: () => void): void {
    const target = { name: node.name, address: node.address, port: node.port, incarnation: node.incarnation, state: node.state };
    // Lifeguard 4.3 (LHA-Probe): a node that doubts its own health probes more slowly and waits longer.
    const scale = this.awareness.score + 1;
    const intervalMs = this.#cfg.probeIntervalMs * scale;
    const timeoutMs = this.#cfg.probeTimeoutMs * scale;
    const seq = this.#nextSeq();
    this.#c.counters.probes++;

    let finished = false;
    let expectedNacks = 0;
    let nacks = 0;
    const cancels: (() => void)[] = [];
    const finish = (acked: boolean) => {
      if (finished) return;
      finished = true;
      for (const cancel of cancels) cancel();
      this.#ackHandlers.delete(seq);
      if (acked) {
        this.awareness.applyDelta(-1);
      } else {
        // Lifeguard 4.3: helpers that did not even nack suggest the problem is ours; with no
        // helpers, any failed probe counts against us.
        this.awareness.applyDelta(expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1);
        this.#c.counters.probeFailures++;
        this.#log.debug({ member: target.name, expectedNacks, nacks }, 'swim: probe failed, suspecting');
        this.suspectNode({ type: 'suspect', incarnation: target.incarnation, node: target.name, from: this.#c.name });
      }
      done();
    };
    this.#ackHandlers.set(seq, {
      onAck: () => {
        finish(true);
      },
      onNack: () => {
        nacks++;
      },
    });

    const ping: PingMessage = { type: 'ping', seq, target: target.name, sourceAddress: this.#self.address, sourcePort: this.#self.port, sourceName: this.#c.name };
    // Lifeguard 4.4 buddy system: a member we suspect hears it with our probe and can refute at once.
    const messages: Message[] = target.state === 'alive' ? [ping] : [ping, { type: 'suspect', incarnation: target.incarnation, node: target.name, from: this.#c.name }];
    this.#send(target, messages);

    cancels.push(this.#c.timers.after(timeoutMs, () => {
      if (finished) return;
      // SWIM 3.1: no direct ack in time; ask k random live members to probe it for us.
      const helpers = pickRandom(this.#c.random, this.#probeList, this.#cfg.indirectChecks, (n) => n !== this.#self && n.name !== target.name && n.state === 'alive');
      expectedNacks = helpers.length;
      for (const h of helpers) {
        this.#send(h, [{
          type: 'indirect-ping', seq, target: target.name, targetAddress: target.address, targetPort: target.port, nack: true,
          sourceAddress: this.#self.address, sourcePort: this.#self.port, sourceName: this.#c.name,
        }]);
      }
    }));
    cancels.push(this.#c.timers.after(intervalMs, () => {
      finish(false);
    }));
  }

  /** Sends queued broadcasts to a few random members (memberlist gossip). */
  gossip(): void {
    const now = this.#c.clock.now();
    const targets = pickRandom(this.#c.random, this.#probeList, this.#cfg.gossipNodes, (n) => {
      if (n === this.#self) return false;
      switch (n.state) {
        case 'alive':
        case 'suspect':
          return true;
        case 'dead':
          // Gossip to the dead for a while: if it is alive after all it hears, and refutes.
          return now - n.stateChangedAtMs <= this.#cfg.gossipToTheDeadMs;
        case 'left':
          return false;
      }
    });
    for (const t of targets) {
      if (!this.#send(t, [])) return;
    }
  }

  // ------------------------------------------------------------ incarnation rules (memberlist)

  /** memberlist refute: an alive message with an incarnation above the accusation. */
  #refute(accusedIncarnation: number): void {
    let inc = this.#incarnation + 1;
    if (accusedIncarnation >= inc) inc = accusedIncarnation + 1;
    if (inc > MAX_INCARNATION) {
      // Incarnations are u32 as in memberlist; only a key holder's lie gets here. Saturate
      // rather than wrap to 0, which everyone would ignore.
      this.#log.error({ accusedIncarnation }, 'swim: incarnation exhausted; cannot out-bid this accusation');
      inc = MAX_INCARNATION;
    }
    this.#incarnation = inc;
    this.#self.incarnation = inc;
    // Lifeguard 4.3: being suspected is a sign we may be the slow one.
    this.awareness.applyDelta(1);
    this.#c.counters.refutations++;
    this.#broadcast(this.#c.name, this.#aliveOfSelf());
  }

  /**
   * An accusation about an incarnation we already refuted: its sender missed our refutation
   * (memberlist ignores it, and the accuser's suspicion then runs its full course unless gossip
   * happens to reach it). Gossip our current alive again, no new incarnation and no health
   * penalty; the accusation usually came with a buddy-system ping, so it rides the ack back.
   */
  #reannounce(): void {
    if (this.#left) return;
    this.#broadcast(this.#c.name, this.#aliveOfSelf());
  }

  #aliveOfSelf(): AliveMessage {
    const s = this.#self;
    return { type: 'alive', incarnation: s.incarnation, node: s.name, address: s.address, port: s.port, meta: s.meta };
  }

  /** memberlist aliveNode. `bootstrap` is true for our own updates (no refutation). */
  aliveNode(a: AliveMessage, bootstrap = false): void {
    const isLocal = a.node === this.#c.name;
    // A queued alive about us must not undo a leave in progress.
    if (this.#left && isLocal) return;

    let state = this.#nodes.get(a.node);
    let updatesNode = false;
    const isNew = state === undefined;
    if (state === undefined) {
      // memberlist inserts first and then bails on incarnation 0, leaving a ghost; we just bail.
      if (a.incarnation === 0) return;
      state = { name: a.node, address: a.address, port: a.port, meta: a.meta, incarnation: 0, state: 'dead', stateChangedAtMs: this.#c.clock.now(), change: 0 };
      this.#nodes.set(a.node, state);
      // A random position keeps the failure-detection bound low on average (memberlist).
      const offset = randomInt(this.#c.random, this.#probeList.length + 1);
      this.#probeList.splice(offset, 0, state);
    } else if (state.address !== a.address || state.port !== a.port) {
      const canReclaim = this.#cfg.deadNodeReclaimTimeMs > 0 && this.#c.clock.now() - state.stateChangedAtMs > this.#cfg.deadNodeReclaimTimeMs;
      if (state.state === 'left' || (state.state === 'dead' && canReclaim)) {
        this.#log.info({ member: a.node, from: `${state.address}:${state.port}`, to: `${a.address}:${a.port}` }, 'swim: updating address of a left or dead member');
        updatesNode = true;
      } else {
        this.#log.warn({ member: a.node, ours: `${state.address}:${state.port}`, theirs: `${a.address}:${a.port}`, state: state.state }, 'swim: conflicting address for member');
        return;
      }
    }

    if (a.incarnation <= state.incarnation && !isLocal && !updatesNode && !isNew) return;
    if (a.incarnation < state.incarnation && isLocal) return;

    this.#cancelSuspicion(a.node);
    const oldState = state.state;
    const oldMeta = state.meta;
    const oldAddress = `${state.address}:${state.port}`;

    if (!bootstrap && isLocal) {
      // Someone has an alive about us. Same incarnation and meta: an echo of ours. Otherwise
      // (a previous life of ours with other meta, or a higher incarnation): refute.
      if (a.incarnation === state.incarnation && metaEquals(a.meta, state.meta)) return;
      this.#refute(a.incarnation);
      this.#log.warn({ incarnation: a.incarnation }, 'swim: refuting an alive message about us');
      return;
    }

    this.#broadcast(a.node, a);
    state.incarnation = a.incarnation;
    if (isLocal) this.#incarnation = Math.max(this.#incarnation, a.incarnation);
    state.meta = a.meta;
    state.address = a.address;
    state.port = a.port;
    if (state.state !== 'alive') this.#setState(state, 'alive');

    const metaChanged = !metaEquals(oldMeta, state.meta);
    const addressChanged = oldAddress !== `${state.address}:${state.port}`;
    if (isNew || oldState === 'dead' || oldState === 'left') {
      this.#emit('join', state);
    } else {
      if (oldState === 'suspect') this.#emit('alive', state);
      if (metaChanged || addressChanged) this.#emit('update', state);
    }
  }

  /**
   * memberlist suspectNode (SWIM 4.2 suspicion, Lifeguard 4.2 dynamic timeout). `secondHand`
   * marks a suspicion read from a push-pull peer's table: it starts our timer if we had none,
   * but neither confirms an existing one nor is re-gossiped. memberlist does both, with
   * ourselves as the accuser; then every push-pull during a suspicion counts as another
   * independent confirmation, so one lossy probe plus a couple of routine push-pulls drive the
   * timer to its minimum, which is how healthy members got declared dead under 10% loss.
   */
  suspectNode(s: SuspectMessage, secondHand = false): void {
    const state = this.#nodes.get(s.node);
    if (state === undefined) return;
    if (s.incarnation < state.incarnation) {
      if (state === this.#self) this.#reannounce();
      return;
    }

    // An independent confirmation of a suspicion we hold shortens its timer; new ones are re-gossiped.
    const timer = this.#suspicions.get(s.node);
    if (timer !== undefined) {
      if (!secondHand && timer.confirm(s.from)) this.#broadcast(s.node, s);
      return;
    }
    if (state.state !== 'alive') return;

    if (state === this.#self) {
      this.#refute(s.incarnation);
      this.#log.warn({ from: s.from }, 'swim: refuting a suspect message about us');
      return;
    }
    if (!secondHand) this.#broadcast(s.node, s);

    state.incarnation = s.incarnation;
    this.#setState(state, 'suspect');
    const change = state.change;
    this.#c.counters.suspicionsRaised++;

    // k confirmations wanted; none if the cluster is too small to give them (minus us and it).
    const n = this.liveCount();
    let k = this.#cfg.suspicionMult - 2;
    if (n - 2 < k) k = 0;
    const minMs = suspicionTimeoutMs(this.#cfg.suspicionMult, n, this.#cfg.probeIntervalMs);
    const maxMs = this.#cfg.suspicionMaxTimeoutMult * minMs;
    this.#suspicions.set(s.node, new Suspicion({
      from: s.from, k, minMs, maxMs, clock: this.#c.clock,
      onTimeout: (confirmations) => {
        this.#suspicions.delete(s.node);
        const now = this.#nodes.get(s.node);
        if (now === undefined || now.state !== 'suspect' || now.change !== change) return;
        this.#log.info({ member: s.node, confirmations, k }, 'swim: suspicion timed out, declaring dead');
        this.deadNode({ type: 'dead', incarnation: now.incarnation, node: now.name, from: this.#c.name });
      },
    }));
    this.#emit('suspect', state);
  }

  /** memberlist deadNode. A dead message from the member itself means it left. */
  deadNode(d: DeadMessage, onBroadcastDone?: () => void): void {
    const state = this.#nodes.get(d.node);
    if (state === undefined) return;
    if (d.incarnation < state.incarnation) {
      if (state === this.#self) this.#reannounce();
      return;
    }
    this.#cancelSuspicion(d.node);
    if (deadOrLeft(state)) return;

    if (state === this.#self) {
      if (!this.#left) {
        this.#refute(d.incarnation);
        this.#log.warn({ from: d.from }, 'swim: refuting a dead message about us');
        return;
      }
      this.#broadcast(d.node, d, onBroadcastDone);
    } else {
      this.#broadcast(d.node, d);
    }

    state.incarnation = d.incarnation;
    const left = d.node === d.from;
    this.#setState(state, left ? 'left' : 'dead');
    this.#emit(left ? 'leave' : 'dead', state);
  }

  /** memberlist mergeState: a push-pull peer's table, through the same rules as gossip. */
  mergeRemoteState(remote: readonly PushPullMember[]): void {
    for (const r of remote) {
      switch (r.state) {
        case 'alive':
          this.aliveNode({ type: 'alive', incarnation: r.incarnation, node: r.name, address: r.address, port: r.port, meta: r.meta });
          break;
        case 'left':
          this.deadNode({ type: 'dead', incarnation: r.incarnation, node: r.name, from: r.name });
          break;
        // A peer's dead is only a suspicion for us: we give it the chance to refute.
        case 'dead':
        case 'suspect':
          this.suspectNode({ type: 'suspect', incarnation: r.incarnation, node: r.name, from: this.#c.name }, true);
          break;
      }
    }
  }

  /** Our own metadata changed: a new incarnation, gossiped. */
  updateMeta(meta: Meta): void {
    if (this.#left) {
      this.#log.warn('swim: updateMeta after leave ignored');
      return;
    }
    this.#incarnation = Math.min(MAX_INCARNATION, this.#incarnation + 1);
    const s = this.#self;
    this.aliveNode({ type: 'alive', incarnation: this.#incarnation, node: s.name, address: s.address, port: s.port, meta }, true);
  }

  /**
   * memberlist Leave: a dead message about ourselves from ourselves, which others read as left.
   * `onBroadcastDone` runs when it has been gossiped its full count.
   */
  leave(onBroadcastDone: () => void): void {
    if (this.#left) return;
    this.#left = true;
    this.deadNode({ type: 'dead', incarnation: this.#self.incarnation, node: this.#c.name, from: this.#c.name }, onBroadcastDone);
  }

  #setState(state: NodeState, to: MemberState): void {
    state.state = to;
    state.stateChangedAtMs = this.#c.clock.now();
    state.change++;
  }

  #cancelSuspicion(name: string): void {
    const t = this.#suspicions.get(name);
    if (t === undefined) return;
    t.cancel();
    this.#suspicions.delete(name);
  }

  #emit(event: SwimEvent, state: NodeState): void {
    this.#c.emit(event, snapshot(state));
  }

  /** Stops every suspicion timer and forgets pending acks. */
  close(): void {
    for (const t of this.#suspicions.values()) t.cancel();
    this.#suspicions.clear();
    this.#ackHandlers.clear();
  }
}

function snapshot(s: NodeState): Member {
  return Object.freeze({ name: s.name, address: s.address, port: s.port, state: s.state, incarnation: s.incarnation, meta: s.meta, stateChangedAtMs: s.stateChangedAtMs });
}
