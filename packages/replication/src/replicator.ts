/**
 * Replication of the store between nodes. Three paths, each repairing what the one before
 * can miss:
 *  1. push: every update made here is sent at once to every live peer (one exchange in flight
 *     per peer; updates that queue behind it are merged into the next one);
 *  2. sync on trouble: a failed push, a peer that comes back, a gossiped digest that stays
 *     different, or a push answer showing the peer missed something, switch that peer to a
 *     state-vector exchange (the Yjs sync protocol), which moves exactly what either side lacks;
 *  3. anti-entropy: a random live peer is synced every antiEntropyIntervalMs regardless.
 *
 * Write concern rides on the answers: every answer carries the peer's state vector, and a
 * local write is on a peer once that vector covers the writer's clock (store.localClock).
 * Updates from peers are not forwarded: each writer pushes to every peer itself (full mesh,
 * one hop), and sync covers the peers it could not reach.
 */
import type { Logger } from 'pino';
import * as Y from 'yjs';
import { ShoalError, ValidationError, nodesRequired, type WriteConcern } from '@shoal/model';
import { replicationConfig, type ReplicationConfig, type ReplicationInit } from './config.js';
import { stateDigest } from './digest.js';
import { MESSAGE_SYNC_STEP1, MESSAGE_SYNC_STEP2, MESSAGE_UPDATE, ReplicationProtocolError, decodeMessages, decodeVector, encodeMessages, vectorAhead } from './protocol.js';

/** What replication needs of the store (ClusterStore has all of it). */
export interface ReplicatedStore {
  encodeStateVector(): Uint8Array;
  encodeStateAsUpdate(remoteStateVector?: Uint8Array): Uint8Array;
  applyRemoteUpdate(update: Uint8Array, origin: unknown): Promise<void>;
  onUpdate(listener: (update: Uint8Array, origin: unknown) => void): () => void;
  localClock(): { readonly clientId: number; readonly clock: number };
}

/** A peer replica: its node name and the base URL of its API (https://host:port). */
export interface ReplicaPeer {
  readonly name: string;
  readonly url: string;
}

/** Who the peers are, from membership (SWIM in shoald, a list in tests). */
export interface PeerDirectory {
  /** Peers believed alive (or only suspected), other than this node. */
  livePeers(): readonly ReplicaPeer[];
  /** Nodes a majority is counted over: every known member that has not left, this one included. */
  clusterSize(): number;
}

/** The network between replicas: one request, one answer. */
export interface PeerLink {
  exchange(peer: ReplicaPeer, kind: 'push' | 'sync', body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): void;
}

/** The origin given to updates applied from a peer, so they are not pushed back out. */
export class PeerOrigin {
  readonly peer: string;
  constructor(peer: string) {
    this.peer = peer;
  }
}

export interface ReplicatorComponents {
  readonly store: ReplicatedStore;
  readonly directory: PeerDirectory;
  readonly link: PeerLink;
  readonly logger: Logger;
  /** This node's name (for logs and status). */
  readonly self: string;
}

export interface PeerReplicationStatus {
  readonly name: string;
  readonly url: string;
  readonly live: boolean;
  readonly activity: 'idle' | 'pushing' | 'syncing' | 'waiting to retry';
  /** How far this peer has acknowledged this node's own writes (its clock for our client id). */
  readonly ackedLocalClock: number;
  readonly pendingBytes: number;
  readonly pushes: number;
  readonly syncs: number;
  readonly failures: number;
  readonly lastAckAgoMs: number | null;
  readonly lastError: string | null;
}

export interface ReplicationStatus {
  readonly digest: string;
  readonly localClock: number;
  readonly clusterSize: number;
  readonly peers: readonly PeerReplicationStatus[];
}

