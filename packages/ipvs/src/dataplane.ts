/**
 * The IPVS data plane over generic netlink: the Dataplane interface (dump / apply / flush)
 * for the reconciler, touching only the services in the ownership record.
 */
import type { Logger } from 'pino';
import { compareServers, compareServices, serviceKey, type Dataplane, type DataplaneChange, type VirtualService } from '@shoal/dataplane';
import { ShoalError } from '@shoal/model';
import { isErrno, openGenericNetlink, resolveGenlFamily, type GenlFamily, type NetlinkConnection } from '@shoal/netlink';
import {
  buildDelDest,
  buildDelService,
  buildFlush,
  buildGetDests,
  buildGetServices,
  buildNewDest,
  buildNewService,
  buildSetDest,
  buildSetService,
  decodeDestAttrs,
  decodeServiceAttrs,
  nestedOf,
  toVirtualService,
  type IpvsDestEntry,
  type IpvsServiceEntry,
} from './codec.js';
import { IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE, IPVS_GENL_NAME } from './constants.js';
import { IpvsError, toIpvsError, type IpvsOperation } from './errors.js';
import { fileOwnership, memoryOwnership, type OwnershipRecord } from './ownership.js';

export interface IpvsDataplaneInit {
  readonly logger?: Logger;
  /**
   * Where the ownership record lives (e.g. `<dataDir>/ipvs-owned.json`). Without it the
   * record is kept in memory and services Shoal made before a restart look foreign to it.
   */
  readonly stateFile?: string;
  /**
   * The whole IPVS table is Shoal's (a dedicated director): dump() reports every service and
   * flush() sends IPVS_CMD_FLUSH. @default false (other tools' services are never touched)
   */
  readonly ownsWholeTable?: boolean;
  /** A generic netlink connection to use (tests); otherwise one is opened on first use. */
  readonly connection?: NetlinkConnection;
}

export interface IpvsDataplane extends Dataplane {
  readonly kind: 'ipvs';
  /** The resolved IPVS family (resolving it if needed): ENOENT when the kernel has no IPVS. */
  family(): Promise<GenlFamily>;
  /** Every service the kernel holds, Shoal's or not, as reported (diagnostics, tests). */
  dumpAll(): Promise<{ service: IpvsServiceEntry; servers: IpvsDestEntry[] }[]>;
  /** The service keys in the ownership record. */
  ownedServiceKeys(): Promise<string[]>;
  /** Closes the netlink socket (the process cannot exit while it is open). */
  close(): Promise<void>;
}

