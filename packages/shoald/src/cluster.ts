/**
 * The cluster side of shoald: SWIM membership (packages/swim) and store replication
 * (packages/replication) wired together, and what the API sees of them (ClusterSurface).
 *
 * Membership feeds replication one way: who is alive (push targets), how big the cluster is
 * (write concern), and each peer's gossiped state digest (anti-entropy when they differ).
 * Replication feeds membership only our own digest, as metadata.
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ShoalError, type WriteConcern } from '@shoal/model';
import type { ClusterSurface, MemberView } from '@shoal/api';
import type { ClusterStore } from '@shoal/store';
import { createHttpsPeerLink, createReplicator, type PeerDirectory, type ReplicaPeer, type Replicator, type ReplicationStatus } from '@shoal/replication';
import { Keyring, createSwim, createUdpTcpTransport, swimConfig, systemClock, type Member, type Swim, type SwimStats } from '@shoal/swim';
import { ConfigError, type ShoaldConfig } from './config.js';

/** Metadata keys shoald itself gossips (operators' `cluster.meta` may not use them). */
export const META_API = 'api';
export const META_DIGEST = 'digest';
export const META_VERSION = 'version';

/** Our digest is gossiped at most this often: every change costs one broadcast to all peers. */
const DIGEST_GOSSIP_MIN_INTERVAL_MS = 500;
/** While no other member is known, seeds are retried this often. */
const JOIN_RETRY_MS = 2_000;
const KNOWN_MEMBERS_FILE = 'cluster-members.json';

export interface ClusterStatus {
  readonly self: string;
  readonly members: { readonly alive: number; readonly suspect: number; readonly dead: number; readonly left: number };
  readonly clusterSize: number;
  readonly gossip: SwimStats;
  readonly replication: ReplicationStatus;
}

export interface RunningCluster {
  readonly surface: ClusterSurface;
  readonly swim: Swim;
  readonly replicator: Replicator;
  status(): ClusterStatus;
  /**
   * Re-reads the gossip keys (SIGHUP): new keys are accepted at once, the first becomes the one
   * that encrypts, keys no longer listed stop being accepted. Returns how many keys are on the ring.
   */
  reloadKeys(): number;
  /**
   * True on the one node that writes cluster-maintained state (the management VIP's instance,
   * VRRP ids): the alive member with the lowest name, while it sees a majority alive.
   */
  isKeeper(): boolean;
  /** Merges `extra` into this node's gossiped metadata and broadcasts it now (ownership readiness). */
  setMeta(extra: Readonly<Record<string, string>>): void;
  /** Graceful: tell the others we leave, then stop. */
  leave(): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterInit {
  readonly config: ShoaldConfig;
  readonly store: ClusterStore;
  readonly logger: Logger;
  readonly version: string;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer };
  /** The API's bound port (api.port may be 0 in tests). */
  readonly apiPort: number;
  /** More metadata to gossip (the ownership election's priority and networks). */
  readonly extraMeta?: Readonly<Record<string, string>>;
}