export interface Replicator {
  start(): void;
  stop(): Promise<void>;
  /**
   * Nodes the concern asks for in the current cluster; a number above the cluster's size is a
   * ValidationError naming `field`.
   */
  required(concern: WriteConcern, field?: string): number;
  /** Throws E_QUORUM at once when fewer than `required` nodes are alive, before anything is written. */
  assertReachable(required: number): void;
  /**
   * Resolves once `required` nodes (this one included) hold every write made here so far;
   * rejects with E_QUORUM after writeTimeoutMs. Call it after the local write is durable.
   */
  awaitReplicated(required: number, timeoutMs?: number): Promise<void>;
  /** The server side of a push: applies (durably) and answers with our state vector. */
  receivePush(body: Uint8Array, from: string): Promise<Uint8Array>;
  /** The server side of a sync: what the caller lacks and our state vector. */
  answerSync(body: Uint8Array, from: string): Promise<Uint8Array>;
  /** Membership changed (join, alive, dead...): pushes to new peers, syncs returning ones. */
  membershipChanged(): void;
  /** A peer gossiped its digest; a difference that outlives digestSettleMs triggers a sync. */
  peerDigest(peer: string, digest: string): void;
  /** Our digest, for gossip. */
  digest(): string;
  /** Called with the new digest when it changes (at most once per event-loop turn). */
  onDigestChange(listener: (digest: string) => void): () => void;
  syncNow(peer: string): Promise<void>;
  status(): ReplicationStatus;
}

interface PeerState {
  peer: ReplicaPeer;
  /** Liveness as of the last membershipChanged(), to tell a peer that came back from one that stayed. */
  wasLive: boolean;
  /** The peer's state vector as last acknowledged. */
  acked: Map<number, number>;
  pending: Uint8Array[];
  pendingBytes: number;
  activity: PeerReplicationStatus['activity'];
  needsSync: boolean;
  retryDelayMs: number;
  retryTimer: NodeJS.Timeout | null;
  digestTimer: NodeJS.Timeout | null;
  gossipedDigest: string | null;
  pushes: number;
  syncs: number;
  failures: number;
  lastAckAt: number | null;
  lastError: string | null;
  /** Resolvers of syncNow callers waiting for the next completed sync. */
  syncWaiters: { resolve: () => void; reject: (err: Error) => void }[];
}

interface AckWaiter {
  readonly clientId: number;
  readonly clock: number;
  readonly required: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export function createReplicator(components: ReplicatorComponents, init: ReplicationInit = {}): Replicator {
  return new MeshReplicator(components, replicationConfig(init));
}

class MeshReplicator implements Replicator {
  private readonly log: Logger;
  private readonly peers = new Map<string, PeerState>();
  private readonly waiters = new Set<AckWaiter>();
  private readonly digestListeners = new Set<(digest: string) => void>();
  private unsubscribe: (() => void) | null = null;
  private antiEntropyTimer: NodeJS.Timeout | null = null;
  private digestCache: string | null = null;
  private digestNotifyQueued = false;
  private stopped = false;

  private readonly c: ReplicatorComponents;
  private readonly config: ReplicationConfig;

  constructor(c: ReplicatorComponents, config: ReplicationConfig) {
    this.c = c;
    this.config = config;
    this.log = c.logger.child({ component: 'replication' });
  }

