/**
 * The composition root: reads the config, opens the store, serves the API over mutual TLS (and
 * slb's API on plain HTTP when enabled), and shuts all of it down in order on SIGTERM. Only
 * here are real drivers chosen and the root logger made.
 */
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { ShoalError, type Instance } from '@shoal/model';
import { createApiApp, identityFromTlsSocket, listen, type ClusterSurface, type RunningServer } from '@shoal/api';
import { openStore, type ClusterStore } from '@shoal/store';
import { createReconciler, desiredServices, type Reconciler } from '@shoal/dataplane';
import { createBackendHealthView } from './backend-health.js';
import { selectDataplane } from './dataplane-select.js';
import { enableForwardingSysctls } from './sysctls.js';
import { startCluster, type RunningCluster } from './cluster.js';
import { prepareOwnership, type RunningOwnership } from './ownership.js';
import { startBgp, type RunningBgp } from './bgp.js';
import { coalescedOnNextTick } from './next-tick.js';
import { createManagementKeeper, parseApiAddress, type ApiEndpoint, type ManagementKeeper } from './management.js';
import { startKeepalivedMode, type RunningKeepalivedMode } from './keepalived-mode.js';
import { openRouteNetlink, type RouteNetlink } from '@shoal/netlink';
import { createL2Announcer } from '@shoal/announce';
import { ConfigError, type ShoaldConfig } from './config.js';

export const SHOALD_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * V8 flags shoald is meant to run with (deploy/shoald.service uses them; the bench too).
 * A 4 MB semi-space instead of 16 MB keeps the young generation from holding ~35 MB of RSS
 * after a large store load (bench: 10,000 instances, 188 -> 141 MB) at no measurable cost
 * to API throughput.
 */
export const RECOMMENDED_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** Coalescing window for recomputing health-check targets after store changes. */
const HEALTH_TARGETS_DELAY_MS = 100;

export interface RunningShoald {
  readonly config: ShoaldConfig;
  readonly store: ClusterStore;
  readonly api: RunningServer;
  readonly slbCompat: RunningServer | undefined;
  readonly cluster: RunningCluster | undefined;
  readonly logger: Logger;
  /** Graceful stop: not ready, drain requests (up to shutdown.graceMs), close the store. */
  stop(reason?: string): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`api.tls.${what}: cannot read ${path}: ${(err as Error).message}`, [{ path: `api.tls.${what}`, message: (err as Error).message }]);
  }
}

