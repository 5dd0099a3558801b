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

export interface RunningBgp {
  /** Recomputes the routes (store, health or ownership changed); coalesced. */
  trigger(reason: string): void;
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

  const listenPort = bc.listenPort ?? (bc.peers.some((p) => p.passive) ? 179 : undefined);
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
  const speaker: BgpSpeaker = createBgpSpeaker(
    {
      asn: bc.asn,
      routerId,
      listen: listenPort === undefined ? false : { port: listenPort, ...(bc.listenAddresses.length > 0 ? { addresses: [...bc.listenAddresses] } : {}) },
      peers,
      gracefulRestart: { enabled: bc.gracefulRestart.enabled, restartTimeS: bc.gracefulRestart.restartTimeS },
      restarting,
    },
    { logger: init.logger },
  );
  speaker.on('peer-state', (p) => log.info({ peer: p.address, asn: p.asn, state: p.state }, `BGP session ${p.state}`));
  await recordState(stateFile, false);

  let announced: AnnouncedVip[] = [];
  let lastError: string | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let initialLoaded = false;

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
    if (vipAddresses) {
      // Make before announce: the address first, so traffic the routers send is accepted.
      const have = await vipAddresses.held();
      for (const v of wantVips) {
        if (have.has(v)) continue;
        try {
          await vipAddresses.add(v);
        } catch (err) {
          lastError = `add ${v} to ${bc.vipInterface}: ${(err as Error).message}`;
          log.error({ vip: v, err: (err as Error).message }, 'cannot put the VIP on the interface; not announcing it');
          wantVips.delete(v);
        }
      }
    }
    const routes = want.filter((v) => wantVips.has(v.vip));
    speaker.setRoutes(routes.map(toRoute));
    announced = routes;
    if (!initialLoaded) {
      initialLoaded = true;
      speaker.markInitialRoutesLoaded();
    }
    if (vipAddresses) {
      // Withdrawn first (setRoutes above), then the address goes. The speaker sends within a tick.
      await new Promise((r) => setTimeout(r, 20));
      for (const v of (await vipAddresses.held()).keys()) {
        if (wantVips.has(v)) continue;
        try {
          await vipAddresses.remove(v);
        } catch (err) {
          lastError = `remove ${v} from ${bc.vipInterface}: ${(err as Error).message}`;
          log.error({ vip: v, err: (err as Error).message }, 'cannot remove the VIP from the interface');
        }
      }
    }
  };

  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((err: unknown) => {
        lastError = (err as Error).message;
        log.error({ err }, 'BGP route pass failed');
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };

  await speaker.start().catch(async (err: unknown) => {
    await rtnl?.close();
    throw new ShoalError('E_CONFIG', `bgp.listenPort: ${(err as Error).message}`, { cause: err });
  });
  log.info({ asn: bc.asn, routerId, mode: bc.mode, peers: bc.peers.length, listenPort: listenPort ?? 'none', restarting }, 'BGP speaker started');
  run();

  return {
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
