/**
 * BGP in shoald: the route policy (bgp-routes.ts, pure) fed from the store, backend health and
 * VIP ownership, handed to the speaker (packages/bgp) as the full desired set, which it diffs
 * per peer. In ecmp mode each announced VIP is also put on `bgp.vipInterface` (lo) so the
 * kernel accepts its traffic; a VIP is added there before it is announced and withdrawn before
 * it is removed, so a router never sends traffic the node would refuse.
 *
 * Graceful restart (RFC 4724): `dataDir/bgp-state.json` says whether the previous run ended
 * with its routes withdrawn. If not (a crash, SIGKILL, or a restart by SIGUSR2), this run is a
 * restart: the speaker sets the R and F bits and sends End-of-RIB only once the first route set
 * is in, so the routers swap stale routes for fresh ones without a gap.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createBgpSpeaker, hostPrefix, type BgpPeerInit, type BgpPeerStatus, type BgpRoute, type BgpSpeaker } from '@shoal/bgp';
import { ShoalError, type BgpPeerView, type BgpStatusView } from '@shoal/model';
import { openRouteNetlink, type RouteNetlink } from '@shoal/netlink';
import { createNetlinkVipAddresses, type NetlinkVipAddresses } from '@shoal/ownership';
import type { ClusterStore } from '@shoal/store';
import type { BackendHealthView } from './backend-health.js';
import { bgpRoutes, type AnnouncedVip } from './bgp-routes.js';
import type { ShoaldConfig } from './config.js';

const STATE_FILE = 'bgp-state.json';
const VIPS_FILE = 'bgp-vips-held.json';
/** A failed pass (rtnetlink trouble) is tried again after this, doubling up to the max. */
const PASS_RETRY_MIN_MS = 500;
const PASS_RETRY_MAX_MS = 10_000;

export interface RunningBgp {
  /** Recomputes the routes (store, health or ownership changed); coalesced. */
  trigger(reason: string): void;
  /** Some BGP session is Established (owner mode: only then may this node hold VIPs). */
  established(): boolean;
  /** Called on every session state change. */
  onSessionChange(listener: () => void): void;
  status(): BgpStatusView;
  /**
   * preserveForwarding false: withdraw everything (Cease), remove the VIPs from vipInterface,
   * and record a clean end. true: close the sessions without a NOTIFICATION and leave the VIPs,
   * so graceful-restart helpers keep forwarding while shoald restarts.
   */
  stop(opts: { preserveForwarding: boolean }): Promise<void>;
}

export interface BgpInit {
  readonly config: ShoaldConfig;
  readonly store: ClusterStore;
  readonly logger: Logger;
  readonly health: BackendHealthView;
  /** Owner mode: the VIPs this node holds now. */
  readonly held: () => ReadonlySet<string>;
}

/** The BGP identifier: configured, else the cluster's advertised IPv4, else the first non-loopback IPv4. */
export function defaultRouterId(config: ShoaldConfig): string | undefined {
  if (config.bgp.routerId !== undefined) return config.bgp.routerId;
  const advertised = config.cluster.advertise?.host;
  if (advertised !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(advertised)) return advertised;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

async function previousRunWithdrew(file: string, log: Logger): Promise<boolean> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as { withdrawn?: unknown };
    return state.withdrawn === true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: (err as Error).message }, 'cannot read the BGP state file; taking this run as a fresh start');
    return true;
  }
}

async function recordState(file: string, withdrawn: boolean): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify({ withdrawn, pid: process.pid, at: new Date().toISOString() }) + '\n');
  await rename(tmp, file);
}

function toRoute(v: AnnouncedVip): BgpRoute {
  return {
    prefix: hostPrefix(v.vip),
    ...(v.med === undefined ? {} : { med: v.med }),
    ...(v.localPref === undefined ? {} : { localPref: v.localPref }),
    ...(v.asPathPrepend === undefined ? {} : { asPathPrepend: v.asPathPrepend }),
    communities: v.communities,
    largeCommunities: v.largeCommunities,
  };
}