export async function startShoald(config: ShoaldConfig, opts: StartOptions = {}): Promise<RunningShoald> {
  const logger = opts.logger ?? pino({ level: config.logging.level, base: { node: config.node.name } });
  const log = logger.child({ component: 'shoald' });
  const tls = { cert: readPem(config.api.tls.cert, 'cert'), key: readPem(config.api.tls.key, 'key'), ca: readPem(config.api.tls.ca, 'ca') };
  const startedAt = new Date();
  let ready = false;

  const store = await openStore({ dir: config.dataDir, compactAfterBytes: config.store.compactAfterBytes, logger });
  const servers: RunningServer[] = [];
  const health = createBackendHealthView({ enabled: config.health.enabled, logger });
  let reconciler: Reconciler | undefined;
  let cluster: RunningCluster | undefined;
  let ownership: RunningOwnership | undefined;
  let management: ManagementKeeper | undefined;
  let keepalived: RunningKeepalivedMode | undefined;
  let bgp: RunningBgp | undefined;
  let keepalivedRtnl: RouteNetlink | undefined;
  let keepalivedMeta: Record<string, string> | undefined;
  try {
    if (config.ownership.mode === 'internal') {
      // BGP owner mode: hold VIPs only with a BGP session up to announce them (bgp starts later).
      const bgpGate = config.bgp.enabled && config.bgp.mode === 'owner' && config.bgp.peers.length > 0 ? { readyGate: () => bgp?.established() === true } : {};
      ownership = await prepareOwnership({ config, store, logger, announcer: createL2Announcer({ logger }), ...bgpGate });
    } else if (config.ownership.mode === 'keepalived') {
      keepalivedRtnl = await openRouteNetlink().catch((err: unknown) => {
        throw new ShoalError('E_CONFIG', `ownership.mode keepalived needs rtnetlink (root or CAP_NET_ADMIN): ${(err as Error).message}`, { cause: err });
      });
      keepalivedMeta = { prio: String(config.ownership.priority), nets: (await hostAddresses(keepalivedRtnl)).map((a) => a.cidr).join(',') };
    }
    const choice = await selectDataplane(config, logger);
    log.info({ dataplane: choice.dataplane?.kind ?? 'none', reason: choice.reason }, 'data plane selected');
    if (choice.dataplane) {
      if (config.dataplane.sysctls) await enableForwardingSysctls(log);
      reconciler = createReconciler({
        dataplane: choice.dataplane,
        // An instance a merge left in conflict is not served: its winner is.
        desired: () => desiredServices({ instances: store.listInstances(), health: (i, b) => health.state(i, b), conflicted: (id) => store.instanceConflict(id) !== undefined }),
        logger,
        resyncIntervalMs: config.dataplane.resyncIntervalMs,
      });
    }
    // Store writes (local or from peers) and health verdicts both change the desired kernel
    // state; a burst of either costs one pass. Health targets are recomputed from every
    // instance, so under a burst of writes that happens at most every HEALTH_TARGETS_DELAY_MS
    // (bench: recomputing per event-loop turn cost a third of the create rate at 17,000
    // instances), and not at all when no checker runs.
    let targetsQueued = false;
    const onStoreChange = (): void => {
      reconciler?.trigger('store changed');
      if (targetsQueued || !config.health.enabled) return;
      targetsQueued = true;
      setTimeout(() => {
        targetsQueued = false;
        health.setTargets(store.listInstances());
      }, HEALTH_TARGETS_DELAY_MS).unref();
    };
    store.onUpdate(onStoreChange);
    health.onChange(() => reconciler?.trigger('backend health changed'));
    health.setTargets(store.listInstances());
    reconciler?.start();
    const dataplaneStatus = (): Record<string, unknown> => ({ driver: choice.dataplane?.kind ?? 'none', reason: choice.reason, ...(reconciler ? { reconciler: reconciler.status() } : {}) });
    for (const pool of config.pools) {
      if (!store.getPool(pool.name)) {
        await store.createPool(pool);
        log.info({ pool: pool.name, ranges: pool.ranges }, 'pool created from config');
      }
    }
    const node = { name: config.node.name, version: SHOALD_VERSION, startedAt };
    // The cluster starts once the API listens (peers replicate through it, and its bound port
    // goes into membership); until then the API is not ready, so nothing reaches this.
    const clusterSurface: ClusterSurface | undefined = config.cluster.enabled
      ? {
          members: () => mustCluster().surface.members(),
          requiredNodes: (concern) => mustCluster().surface.requiredNodes(concern),
          assertReachable: (required) => mustCluster().surface.assertReachable(required),
          awaitReplicated: (required) => mustCluster().surface.awaitReplicated(required),
          receivePush: (body, from) => mustCluster().surface.receivePush(body, from),
          answerSync: (body, from) => mustCluster().surface.answerSync(body, from),
          maxReplicationBodyBytes: 256 * 1024 * 1024,
        }
      : undefined;
    const mustCluster = (): RunningCluster => {
      if (!cluster) throw new ShoalError('E_UNAVAILABLE', 'cluster membership is starting');
      return cluster;
    };
    const statusSections = (): Record<string, unknown> => ({
      dataplane: dataplaneStatus(),
      ...(cluster ? { cluster: cluster.status() } : {}),
      ownership: ownership ? { mode: 'internal', ...ownership.controller.status() } : keepalived ? keepalived.status() : { mode: config.ownership.mode },
      bgp: bgp ? bgp.status() : { enabled: false },
    });
    const app = createApiApp(
      {
        store,
        logger,
        node,
        identify: (c) => identityFromTlsSocket(c.env.incoming?.socket),
        isReady: () => ready,
        // Without health checks there is nothing observed to add (and lists stay cheap).
        ...(config.health.enabled ? { instanceStatus: (inst: Instance) => health.instanceStatus(inst) } : {}),
        statusSections,
        ...(clusterSurface ? { cluster: clusterSurface } : {}),
      },
      { maxBodyBytes: config.api.maxBodyBytes },
    );
    const api = await listen(app, { host: config.api.host, port: config.api.port, tls, keepAliveTimeoutMs: config.api.keepAliveTimeoutMs }).catch((err: unknown) => {
      throw new ShoalError('E_CONFIG', `api: cannot listen on ${config.api.host}:${config.api.port}: ${(err as Error).message}`, { cause: err });
    });
    servers.push(api);
    let slbCompat: RunningServer | undefined;
    if (config.slbCompat.enabled) {
      const role = config.slbCompat.role;
      const slbApp = createApiApp(
        { store, logger: logger.child({ listener: 'slb-compat' }), node, identify: () => ({ name: 'slb-compat', role }), isReady: () => ready, statusSections, ...(clusterSurface ? { cluster: clusterSurface } : {}) },
        { maxBodyBytes: config.api.maxBodyBytes },
      );
      slbCompat = await listen(slbApp, { host: config.slbCompat.host, port: config.slbCompat.port }).catch((err: unknown) => {
        throw new ShoalError('E_CONFIG', `slbCompat: cannot listen on ${config.slbCompat.host}:${config.slbCompat.port}: ${(err as Error).message}`, { cause: err });
      });
      servers.push(slbCompat);
    }
    if (config.cluster.enabled) {
      const extraMeta = ownership?.meta ?? keepalivedMeta;
      cluster = await startCluster({ config, store, logger, version: SHOALD_VERSION, tls, apiPort: api.address.port, ...(extraMeta ? { extraMeta } : {}) });
    }
    ownership?.start(cluster);
    if (keepalivedRtnl) {
      const rtnl = keepalivedRtnl;
      const running = cluster;
      keepalived = await startKeepalivedMode({
        config,
        store,
        logger,
        cluster: running,
        localAddresses: () => hostAddresses(rtnl),
        allLocalAddresses: async () => new Set((await rtnl.listAddresses()).map((a) => a.address)),
        selfMember: () => ({ name: config.node.name, priority: config.ownership.priority, networks: (keepalivedMeta?.['nets'] ?? '').split(',').filter((n) => n !== ''), addresses: (keepalivedMeta?.['nets'] ?? '').split(',').filter((n) => n !== '') }),
      });
    }
    if (config.bgp.enabled) {
      const running = await startBgp({ config, store, logger, health, held: () => ownership?.controller.heldVips() ?? new Set<string>() });
      bgp = running;
      const later = coalescedOnNextTick((reason: string) => running.trigger(reason));
      store.onUpdate(() => later('store changed'));
      health.onChange(() => later('backend health changed'));
      ownership?.onHeldChange(() => later('held VIPs changed'));
      running.onSessionChange(() => ownership?.controller.trigger('BGP session changed'));
    }
    if (config.management.vip !== undefined) management = startManagementVip(config, store, logger, cluster, api.address.port);
    ready = true;
    log.info(
      {
        version: SHOALD_VERSION,
        api: `${api.address.address}:${api.address.port}`,
        slbCompat: slbCompat ? `${slbCompat.address.address}:${slbCompat.address.port}` : 'off',
        dataDir: config.dataDir,
        instances: store.stats().instances,
      },
      'shoald ready',
    );

    let stopping: Promise<void> | undefined;
    const stop = (reason = 'stop requested'): Promise<void> =>
      (stopping ??= (async () => {
        ready = false;
        log.info({ reason }, 'shoald stopping');
        // Tell the cluster first: peers stop pushing to us, count us out of majorities and
        // elect new owners for our VIPs; then let go of the VIPs (a moment of overlap, not a gap).
        management?.stop();
        await keepalived?.stop();
        // ecmp: every node announces every VIP, so withdraw first and the routers move the flows
        // to the others. owner mode: after the hand-over below, so the successor announces first.
        // A restart (SIGUSR2) keeps the routes: graceful-restart helpers forward on meanwhile.
        const preserveForwarding = reason === 'SIGUSR2';
        if (bgp && config.bgp.mode === 'ecmp') await bgp.stop({ preserveForwarding });
        await cluster?.leave();
        if (ownership && cluster && config.ownership.handoverGraceMs > 0 && ownership.controller.heldVips().size > 0) {
          await new Promise((r) => setTimeout(r, config.ownership.handoverGraceMs));
        }
        await ownership?.controller.releaseAll();
        if (bgp && config.bgp.mode === 'owner') await bgp.stop({ preserveForwarding });
        const drained = Promise.all(servers.map((s) => s.close()));
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), config.shutdown.graceMs).unref());
        if ((await Promise.race([drained, timer])) === 'timeout') {
          log.warn({ graceMs: config.shutdown.graceMs }, 'requests still in flight at the end of the grace period; closing them');
          for (const s of servers) s.server.closeAllConnections();
        }
        // The kernel keeps its state: traffic flows on while shoald restarts (VIP hand-over on
        // a graceful leave comes with the ownership release).
        await cluster?.stop();
        await ownership?.close();
        await keepalivedRtnl?.close();
        await reconciler?.stop();
        await health.close();
        await store.close();
        log.info('shoald stopped');
      })());
    return { config, store, api, slbCompat, cluster, logger, stop };
  } catch (err) {
    management?.stop();
    await keepalived?.stop();
    await keepalivedRtnl?.close();
    await cluster?.stop();
    await ownership?.close();
    await Promise.all(servers.map((s) => s.close()));
    await reconciler?.stop();
    await health.close();
    await store.close();
    throw err;
  }
}

