/**
 * ownership.mode keepalived: VRRP elects, Shoal renders keepalived.conf from the replicated
 * state and keeps it current; keepalived itself runs as its own service (it is reloaded by
 * SIGHUP through its pid file) and Shoal learns who holds a VIP from netlink address events.
 *
 * What each node renders (keepalivedInput, pure):
 *  - one vrrp_instance per VIP of the started, unconflicted instances, on the nodes eligible
 *    for it (a subnet of theirs holds it), on the interface of that subnet;
 *  - priorities from the same ranking as the internal election (priority, then rendezvous
 *    hashing), over every known member, not only the live ones: VRRP handles liveness, and a
 *    config that changed with membership would reload keepalived on every blip;
 *  - unicast peers: the other eligible members' addresses in that subnet (from their gossiped
 *    networks);
 *  - virtual router ids from the replicated state, made unique by planVirtualRouterIds; the
 *    keeper node writes reassignments back so every stored id ends up distinct and stable.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ShoalError, formatIp, ipFamilyOf, parseCidr, parseIp, rangeContains, type Instance } from '@shoal/model';
import type { ClusterStore } from '@shoal/store';
import { rankCandidates, type Candidate } from '@shoal/ownership';
import {
  GARP_DEFAULTS,
  createKeepalivedDriver,
  createVipPresence,
  netlinkAddressSource,
  planVirtualRouterIds,
  renderKeepalivedConfig,
  type KeepalivedConfigInput,
  type VipPresence,
  type VridCandidate,
} from '@shoal/keepalived';
import { coalescedOnNextTick } from './next-tick.js';
import type { RunningCluster } from './cluster.js';
import type { ShoaldConfig } from './config.js';

/** A member as keepalived mode sees it: its ranking inputs and its addresses with their prefixes. */
export interface KeepalivedMember extends Candidate {
  /** Host addresses with prefix, e.g. 10.0.0.11/24 (the `nets` metadata). */
  readonly addresses: readonly string[];
}

export interface KeepalivedInputArgs {
  readonly self: string;
  readonly members: readonly KeepalivedMember[];
  readonly instances: readonly Instance[];
  readonly isConflicted: (id: string) => boolean;
  readonly storedVrids: ReadonlyMap<string, number>;
  readonly vridRange: { readonly min: number; readonly max: number };
  readonly advertIntervalS: number;
  readonly authPassword?: string | undefined;
  /** This node's interface for each of its addresses (`10.0.0.11/24` -> eth0). */
  readonly interfaceOf: (address: string) => string | undefined;
  readonly trackFile?: string | undefined;
}

export interface KeepalivedInputResult {
  readonly input: KeepalivedConfigInput;
  /** VIP -> id the keeper should store (reassigned or never stored). */
  readonly vridWrites: Readonly<Record<string, number>>;
  /** VIPs left without an id (the range is full). */
  readonly unassigned: readonly string[];
}

/** The address of `addresses` in the subnet that holds `vip`, as `ip/prefix`. */
function addressFor(vip: string, addresses: readonly string[]): string | undefined {
  const addr = parseIp(vip);
  if (!addr) return undefined;
  return addresses.find((a) => {
    const r = parseCidr(a);
    return r !== null && rangeContains(r, addr);
  });
}

