/**
 * From instances (the store) plus backend health plus ownership to the virtual services the
 * kernel should hold. Pure: the same inputs give the same services on every node.
 */
import { ipFamilyOf, type Instance } from '@shoal/model';
import { serverKey, serviceKey, type RealServer, type VirtualService } from './types.js';

export type BackendHealth = 'up' | 'down' | 'unknown';

export interface DesiredInputs {
  readonly instances: readonly Instance[];
  /** Health of one backend; absent means every backend counts as up (no checker running). */
  readonly health?: (instanceId: string, backendId: string) => BackendHealth;
  /** Whether this node serves the instance (VIP ownership, a later release); absent: all. */
  readonly serves?: (instance: Instance) => boolean;
  /**
   * Whether the instance lost a conflict left by concurrent writes (the store's
   * instanceConflict): it gets no virtual service. Absent: none has.
   */
  readonly conflicted?: (instanceId: string) => boolean;
}

/**
 * The weight a backend gets in the kernel. A disabled backend and one whose health check
 * fails (or has not passed yet) keep their place at weight 0: IPVS and our nftables slots
 * send them no new connections while established ones drain, which is what an operator
 * taking a server out for maintenance wants, and what keepalived does on a failed check.
 */
function effectiveWeight(instance: Instance, backend: Instance['backends'][number], health: DesiredInputs['health']): number {
  if (!backend.enabled) return 0;
  if (instance.healthCheck.type === 'none' || !health) return backend.weight;
  return health(instance.id, backend.id) === 'up' ? backend.weight : 0;
}

export function desiredServices(inputs: DesiredInputs): VirtualService[] {
  const byKey = new Map<string, { service: VirtualService; createdAt: string }>();
  for (const instance of inputs.instances) {
    if (instance.state !== 'started') continue;
    if (inputs.conflicted?.(instance.id) === true) continue;
    if (inputs.serves && !inputs.serves(instance)) continue;
    const family = ipFamilyOf(instance.vip);
    if (family === null) continue;
    for (const p of instance.ports) {
      const servers = new Map<string, RealServer>();
      for (const b of instance.backends) {
        const server: RealServer = {
          ip: b.ip,
          port: b.port ?? p.port,
          weight: effectiveWeight(instance, b, inputs.health),
          forwarding: b.forwarding ?? instance.forwarding,
        };
        const k = serverKey(server);
        if (!servers.has(k)) servers.set(k, server);
      }
      const service: VirtualService = {
        protocol: p.protocol,
        vip: instance.vip,
        port: p.port,
        family,
        scheduler: instance.scheduler,
        persistenceTimeoutS: instance.persistenceTimeoutS,
        // A full-length netmask is the kernel's default and is not reported back by a dump:
        // leaving it out keeps desired and actual equal instead of updating on every pass.
        ...(instance.persistenceNetmask === undefined || instance.persistenceNetmask === (family === 4 ? 32 : 128) ? {} : { persistenceNetmask: instance.persistenceNetmask }),
        servers: [...servers.values()].sort(compareServers),
      };
      // The store marks the younger of two instances a merge left on one VIP:port as
      // conflicted; should a caller not pass `conflicted`, the oldest still wins here.
      const key = serviceKey(service);
      const prev = byKey.get(key);
      if (!prev || instance.createdAt < prev.createdAt) byKey.set(key, { service, createdAt: instance.createdAt });
    }
  }
  return [...byKey.values()].map((v) => v.service).sort(compareServices);
}

export function compareServers(a: RealServer, b: RealServer): number {
  const ka = serverKey(a);
  const kb = serverKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function compareServices(a: VirtualService, b: VirtualService): number {
  const ka = serviceKey(a);
  const kb = serviceKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