export function createIpvsDataplane(init: IpvsDataplaneInit = {}): IpvsDataplane {
  const log = init.logger?.child({ component: 'ipvs' });
  const ownsWholeTable = init.ownsWholeTable ?? false;
  let ready: Promise<{ conn: NetlinkConnection; family: GenlFamily; owned: OwnershipRecord }> | undefined;

  function setup(): Promise<{ conn: NetlinkConnection; family: GenlFamily; owned: OwnershipRecord }> {
    ready ??= (async () => {
      const owned = init.stateFile === undefined ? memoryOwnership() : await fileOwnership(init.stateFile);
      if (init.stateFile === undefined && !ownsWholeTable) log?.warn('no IPVS ownership state file: services created before a restart will look foreign');
      const conn = init.connection ?? (await openGenericNetlink(init.logger === undefined ? {} : { logger: init.logger }));
      try {
        const family = await resolveGenlFamily(IPVS_GENL_NAME, { connection: conn });
        log?.debug({ familyId: family.id, version: family.version }, 'IPVS family resolved');
        return { conn, family, owned };
      } catch (err) {
        if (init.connection === undefined) await conn.close();
        throw toIpvsError(err, 'resolve-family');
      }
    })();
    ready.catch(() => {
      ready = undefined; // a later call retries (e.g. after modprobe ip_vs)
    });
    return ready;
  }

  async function req(op: IpvsOperation, r: Parameters<NetlinkConnection['request']>[0]): ReturnType<NetlinkConnection['request']> {
    const { conn } = await setup();
    try {
      return await conn.request(r);
    } catch (err) {
      throw toIpvsError(err, op);
    }
  }

  async function dumpAll(): Promise<{ service: IpvsServiceEntry; servers: IpvsDestEntry[] }[]> {
    const { family } = await setup();
    const out: { service: IpvsServiceEntry; servers: IpvsDestEntry[] }[] = [];
    for (const m of await req('dump', buildGetServices(family.id))) {
      const nested = nestedOf(m.payload, IPVS_CMD_ATTR_SERVICE);
      if (nested === undefined) continue;
      const service = decodeServiceAttrs(nested);
      const servers: IpvsDestEntry[] = [];
      if (service.vip !== undefined && service.port !== undefined && typeof service.protocol === 'string') {
        const id = { family: service.family, protocol: service.protocol, vip: service.vip, port: service.port };
        for (const d of await req('dump', buildGetDests(family.id, id))) {
          const dn = nestedOf(d.payload, IPVS_CMD_ATTR_DEST);
          if (dn !== undefined) servers.push(decodeDestAttrs(dn, service.family));
        }
      }
      out.push({ service, servers });
    }
    return out;
  }

  async function dump(): Promise<VirtualService[]> {
    const { owned } = await setup();
    const all = await dumpAll();
    const mine: VirtualService[] = [];
    const present = new Set<string>();
    for (const { service, servers } of all) {
      if (service.vip === undefined || service.port === undefined || typeof service.protocol !== 'string') continue;
      const key = serviceKey({ protocol: service.protocol, vip: service.vip, port: service.port });
      present.add(key);
      if (!ownsWholeTable && !owned.has(key)) continue;
      const vs = toVirtualService(service, servers);
      if (vs === null) {
        log?.warn({ service: key, scheduler: service.scheduler }, 'owned IPVS service has attributes Shoal does not model; left out of the dump');
        continue;
      }
      mine.push({ ...vs, servers: [...vs.servers].sort(compareServers) });
    }
    const stale = owned.keys().filter((k) => !present.has(k));
    if (stale.length > 0) {
      log?.info({ services: stale }, 'owned IPVS services no longer in the kernel; forgetting them');
      await owned.remove(stale);
    }
    return mine.sort(compareServices);
  }

  async function apply(changes: readonly DataplaneChange[]): Promise<void> {
    const { family, owned } = await setup();
    const id = family.id;
    // Intent first: every service this batch adds is recorded before the kernel has it.
    const adding = changes.filter((c) => c.op === 'add-service').map((c) => serviceKey(c.service));
    const newlyOwned = adding.filter((k) => !owned.has(k));
    await owned.add(newlyOwned);
    const deleted: string[] = [];
    try {
      for (const c of changes) {
        const key = serviceKey(c.service);
        if (c.op !== 'add-service' && !ownsWholeTable && !owned.has(key)) {
          throw new ShoalError('E_CONFLICT', `IPVS ${c.op} ${key}: the service is not Shoal's; refusing to touch it`);
        }
        switch (c.op) {
          case 'add-service':
            try {
              await req('add-service', buildNewService(id, c.service));
            } catch (err) {
              if (isErrno(err, 'EEXIST') && newlyOwned.includes(key)) {
                // Someone else's service holds this VIP:port: it stays theirs.
                await owned.remove([key]);
                throw new IpvsError(err.errno, 'add-service', `${err.operation} (held by another IPVS user)`, 'E_CONFLICT');
              }
              throw err;
            }
            break;
          case 'update-service':
            await req('update-service', buildSetService(id, c.service));
            break;
          case 'delete-service':
            try {
              await req('delete-service', buildDelService(id, c.service));
            } catch (err) {
              if (!isErrno(err, 'ESRCH')) throw err; // already gone: the goal is reached
            }
            deleted.push(key);
            break;
          case 'add-server':
            await req('add-server', buildNewDest(id, c.service, c.server));
            break;
          case 'update-server':
            await req('update-server', buildSetDest(id, c.service, c.server));
            break;
          case 'delete-server':
            try {
              await req('delete-server', buildDelDest(id, c.service, c.server));
            } catch (err) {
              if (!isErrno(err, 'ENOENT')) throw err;
            }
            break;
        }
      }
    } finally {
      await owned.remove(deleted);
    }
    log?.debug({ changes: changes.length }, 'IPVS changes applied');
  }

  async function flush(): Promise<void> {
    const { family, owned } = await setup();
    if (ownsWholeTable) {
      await req('flush', buildFlush(family.id));
      await owned.remove(owned.keys());
      log?.info('IPVS table flushed (whole table is Shoal\'s)');
      return;
    }
    const mine = await dump();
    for (const s of mine) {
      try {
        await req('delete-service', buildDelService(family.id, s));
      } catch (err) {
        if (!isErrno(err, 'ESRCH')) throw err;
      }
      await owned.remove([serviceKey(s)]);
    }
    log?.info({ services: mine.length }, "Shoal's IPVS services removed");
  }

  return {
    kind: 'ipvs',
    family: async () => (await setup()).family,
    dump,
    dumpAll,
    apply,
    flush,
    async ownedServiceKeys() {
      return (await setup()).owned.keys();
    },
    async close() {
      const r = ready;
      ready = undefined;
      if (r === undefined || init.connection !== undefined) return;
      const s = await r.catch(() => undefined);
      await s?.conn.close();
    },
  };
}