export function keepalivedInput(args: KeepalivedInputArgs): KeepalivedInputResult {
  // One VRRP instance per VIP; its age is its oldest instance's, for the VRID plan.
  const vips = new Map<string, { createdAt: string; name: string }>();
  for (const inst of args.instances) {
    if (inst.state !== 'started' || args.isConflicted(inst.id)) continue;
    const seen = vips.get(inst.vip);
    if (!seen || inst.createdAt < seen.createdAt) vips.set(inst.vip, { createdAt: inst.createdAt, name: inst.name });
  }
  const candidates: VridCandidate[] = [...vips.entries()].map(([vip, v]) => {
    const stored = args.storedVrids.get(vip);
    return stored === undefined ? { id: vip, createdAt: v.createdAt } : { id: vip, createdAt: v.createdAt, requestedVrid: stored };
  });
  const plan = planVirtualRouterIds(candidates, args.vridRange);
  const vridWrites: Record<string, number> = {};
  for (const [vip, id] of plan.vrids) if (args.storedVrids.get(vip) !== id) vridWrites[vip] = id;

  const me = args.members.find((m) => m.name === args.self);
  const instances: KeepalivedConfigInput['instances'] = [];
  for (const [vip, v] of [...vips.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const vrid = plan.vrids.get(vip);
    if (vrid === undefined || !me) continue;
    const ranked = rankCandidates(vip, args.members);
    const rank = ranked.findIndex((c) => c.name === args.self);
    if (rank < 0) continue; // not eligible here
    const own = addressFor(vip, me.addresses);
    const ifname = own === undefined ? undefined : args.interfaceOf(own);
    if (own === undefined || ifname === undefined) continue;
    const peers = ranked
      .filter((c) => c.name !== args.self)
      .map((c) => addressFor(vip, (c as KeepalivedMember).addresses))
      .filter((a): a is string => a !== undefined)
      .map((a) => a.split('/')[0] ?? a);
    if (peers.length === 0) continue; // alone on this subnet: nothing to elect
    const family = ipFamilyOf(vip) ?? 4;
    instances.push({
      name: v.name,
      vip: formatIp(parseIp(vip) ?? assertNever(vip)),
      family,
      interface: ifname,
      vrid,
      // Same order as the internal election; 250 leaves room above for an operator's own.
      priority: Math.max(1, 250 - 10 * rank),
      unicastSrcIp: own.split('/')[0] ?? own,
      unicastPeers: peers,
      ...(args.trackFile === undefined ? {} : { trackFile: args.trackFile }),
    });
  }
  const input: KeepalivedConfigInput = {
    node: { name: args.self, routerId: args.self },
    advertIntervalS: args.advertIntervalS,
    ...(args.authPassword === undefined ? {} : { authentication: { type: 'PASS' as const, password: args.authPassword } }),
    garp: { masterDelayS: GARP_DEFAULTS.masterDelayS, masterRepeat: GARP_DEFAULTS.masterRepeat, masterRefreshS: GARP_DEFAULTS.masterRefreshS },
    instances,
  };
  return { input, vridWrites, unassigned: plan.unassigned };
}

function assertNever(vip: string): never {
  throw new Error(`not an IP address: ${vip}`);
}

const PRESENCE_RESYNC_MS = 2_000;

export interface RunningKeepalivedMode {
  trigger(reason: string): void;
  status(): Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startKeepalivedMode(init: {
  readonly config: ShoaldConfig;
  readonly store: ClusterStore;
  readonly logger: Logger;
  readonly cluster: RunningCluster | undefined;
  /** This node's addresses with prefixes and their interfaces. */
  readonly localAddresses: () => Promise<readonly { readonly cidr: string; readonly ifname: string }[]>;
  readonly selfMember: () => KeepalivedMember;
  /** Every address on this host's interfaces (VIPs included), for the periodic check of what is held. */
  readonly allLocalAddresses: () => Promise<ReadonlySet<string>>;
}): Promise<RunningKeepalivedMode> {
  const { config, store, cluster } = init;
  const kc = config.keepalived;
  const log = init.logger.child({ component: 'keepalived-mode' });
  let template: string | undefined;
  if (kc.template !== undefined) {
    try {
      template = await readFile(kc.template, 'utf8');
      renderKeepalivedConfig({ node: { name: config.node.name, routerId: config.node.name }, advertIntervalS: kc.advertIntervalS, garp: { masterDelayS: 1, masterRepeat: 3, masterRefreshS: 60 }, instances: [] }, template);
    } catch (err) {
      throw new ShoalError('E_CONFIG', `keepalived.template: ${kc.template}: ${(err as Error).message}`, { cause: err });
    }
  }
  const driver = createKeepalivedDriver({ configPath: kc.configPath, logger: init.logger, pidFile: kc.pidFile, ...(kc.bin === undefined ? {} : { keepalivedBin: kc.bin }) });
  let lastResult = 'none';
  let lastError: string | null = null;
  let running = false;
  let again = false;
  let stopped = false;

  const members = (): KeepalivedMember[] => {
    const out: KeepalivedMember[] = [init.selfMember()];
    for (const m of cluster?.swim.members() ?? []) {
      if (m.name === config.node.name || m.state === 'left') continue;
      const nets = (m.meta['nets'] ?? '').split(',').filter((n) => n !== '');
      const priority = Number(m.meta['prio'] ?? '100');
      out.push({ name: m.name, priority: Number.isFinite(priority) ? priority : 100, networks: nets, addresses: nets });
    }
    return out;
  };
  const isKeeper = (): boolean => cluster?.isKeeper() ?? true;

  const pass = async (): Promise<void> => {
    const local = await init.localAddresses();
    const result = keepalivedInput({
      self: config.node.name,
      members: members(),
      instances: store.listInstances(),
      isConflicted: (id) => store.instanceConflict(id) !== undefined,
      storedVrids: store.listVrids(),
      vridRange: kc.vridRange,
      advertIntervalS: kc.advertIntervalS,
      authPassword: kc.authPassword,
      interfaceOf: (address) => local.find((a) => a.cidr === address)?.ifname,
    });
    if (result.unassigned.length > 0) log.warn({ vips: result.unassigned, range: kc.vridRange }, 'no virtual router id left for these VIPs; widen keepalived.vridRange');
    if (Object.keys(result.vridWrites).length > 0 && isKeeper()) {
      await store.setVrids(result.vridWrites);
      log.info({ vrids: result.vridWrites }, 'virtual router ids stored');
    }
    lastResult = await driver.apply(renderKeepalivedConfig(result.input, template));
    lastError = null;
    if (lastResult !== 'unchanged') log.info({ result: lastResult, instances: result.input.instances.length, path: kc.configPath }, 'keepalived config applied');
  };
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    pass()
      .catch((err: unknown) => {
        lastError = (err as Error).message;
        log.error({ err: lastError }, 'cannot apply the keepalived config; keeping the one in place');
      })
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };

  const presence: VipPresence = createVipPresence({ vips: () => new Set(store.listInstances().map((i) => i.vip)), watch: netlinkAddressSource({ logger: init.logger }), logger: init.logger });
  presence.on('owned', (vip) => log.info({ vip }, 'keepalived made this node the VIP holder'));
  presence.on('released', (vip) => log.info({ vip }, 'keepalived moved the VIP away from this node'));
  await presence.start();
  store.onUpdate(() => presence.refresh());

  store.onUpdate(coalescedOnNextTick(() => run()));
  if (cluster) for (const event of ['join', 'leave', 'update'] as const) cluster.swim.on(event, () => run());
  const timer = setInterval(run, 30_000);
  timer.unref();
  // A listing every few seconds backs up the address events (a netlink overflow drops them;
  // keepalived changes addresses behind our back): one RTM_GETADDR dump, cheap.
  // `held` is the union of what the events said and what the last listing showed.
  let listedHeld = new Set<string>();
  const listHeld = async (): Promise<void> => {
    const local = await init.allLocalAddresses();
    const vips = new Set(store.listInstances().map((i) => i.vip));
    listedHeld = new Set([...vips].filter((v) => local.has(v)));
  };
  const presenceTimer = setInterval(() => {
    presence.resync().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot list addresses for VIP presence'));
    listHeld().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot list addresses'));
  }, PRESENCE_RESYNC_MS);
  presenceTimer.unref();
  run();

  return {
    trigger: () => run(),
    status: () => ({ mode: 'keepalived', configPath: kc.configPath, lastApply: lastResult, lastError, held: [...new Set([...presence.owned(), ...listedHeld])].sort() }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(presenceTimer);
      await presence.close();
    },
  };
}