export function readGossipKeys(cluster: ShoaldConfig['cluster']): Keyring {
  let keys: string[];
  if (cluster.keys) keys = cluster.keys;
  else if (cluster.keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(cluster.keyFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cluster.keyFile: cannot read ${cluster.keyFile}: ${(err as Error).message}`, [{ path: 'cluster.keyFile', message: (err as Error).message }]);
    }
    keys = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
  } else throw new ConfigError('cluster.keyFile: a cluster needs its gossip key', [{ path: 'cluster.keyFile', message: 'is required' }]);
  const [primary, ...secondary] = keys;
  const field = cluster.keys ? 'cluster.keys' : 'cluster.keyFile';
  if (primary === undefined) throw new ConfigError(`${field}: no key found`, [{ path: field, message: 'no key found' }]);
  try {
    return Keyring.fromBase64(primary, secondary);
  } catch (err) {
    throw new ConfigError(`${field}: ${(err as Error).message} (each key is 32 random bytes in base64; \`openssl rand -base64 32\` makes one)`, [{ path: field, message: (err as Error).message }]);
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function firstNonLoopbackIpv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function startCluster(init: ClusterInit): Promise<RunningCluster> {
  const { config, store, logger } = init;
  const cc = config.cluster;
  const log = logger.child({ component: 'cluster' });
  for (const key of [META_API, META_DIGEST, META_VERSION, 'prio', 'nets', 'ready']) {
    if (key in cc.meta) throw new ConfigError(`cluster.meta.${key}: reserved for shoald`, [{ path: `cluster.meta.${key}`, message: 'reserved' }]);
  }
  const keyring = readGossipKeys(cc);
  const advertiseHost = cc.advertise?.host ?? (isWildcard(cc.bind.host) ? firstNonLoopbackIpv4() : cc.bind.host);
  if (advertiseHost === undefined) {
    throw new ConfigError('cluster.advertise.host: bind.host is a wildcard and this host has no non-loopback IPv4 address to advertise; set it', [
      { path: 'cluster.advertise.host', message: 'is required here' },
    ]);
  }
  const transport = await createUdpTcpTransport({ bindAddress: cc.bind.host, bindPort: cc.bind.port }).catch((err: unknown) => {
    throw new ShoalError('E_CONFIG', `cluster.bind: cannot listen on ${hostPort(cc.bind.host, cc.bind.port)}: ${(err as Error).message}`, { cause: err });
  });
  const advertisePort = cc.advertise?.port ?? transport.port;
  const apiAdvertise = cc.apiAdvertise ?? hostPort(advertiseHost, init.apiPort);
  let baseMeta: Record<string, string> = { ...cc.meta, ...(init.extraMeta ?? {}), [META_API]: apiAdvertise, [META_VERSION]: init.version };

  const knownFile = join(config.dataDir, KNOWN_MEMBERS_FILE);
  const known = new Set<string>(readKnownMembers(knownFile, log));
  known.add(config.node.name);

  const swim = createSwim({
    name: config.node.name,
    config: swimConfig(cc.profile, definedOnly(cc.swim ?? {})),
    keyring,
    logger,
    transport,
    advertiseAddress: advertiseHost,
    advertisePort,
    meta: { ...baseMeta, [META_DIGEST]: '' },
  });

  const livePeers = (): ReplicaPeer[] => {
    const out: ReplicaPeer[] = [];
    for (const m of swim.members()) {
      if (m.name === config.node.name || (m.state !== 'alive' && m.state !== 'suspect')) continue;
      const api = m.meta[META_API];
      if (api !== undefined) out.push({ name: m.name, url: `https://${api}` });
    }
    return out;
  };
  // Dead members still count: a majority is of the cluster, not of whoever is up. Members
  // remembered from before a restart count too, so a node that restarts alone does not
  // believe it is a cluster of one.
  const clusterSize = (): number => {
    const names = new Set(known);
    for (const m of swim.members()) if (m.state !== 'left') names.add(m.name);
    return names.size;
  };
  const directory: PeerDirectory = { livePeers, clusterSize };
  const link = createHttpsPeerLink({ cert: init.tls.cert, key: init.tls.key, ca: init.tls.ca });
  const replicator = createReplicator(
    { store, directory, link, logger, self: config.node.name },
    { writeTimeoutMs: cc.writeTimeoutMs, antiEntropyIntervalMs: cc.antiEntropyIntervalMs },
  );

  // Persist who is in the cluster (left members forgotten), written only when it changes.
  let persisting = Promise.resolve();
  const persistKnown = (): void => {
    const names = [...known].sort();
    persisting = persisting
      .then(async () => {
        const tmp = `${knownFile}.tmp`;
        await writeFile(tmp, JSON.stringify({ members: names }) + '\n');
        await rename(tmp, knownFile);
      })
      .catch((err: unknown) => log.warn({ err }, 'cannot record cluster members'));
  };
  const onMember = (event: string) => (m: Member): void => {
    log.info({ member: m.name, event, state: m.state, incarnation: m.incarnation, address: hostPort(m.address, m.port) }, `member ${event}`);
    if (event === 'leave' && m.name !== config.node.name) {
      if (known.delete(m.name)) persistKnown();
    } else if (!known.has(m.name)) {
      known.add(m.name);
      persistKnown();
    }
    replicator.membershipChanged();
    const digest = m.meta[META_DIGEST];
    if (digest !== undefined && digest !== '' && m.name !== config.node.name) replicator.peerDigest(m.name, digest);
  };
  for (const event of ['join', 'alive', 'suspect', 'dead', 'leave'] as const) swim.on(event, onMember(event));
  swim.on('update', (m) => {
    const digest = m.meta[META_DIGEST];
    if (m.name !== config.node.name) {
      replicator.membershipChanged();
      if (digest !== undefined && digest !== '') replicator.peerDigest(m.name, digest);
    }
  });

  // Our digest, throttled: at most one metadata broadcast per interval, the last one always sent.
  let lastGossipAt = 0;
  let gossipTimer: NodeJS.Timeout | null = null;
  const lifecycle = { stopped: false };
  const isStopped = (): boolean => lifecycle.stopped;
  const gossipDigest = (): void => {
    if (lifecycle.stopped || gossipTimer) return;
    const wait = Math.max(0, lastGossipAt + DIGEST_GOSSIP_MIN_INTERVAL_MS - performance.now());
    gossipTimer = setTimeout(() => {
      gossipTimer = null;
      if (lifecycle.stopped) return;
      lastGossipAt = performance.now();
      swim.updateMeta({ ...baseMeta, [META_DIGEST]: replicator.digest() });
    }, wait);
    gossipTimer.unref();
  };
  replicator.onDigestChange(gossipDigest);
  replicator.start();
  gossipDigest();

  // Join: one attempt now, then retries in the background while we know nobody else, so a
  // node started before its seeds still finds them.
  let joinTimer: NodeJS.Timeout | null = null;
  const seeds = cc.seeds.filter((s) => s !== hostPort(advertiseHost, advertisePort));
  const tryJoin = async (): Promise<void> => {
    if (lifecycle.stopped || seeds.length === 0) return;
    const others = swim.members().filter((m) => m.name !== config.node.name && m.state === 'alive');
    if (others.length === 0) {
      try {
        const n = await swim.join(seeds);
        log.info({ seeds, answered: n }, 'joined the cluster');
      } catch (err) {
        log.warn({ seeds, err: (err as Error).message, retryInMs: JOIN_RETRY_MS }, 'no seed answered; retrying');
      }
    }
    // Checked again: stop() may have run while join was awaited.
    if (!isStopped()) {
      joinTimer = setTimeout(() => void tryJoin(), JOIN_RETRY_MS);
      joinTimer.unref();
    }
  };
  await tryJoin();
  log.info({ gossip: hostPort(advertiseHost, advertisePort), api: apiAdvertise, seeds, profile: cc.profile, writeConcern: cc.writeConcern }, 'cluster membership started');

  const memberView = (m: Member): MemberView => ({
    name: m.name,
    state: m.state,
    address: hostPort(m.address, m.port),
    incarnation: m.incarnation,
    meta: m.meta,
    self: m.name === config.node.name,
    // SWIM keeps time on its clock (systemClock: performance.now()), not the wall clock.
    sinceMs: Math.max(0, Math.round(systemClock.now() - m.stateChangedAtMs)),
  });

  const surface: ClusterSurface = {
    members: () => swim.members().map(memberView).sort((a, b) => (a.name < b.name ? -1 : 1)),
    requiredNodes(concern: WriteConcern | undefined): number {
      if (concern !== undefined) return replicator.required(concern, 'writeConcern');
      // The configured default asks for what the cluster should have; too few nodes is E_QUORUM, not a bad request.
      return typeof cc.writeConcern === 'number' ? cc.writeConcern : replicator.required(cc.writeConcern);
    },
    assertReachable: (required) => replicator.assertReachable(required),
    awaitReplicated: (required) => replicator.awaitReplicated(required),
    receivePush: (body, from) => replicator.receivePush(body, from),
    answerSync: (body, from) => replicator.answerSync(body, from),
    maxReplicationBodyBytes: 256 * 1024 * 1024,
  };

  const shutdown = async (): Promise<void> => {
    lifecycle.stopped = true;
    if (joinTimer) clearTimeout(joinTimer);
    if (gossipTimer) clearTimeout(gossipTimer);
    await replicator.stop();
    await swim.shutdown();
    await persisting;
  };

  return {
    surface,
    swim,
    replicator,
    status(): ClusterStatus {
      const counts = { alive: 0, suspect: 0, dead: 0, left: 0 };
      for (const m of swim.members()) counts[m.state]++;
      return { self: config.node.name, members: counts, clusterSize: clusterSize(), gossip: swim.stats(), replication: replicator.status() };
    },
    setMeta(extra: Readonly<Record<string, string>>): void {
      baseMeta = { ...baseMeta, ...extra };
      // At once, not throttled like the digest: the others' elections wait on it.
      if (!lifecycle.stopped) swim.updateMeta({ ...baseMeta, [META_DIGEST]: replicator.digest() });
    },
    isKeeper(): boolean {
      const alive = swim.members().filter((m) => m.state === 'alive');
      return alive.map((m) => m.name).sort()[0] === config.node.name && alive.length >= Math.floor(clusterSize() / 2) + 1;
    },
    reloadKeys(): number {
      const fresh = readGossipKeys(cc).keys();
      const [primary] = fresh;
      if (primary === undefined) return keyring.keys().length;
      for (const k of fresh) keyring.addKey(k);
      keyring.useKey(primary);
      for (const old of keyring.keys()) if (!fresh.some((k) => Buffer.from(k).equals(Buffer.from(old)))) keyring.removeKey(old);
      log.info({ keys: keyring.keys().length }, 'gossip keys reloaded');
      return keyring.keys().length;
    },
    async leave(): Promise<void> {
      try {
        await swim.leave(2_000);
      } catch (err) {
        log.warn({ err }, 'graceful leave did not complete');
      }
    },
    stop: shutdown,
  };
}

function readKnownMembers(file: string, log: Logger): string[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { members?: unknown };
    return Array.isArray(parsed.members) ? parsed.members.filter((m): m is string => typeof m === 'string') : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, file }, 'cannot read the remembered cluster members; starting without them');
    return [];
  }
}

/** Drops keys whose value is undefined (zod leaves them; the SWIM config wants them absent). */
function definedOnly<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