/** Keeps the management VIP's instance in step with membership (see management.ts). */
function startManagementVip(config: ShoaldConfig, store: ClusterStore, logger: Logger, cluster: RunningCluster | undefined, apiPort: number): ManagementKeeper {
  const vip = config.management.vip ?? '';
  const self = config.node.name;
  const endpoints = (): ApiEndpoint[] => {
    if (!cluster) {
      // A node on its own: its API on its listen address, when that is a concrete IP.
      const own = parseApiAddress(self, `${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${apiPort}`);
      return own && own.ip !== '0.0.0.0' && own.ip !== '::' ? [own] : [];
    }
    const out: ApiEndpoint[] = [];
    for (const m of cluster.swim.members()) {
      if (m.state === 'left') continue;
      const e = parseApiAddress(m.name, m.meta['api'] ?? '');
      if (e) out.push(e);
    }
    return out;
  };
  const isKeeper = (): boolean => cluster?.isKeeper() ?? true;
  const keeper = createManagementKeeper({ config: { vip, port: config.management.port, instanceName: config.management.instanceName }, store, logger, endpoints, isKeeper });
  if (cluster) for (const event of ['join', 'alive', 'dead', 'leave', 'update'] as const) cluster.swim.on(event, () => keeper.trigger('membership changed'));
  keeper.trigger('start');
  return keeper;
}

/** This host's non-loopback addresses with prefix (not host routes, not link-local). */
async function hostAddresses(rtnl: RouteNetlink): Promise<{ cidr: string; ifname: string }[]> {
  return (await rtnl.listAddresses())
    .filter((a) => a.ifname !== 'lo' && a.prefixLength !== (a.family === 6 ? 128 : 32) && !(a.family === 6 && a.address.toLowerCase().startsWith('fe80:')))
    .map((a) => ({ cidr: a.cidr, ifname: a.ifname }));
}