function peerView(p: BgpPeerStatus): BgpPeerView {
  return {
    address: p.address,
    port: p.port,
    asn: p.asn,
    type: p.type,
    state: p.state,
    uptimeS: p.uptimeS,
    flaps: p.flaps,
    routesAdvertised: p.routesAdvertised,
    families: p.families.map((f) => ({ family: f.family, negotiated: f.negotiated, advertised: f.advertised, endOfRibSent: f.endOfRibSent, ...(f.problem === undefined ? {} : { problem: f.problem }) })),
    ...(p.description === undefined ? {} : { description: p.description }),
    ...(p.localAddress === undefined ? {} : { localAddress: p.localAddress }),
    ...(p.negotiated === undefined ? {} : { holdTimeS: p.negotiated.holdTimeS }),
    ...(p.lastError === undefined ? {} : { lastError: p.lastError }),
    ...(p.lastNotificationSent === undefined ? {} : { lastNotificationSent: p.lastNotificationSent.text }),
    ...(p.lastNotificationReceived === undefined ? {} : { lastNotificationReceived: p.lastNotificationReceived.text }),
    messagesIn: p.counters.messagesIn,
    messagesOut: p.counters.messagesOut,
  };
}

export async function startBgp(init: BgpInit): Promise<RunningBgp> {
  const { config, store, health } = init;
  const bc = config.bgp;
  const log = init.logger.child({ component: 'bgp-routes' });
  if (bc.asn === undefined) throw new ShoalError('E_CONFIG', 'bgp.asn: is required when bgp.enabled is true');
  const routerId = defaultRouterId(config);
  if (routerId === undefined) throw new ShoalError('E_CONFIG', 'bgp.routerId: this host has no non-loopback IPv4 address to use as the BGP identifier; set it');
  const stateFile = join(config.dataDir, STATE_FILE);
  const restarting = bc.gracefulRestart.enabled && !(await previousRunWithdrew(stateFile, log));

  // ecmp: VIPs on vipInterface so the kernel takes their traffic (owner mode: the election puts them).
  let rtnl: RouteNetlink | undefined;
  let vipAddresses: NetlinkVipAddresses | undefined;
  if (bc.mode === 'ecmp' && bc.vipInterface !== '') {
    try {
      rtnl = await openRouteNetlink();
    } catch (err) {
      throw new ShoalError('E_CONFIG', `bgp.vipInterface: putting VIPs on ${bc.vipInterface} needs rtnetlink (root or CAP_NET_ADMIN): ${(err as Error).message}; set bgp.vipInterface to "" to leave addresses alone`, { cause: err });
    }
    vipAddresses = createNetlinkVipAddresses({ rtnl, stateFile: join(config.dataDir, VIPS_FILE), interface: bc.vipInterface, logger: init.logger });
  }

  // Listen by default too: a router's connection is taken at once after either side restarts
  // (recipe: "connect actively with a short retry, and accept incoming connections"; the bench
  // measured sessions back in ~4.5 s listening, 8-10 s connect-only). If 179 is taken (another
  // BGP daemon on the host) and nobody asked for it, fall back to connecting only.
  const listenPort = bc.listenPort ?? 179;
  const listenRequired = bc.listenPort !== undefined || bc.peers.some((p) => p.passive);
  const peers: BgpPeerInit[] = bc.peers.map((p) => ({
    address: p.address,
    asn: p.asn,
    port: p.port,
    holdTimeS: p.holdTimeS,
    connectRetryS: p.connectRetryS,
    passive: p.passive,
    ...(p.localAddress === undefined ? {} : { localAddress: p.localAddress }),
    ...(p.ttl === undefined ? {} : { ttl: p.ttl }),
    ...(p.families === undefined ? {} : { families: [...p.families] }),
    ...(p.nextHopIpv4 === undefined ? {} : { nextHopIpv4: p.nextHopIpv4 }),
    ...(p.nextHopIpv6 === undefined ? {} : { nextHopIpv6: p.nextHopIpv6 }),
    ...(p.description === undefined ? {} : { description: p.description }),
  }));
  const makeSpeaker = (listen: boolean): BgpSpeaker =>
    createBgpSpeaker(
      {
        asn: bc.asn ?? 0,
        routerId,
        listen: listen ? { port: listenPort, ...(bc.listenAddresses.length > 0 ? { addresses: [...bc.listenAddresses] } : {}) } : false,
        peers,
        gracefulRestart: { enabled: bc.gracefulRestart.enabled, restartTimeS: bc.gracefulRestart.restartTimeS },
        restarting,
      },
      { logger: init.logger },
    );
  let speaker = makeSpeaker(true);
  let listening = true;
  try {
    await speaker.start();
  } catch (err) {
    if (listenRequired) {
      await rtnl?.close();
      throw new ShoalError('E_CONFIG', `bgp.listenPort: ${(err as Error).message}`, { cause: err });
    }
    log.warn({ port: listenPort, err: (err as Error).message }, 'cannot listen for BGP connections; connecting out only');
    await speaker.stop().catch(() => undefined);
    speaker = makeSpeaker(false);
    listening = false;
    await speaker.start();
  }
  await recordState(stateFile, false);

  let announced: AnnouncedVip[] = [];
  let lastError: string | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let initialLoaded = false;

  /** VIPs this run put on vipInterface and has not removed (the driver keeps its own record too). */
  const onInterface = new Set<string>(vipAddresses ? (await vipAddresses.held().catch(() => new Map<string, string>())).keys() : []);
  let retryTimer: NodeJS.Timeout | null = null;
  let retryDelayMs = PASS_RETRY_MIN_MS;

  /**
   * One pass. The route set always goes to the speaker, whatever happened to the addresses: a
   * withdrawal must never wait on rtnetlink. A VIP is announced only once it is on the
   * interface, and taken off the interface only after it was withdrawn. Address failures make
   * the pass report an error, and run() tries again with backoff.
   */
  const pass = async (): Promise<void> => {
    const want = bgpRoutes({
      mode: bc.mode,
      instances: store.listInstances(),
      conflicted: (id) => store.instanceConflict(id) !== undefined,
      health: (i, b) => health.state(i, b),
      held: init.held(),
      advertisements: bc.advertisements,
    });
    const wantVips = new Set(want.map((v) => v.vip));
    const failures: string[] = [];
    if (vipAddresses) {
      for (const v of wantVips) {
        if (onInterface.has(v)) continue;
        try {
          await vipAddresses.add(v);
          onInterface.add(v);
        } catch (err) {
          failures.push(`add ${v} to ${bc.vipInterface}: ${(err as Error).message}`);
        }
      }
    }
    const routes = vipAddresses ? want.filter((v) => onInterface.has(v.vip)) : want;
    speaker.setRoutes(routes.map(toRoute));
    announced = routes;
    if (!initialLoaded) {
      initialLoaded = true;
      speaker.markInitialRoutesLoaded();
    }
    if (vipAddresses) {
      const stale = [...onInterface].filter((v) => !wantVips.has(v));
      if (stale.length > 0) {
        // Withdrawn first (setRoutes above; the speaker sends within a tick), then the address goes.
        await new Promise((r) => setTimeout(r, 20));
        for (const v of stale) {
          try {
            await vipAddresses.remove(v);
            onInterface.delete(v);
          } catch (err) {
            failures.push(`remove ${v} from ${bc.vipInterface}: ${(err as Error).message}`);
          }
        }
      }
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
  };

  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .then(() => {
        lastError = null;
        retryDelayMs = PASS_RETRY_MIN_MS;
      })
      .catch((err: unknown) => {
        lastError = (err as Error).message;
        log.error({ err: lastError, retryInMs: retryDelayMs }, 'BGP route pass failed; retrying');
        if (!retryTimer && !stopped) {
          retryTimer = setTimeout(() => {
            retryTimer = null;
            run();
          }, retryDelayMs);
          retryTimer.unref();
          retryDelayMs = Math.min(retryDelayMs * 2, PASS_RETRY_MAX_MS);
        }
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };

  log.info({ asn: bc.asn, routerId, mode: bc.mode, peers: bc.peers.length, listenPort: listening ? listenPort : 'none', restarting }, 'BGP speaker started');
  run();

  const sessionListeners = new Set<() => void>();
  speaker.on('peer-state', () => {
    for (const l of sessionListeners) l();
  });

  return {
    established: () => speaker.peers().some((p) => p.state === 'Established'),
    onSessionChange(listener) {
      sessionListeners.add(listener);
    },
    trigger(reason) {
      log.debug({ reason }, 'BGP routes recomputed');
      run();
    },
    status(): BgpStatusView {
      return {
        enabled: true,
        asn: bc.asn ?? 0,
        routerId,
        mode: bc.mode,
        restarting,
        routes: announced.map((v) => ({ prefix: `${v.vip}/${v.length}`, instances: v.instances, communities: v.communities.length, largeCommunities: v.largeCommunities.length })),
        peers: speaker.peers().map(peerView),
        lastError,
      };
    },
    async stop({ preserveForwarding }) {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      while (running) await running;
      await speaker.stop({ preserveForwarding });
      if (!preserveForwarding) {
        if (vipAddresses) for (const v of (await vipAddresses.held()).keys()) await vipAddresses.remove(v).catch((err: unknown) => log.warn({ vip: v, err: (err as Error).message }, 'cannot remove VIP'));
        await recordState(stateFile, true).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot record the clean BGP shutdown'));
      }
      await rtnl?.close();
    },
  };
}