  start(): void {
    this.unsubscribe = this.c.store.onUpdate((update, origin) => {
      this.digestCache = null;
      this.queueDigestNotify();
      if (origin instanceof PeerOrigin || this.stopped) return;
      this.refreshPeers();
      for (const p of this.peers.values()) this.enqueue(p, update);
    });
    this.scheduleAntiEntropy();
    this.membershipChanged();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.antiEntropyTimer) clearTimeout(this.antiEntropyTimer);
    for (const p of this.peers.values()) this.clearTimers(p);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new ShoalError('E_UNAVAILABLE', 'node is shutting down; the write is durable here but its replication was not confirmed'));
    }
    this.waiters.clear();
    this.c.link.close();
    await Promise.resolve();
  }

  required(concern: WriteConcern, field = 'writeConcern'): number {
    const size = this.c.directory.clusterSize();
    const n = nodesRequired(concern, size);
    if (n > size) throw new ValidationError([{ path: field, message: `asks for ${n} nodes but the cluster has ${size}` }]);
    return n;
  }

  assertReachable(required: number): void {
    const live = this.c.directory.livePeers().length + 1;
    if (live < required) {
      throw new ShoalError('E_QUORUM', `write needs ${required} of ${this.c.directory.clusterSize()} nodes but only ${live} ${live === 1 ? 'is' : 'are'} alive; nothing was written`);
    }
  }

  awaitReplicated(required: number, timeoutMs = this.config.writeTimeoutMs): Promise<void> {
    const { clientId, clock } = this.c.store.localClock();
    if (this.ackCount(clientId, clock) >= required) return Promise.resolve();
    if (this.stopped) return Promise.reject(new ShoalError('E_UNAVAILABLE', 'node is shutting down'));
    return new Promise<void>((resolve, reject) => {
      const waiter: AckWaiter = {
        clientId,
        clock,
        required,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const have = this.ackCount(clientId, clock);
          reject(
            new ShoalError(
              'E_QUORUM',
              `write is durable on ${have} of the ${required} nodes its write concern needs after ${timeoutMs} ms; it is not reported as done (it may still reach the others: re-read before retrying)`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async receivePush(body: Uint8Array, from: string): Promise<Uint8Array> {
    const messages = decodeMessages(body);
    for (const m of messages) {
      if (m.type === MESSAGE_SYNC_STEP1) throw new ReplicationProtocolError('a push carries updates, not a state vector');
      await this.c.store.applyRemoteUpdate(m.update, new PeerOrigin(from));
    }
    return encodeMessages([{ type: MESSAGE_SYNC_STEP1, stateVector: this.c.store.encodeStateVector() }]);
  }

  // A sync request is answered from the document as it is now; the caller's vector also tells
  // us what it holds of ours, which counts as an acknowledgement.
  async answerSync(body: Uint8Array, from: string): Promise<Uint8Array> {
    await Promise.resolve(); // a malformed body rejects, like every other failure here
    const messages = decodeMessages(body);
    const step1 = messages.find((m) => m.type === MESSAGE_SYNC_STEP1);
    if (!step1 || messages.length !== 1) throw new ReplicationProtocolError('a sync request is exactly one state vector');
    const diff = this.c.store.encodeStateAsUpdate(step1.stateVector);
    const p = this.peers.get(from);
    if (p) this.acknowledge(p, decodeVector(step1.stateVector));
    return encodeMessages([
      { type: MESSAGE_SYNC_STEP2, update: diff },
      { type: MESSAGE_SYNC_STEP1, stateVector: this.c.store.encodeStateVector() },
    ]);
  }

  membershipChanged(): void {
    if (this.stopped) return;
    this.refreshPeers();
    for (const p of this.peers.values()) {
      const live = this.isLive(p.peer.name);
      const cameBack = live && !p.wasLive;
      p.wasLive = live;
      if (cameBack) {
        // New or back: it may have missed anything, and may hold writes we lack. A retry
        // backed off while it was away would only delay that.
        p.needsSync = true;
        p.retryDelayMs = this.config.retryMinMs;
        if (p.retryTimer) {
          clearTimeout(p.retryTimer);
          p.retryTimer = null;
          p.activity = 'idle';
        }
        this.kick(p);
      } else if (!live) {
        // Away: queueing for it only costs memory; a sync catches it up when it returns.
        this.dropPending(p);
        p.needsSync = true;
      }
    }
    this.checkWaiters();
  }

  peerDigest(peer: string, digest: string): void {
    const p = this.peers.get(peer);
    if (!p || this.stopped) return;
    p.gossipedDigest = digest;
    if (digest === this.digest() || p.digestTimer) return;
    p.digestTimer = setTimeout(() => {
      p.digestTimer = null;
      if (p.gossipedDigest !== null && p.gossipedDigest !== this.digest() && this.isLive(p.peer.name)) {
        this.log.debug({ peer: p.peer.name }, 'gossiped digest still differs; syncing');
        p.needsSync = true;
        this.kick(p);
      }
    }, this.config.digestSettleMs);
    p.digestTimer.unref();
  }

  digest(): string {
    return (this.digestCache ??= stateDigest(decodeVector(this.c.store.encodeStateVector())));
  }

  onDigestChange(listener: (digest: string) => void): () => void {
    this.digestListeners.add(listener);
    return () => this.digestListeners.delete(listener);
  }

  syncNow(peer: string): Promise<void> {
    this.refreshPeers();
    const p = this.peers.get(peer);
    if (!p) return Promise.reject(new ShoalError('E_NOT_FOUND', `no live peer named "${peer}"`));
    return new Promise<void>((resolve, reject) => {
      p.syncWaiters.push({ resolve, reject });
      p.needsSync = true;
      this.kick(p);
    });
  }

  status(): ReplicationStatus {
    const { clientId, clock } = this.c.store.localClock();
    const now = performance.now();
    return {
      digest: this.digest(),
      localClock: clock,
      clusterSize: this.c.directory.clusterSize(),
      peers: [...this.peers.values()]
        .map((p) => ({
          name: p.peer.name,
          url: p.peer.url,
          live: this.isLive(p.peer.name),
          activity: p.activity,
          ackedLocalClock: p.acked.get(clientId) ?? 0,
          pendingBytes: p.pendingBytes,
          pushes: p.pushes,
          syncs: p.syncs,
          failures: p.failures,
          lastAckAgoMs: p.lastAckAt === null ? null : Math.round(now - p.lastAckAt),
          lastError: p.lastError,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
  }

  // ---- internals -------------------------------------------------------------------

  private isLive(name: string): boolean {
    return this.c.directory.livePeers().some((p) => p.name === name);
  }

  /** Adds live peers we do not know yet and follows address changes; keeps the rest (their acks count). */
  private refreshPeers(): void {
    for (const peer of this.c.directory.livePeers()) {
      const known = this.peers.get(peer.name);
      if (!known) {
        this.peers.set(peer.name, {
          peer,
          wasLive: false,
          acked: new Map(),
          pending: [],
          pendingBytes: 0,
          activity: 'idle',
          needsSync: true,
          retryDelayMs: this.config.retryMinMs,
          retryTimer: null,
          digestTimer: null,
          gossipedDigest: null,
          pushes: 0,
          syncs: 0,
          failures: 0,
          lastAckAt: null,
          lastError: null,
          syncWaiters: [],
        });
      } else if (known.peer.url !== peer.url) {
        known.peer = peer;
      }
    }
  }

  private enqueue(p: PeerState, update: Uint8Array): void {
    if (!this.isLive(p.peer.name)) {
      p.needsSync = true;
      return;
    }
    if (!p.needsSync) {
      p.pending.push(update);
      p.pendingBytes += update.byteLength;
      if (p.pendingBytes > this.config.maxPendingBytes) {
        this.log.warn({ peer: p.peer.name, pendingBytes: p.pendingBytes }, 'peer is not keeping up; replacing queued updates with one sync');
        this.dropPending(p);
        p.needsSync = true;
      }
    }
    this.kick(p);
  }

  private dropPending(p: PeerState): void {
    p.pending = [];
    p.pendingBytes = 0;
  }

  private clearTimers(p: PeerState): void {
    if (p.retryTimer) clearTimeout(p.retryTimer);
    if (p.digestTimer) clearTimeout(p.digestTimer);
    p.retryTimer = null;
    p.digestTimer = null;
    for (const w of p.syncWaiters) w.reject(new ShoalError('E_UNAVAILABLE', 'replication stopped'));
    p.syncWaiters = [];
  }

  /** Starts the next exchange with `p` unless one is running or a retry is pending. */
  private kick(p: PeerState): void {
    if (this.stopped || p.activity !== 'idle') return;
    if (!p.needsSync && p.pending.length === 0) return;
    if (!this.isLive(p.peer.name)) return;
    void this.exchange(p);
  }

  private async exchange(p: PeerState): Promise<void> {
    const syncing = p.needsSync;
    p.activity = syncing ? 'syncing' : 'pushing';
    try {
      if (syncing) {
        p.needsSync = false;
        // Anything queued is covered by the sync's diff.
        this.dropPending(p);
        await this.sync(p);
        p.syncs++;
        for (const w of p.syncWaiters.splice(0)) w.resolve();
      } else {
        const batch = p.pending;
        this.dropPending(p);
        const update = batch.length === 1 ? (batch[0] as Uint8Array) : Y.mergeUpdates(batch);
        const sentClock = this.c.store.localClock();
        const answer = await this.c.link.exchange(p.peer, 'push', encodeMessages([{ type: MESSAGE_UPDATE, update }]), this.config.requestTimeoutMs);
        p.pushes++;
        this.acknowledge(p, this.vectorFrom(answer));
        // A push that arrived after a lost one waits in the peer's pending structs: its
        // vector does not cover what we sent, so send what it lacks.
        if ((p.acked.get(sentClock.clientId) ?? 0) < sentClock.clock && p.pending.length === 0) p.needsSync = true;
      }
      p.retryDelayMs = this.config.retryMinMs;
      p.lastError = null;
      p.activity = 'idle';
      this.kick(p);
    } catch (err) {
      p.failures++;
      p.lastError = (err as Error).message;
      p.needsSync = true;
      this.dropPending(p);
      if (this.stopped) return;
      const delay = p.retryDelayMs;
      p.retryDelayMs = Math.min(p.retryDelayMs * 2, this.config.retryMaxMs);
      this.log.debug({ peer: p.peer.name, err: p.lastError, retryInMs: delay, syncing }, 'replication exchange failed');
      p.activity = 'waiting to retry';
      p.retryTimer = setTimeout(() => {
        p.retryTimer = null;
        p.activity = 'idle';
        this.kick(p);
      }, delay);
      p.retryTimer.unref();
    }
  }

  /** One Yjs sync round trip, then our half: push what the peer's vector shows it lacks. */
  private async sync(p: PeerState): Promise<void> {
    const request = encodeMessages([{ type: MESSAGE_SYNC_STEP1, stateVector: this.c.store.encodeStateVector() }]);
    const answer = decodeMessages(await this.c.link.exchange(p.peer, 'sync', request, this.config.requestTimeoutMs));
    let theirsRaw: Uint8Array | null = null;
    for (const m of answer) {
      if (m.type === MESSAGE_SYNC_STEP1) theirsRaw = m.stateVector;
      else await this.c.store.applyRemoteUpdate(m.update, new PeerOrigin(p.peer.name));
    }
    if (!theirsRaw) throw new ReplicationProtocolError('sync answer carried no state vector');
    const theirs = decodeVector(theirsRaw);
    this.acknowledge(p, theirs);
    const ours = decodeVector(this.c.store.encodeStateVector());
    if (vectorAhead(ours, theirs)) {
      const diff = this.c.store.encodeStateAsUpdate(theirsRaw);
      const ack = await this.c.link.exchange(p.peer, 'push', encodeMessages([{ type: MESSAGE_SYNC_STEP2, update: diff }]), this.config.requestTimeoutMs);
      this.acknowledge(p, this.vectorFrom(ack));
    }
  }

  private vectorFrom(answer: Uint8Array): Map<number, number> {
    const step1 = decodeMessages(answer).find((m) => m.type === MESSAGE_SYNC_STEP1);
    if (!step1) throw new ReplicationProtocolError('answer carried no state vector');
    return decodeVector(step1.stateVector);
  }

  /** Records a peer's vector (clocks only move forward) and settles the writes it covers. */
  private acknowledge(p: PeerState, vector: ReadonlyMap<number, number>): void {
    for (const [client, clock] of vector) if (clock > (p.acked.get(client) ?? 0)) p.acked.set(client, clock);
    p.lastAckAt = performance.now();
    this.checkWaiters();
  }

  private ackCount(clientId: number, clock: number): number {
    let n = 1; // this node: the caller awaited its local durability first
    for (const p of this.peers.values()) if ((p.acked.get(clientId) ?? 0) >= clock) n++;
    return n;
  }

  private checkWaiters(): void {
    for (const w of this.waiters) {
      if (this.ackCount(w.clientId, w.clock) >= w.required) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  private scheduleAntiEntropy(): void {
    // Jittered, so a cluster started at once does not sync in lockstep.
    const delay = this.config.antiEntropyIntervalMs * (0.5 + Math.random());
    this.antiEntropyTimer = setTimeout(() => {
      const live = this.c.directory.livePeers();
      const pick = live[Math.floor(Math.random() * live.length)];
      if (pick) {
        this.refreshPeers();
        const p = this.peers.get(pick.name);
        if (p) {
          p.needsSync = true;
          this.kick(p);
        }
      }
      if (!this.stopped) this.scheduleAntiEntropy();
    }, delay);
    this.antiEntropyTimer.unref();
  }

  private queueDigestNotify(): void {
    if (this.digestNotifyQueued || this.digestListeners.size === 0) return;
    this.digestNotifyQueued = true;
    setImmediate(() => {
      this.digestNotifyQueued = false;
      const d = this.digest();
      for (const l of this.digestListeners) l(d);
    });
  }
}
