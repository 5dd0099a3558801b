/**
 * VIP ownership in shoald (mode internal): the election's inputs from membership and the
 * store, the rtnetlink address driver, and the announcer, wired into one controller.
 *
 * Candidates are the members SWIM sees alive (a suspect member gets no new VIPs and loses its
 * own: failover starts at suspicion, not at the verdict; a refuted suspicion moves them back).
 * Each member's priority and networks ride in its membership metadata.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ClusterStore } from '@shoal/store';
import { ShoalError } from '@shoal/model';
import { openRouteNetlink, type RouteNetlink } from '@shoal/netlink';
import { createNetlinkVipAddresses, createOwnershipController, type Candidate, type OwnershipController, type VipAnnouncer } from '@shoal/ownership';
import { selectedForBgp } from './bgp-routes.js';
import type { RunningCluster } from './cluster.js';
import { coalescedOnNextTick } from './next-tick.js';
import type { ShoaldConfig } from './config.js';

export const META_PRIORITY = 'prio';
export const META_NETWORKS = 'nets';
/** '1' once the node takes VIPs (see Candidate.ready); '0' while it waits. */
export const META_READY = 'ready';

export interface RunningOwnership {
  readonly controller: OwnershipController;
  /** Metadata this node gossips for the others' elections. */
  readonly meta: Readonly<Record<string, string>>;
  /** Subscribes to changes of the VIPs this node holds (BGP owner mode). */
  onHeldChange(listener: (held: ReadonlySet<string>) => void): void;
  /** Starts the controller once membership exists (cluster may be absent: a node on its own). */
  start(cluster: RunningCluster | undefined): void;
  close(): Promise<void>;
}

export interface OwnershipInit {
  readonly config: ShoaldConfig;
  readonly store: ClusterStore;
  readonly logger: Logger;
  readonly announcer: VipAnnouncer;
  /** See OwnershipControllerInit.readyGate (BGP owner mode: a session is up). */
  readonly readyGate?: () => boolean;
}

export async function prepareOwnership(init: OwnershipInit): Promise<RunningOwnership> {
  const { config, store, logger } = init;
  const oc = config.ownership;
  let rtnl: RouteNetlink;
  try {
    rtnl = await openRouteNetlink();
  } catch (err) {
    throw new ShoalError('E_CONFIG', `ownership.mode internal needs rtnetlink (root or CAP_NET_ADMIN): ${(err as Error).message}; set ownership.mode to none to run without it`, { cause: err });
  }
  const addresses = createNetlinkVipAddresses({ rtnl, stateFile: join(config.dataDir, 'vips-held.json'), interface: oc.interface, logger });
  const networks = [...new Set([...(await addresses.localNetworks()), ...oc.networks])];
  const selfCandidate: Candidate = { name: config.node.name, priority: oc.priority, networks };
  const meta = { [META_PRIORITY]: String(oc.priority), [META_NETWORKS]: networks.join(','), [META_READY]: '0' };
  let cluster: RunningCluster | undefined;

  const candidates = (): Candidate[] => {
    if (!cluster) return [selfCandidate];
    const out: Candidate[] = [selfCandidate];
    for (const m of cluster.swim.members()) {
      if (m.name === config.node.name || m.state !== 'alive') continue;
      const priority = Number(m.meta[META_PRIORITY] ?? '100');
      const nets = (m.meta[META_NETWORKS] ?? '').split(',').filter((n) => n !== '');
      // A member without the flag (an older version) is taken as ready.
      out.push({ name: m.name, priority: Number.isFinite(priority) ? priority : 100, networks: nets, ready: m.meta[META_READY] !== '0' });
    }
    return out;
  };

  const heldListeners = new Set<(held: ReadonlySet<string>) => void>();
  const controller = createOwnershipController({
    self: config.node.name,
    logger,
    addresses,
    // A VIP on lo (ownership.interface: lo, for BGP owner mode) is reached by routing, not by
    // ARP: there is no segment to tell, and lo cannot carry the frames.
    announcer: { announce: (vip, ifname) => (ifname === 'lo' ? Promise.resolve() : init.announcer.announce(vip, ifname)) },
    reannounceIntervalMs: oc.reannounceIntervalMs,
    claimDelayMs: oc.claimDelayMs,
    ...(init.readyGate === undefined ? {} : { readyGate: init.readyGate }),
    onReadyChange: (ready) => cluster?.setMeta({ [META_READY]: ready ? '1' : '0' }),
    onHeldChange: (held) => {
      for (const l of heldListeners) l(held);
    },
    inputs: {
      candidates,
      quorum: () => ({ live: candidates().length, clusterSize: cluster ? cluster.status().clusterSize : 1, quorum: oc.quorum }),
      vips: () => {
        const vips = new Set<string>();
        // In BGP ecmp mode, the VIPs BGP announces are on every node (bgp.vipInterface): the
        // election is for the rest (layer 2, the management VIP).
        const ecmp = config.bgp.enabled && config.bgp.mode === 'ecmp';
        for (const inst of store.listInstances()) {
          if (inst.state !== 'started' || store.instanceConflict(inst.id) !== undefined) continue;
          if (ecmp && selectedForBgp(config.bgp.advertisements, inst)) continue;
          vips.add(inst.vip);
        }
        return vips;
      },
    },
  });

  return {
    controller,
    meta,
    onHeldChange(listener) {
      heldListeners.add(listener);
    },
    start(running) {
      cluster = running;
      if (running) {
        for (const event of ['join', 'alive', 'suspect', 'dead', 'leave', 'update'] as const) {
          running.swim.on(event, (m) => {
            if (m.name !== config.node.name) controller.trigger(`member ${m.name} ${event}`, { announceAll: true });
          });
        }
      }
      store.onUpdate(coalescedOnNextTick(() => controller.trigger('store changed')));
      controller.start();
    },
    async close() {
      await controller.stop();
      await rtnl.close();
    },
  };
}
