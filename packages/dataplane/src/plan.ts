/**
 * Desired vs actual -> the smallest list of changes. Pure and idempotent: planning against
 * the state the plan produces yields no changes. Services and servers are compared by key
 * (protocol/VIP/port, IP/port); everything else is an attribute that an update changes in
 * place, so an unrelated service is never touched.
 */
import { serverKey, serviceKey, type DataplaneChange, type RealServer, type VirtualService } from './types.js';

function sameServiceAttributes(a: VirtualService, b: VirtualService): boolean {
  return a.scheduler === b.scheduler && a.persistenceTimeoutS === b.persistenceTimeoutS && (a.persistenceNetmask ?? null) === (b.persistenceNetmask ?? null);
}

function sameServer(a: RealServer, b: RealServer): boolean {
  return a.weight === b.weight && a.forwarding === b.forwarding;
}

export function planChanges(desired: readonly VirtualService[], actual: readonly VirtualService[]): DataplaneChange[] {
  const actualByKey = new Map(actual.map((s) => [serviceKey(s), s]));
  const desiredKeys = new Set(desired.map(serviceKey));
  const changes: DataplaneChange[] = [];
  // Deletions first: they free addresses and ports before anything is added.
  for (const s of actual) if (!desiredKeys.has(serviceKey(s))) changes.push({ op: 'delete-service', service: s });
  for (const want of desired) {
    const have = actualByKey.get(serviceKey(want));
    if (!have) {
      changes.push({ op: 'add-service', service: want });
      for (const server of want.servers) changes.push({ op: 'add-server', service: want, server });
      continue;
    }
    if (!sameServiceAttributes(want, have)) changes.push({ op: 'update-service', service: want });
    const haveServers = new Map(have.servers.map((r) => [serverKey(r), r]));
    const wantKeys = new Set(want.servers.map(serverKey));
    for (const r of have.servers) if (!wantKeys.has(serverKey(r))) changes.push({ op: 'delete-server', service: want, server: r });
    for (const r of want.servers) {
      const current = haveServers.get(serverKey(r));
      if (!current) changes.push({ op: 'add-server', service: want, server: r });
      else if (!sameServer(r, current)) changes.push({ op: 'update-server', service: want, server: r });
    }
  }
  return changes;
}

/** Services a set of changes touches (for logs and for drivers that rebuild per service). */
export function touchedServiceKeys(changes: readonly DataplaneChange[]): Set<string> {
  return new Set(changes.map((c) => serviceKey(c.service)));
}
