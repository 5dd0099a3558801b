/**
 * An in-memory Dataplane that behaves like the kernel: adding what exists or changing what
 * does not is an error, so a wrong plan fails a test instead of passing silently. For tests
 * of the reconciler and of shoald without root.
 */
import { ShoalError } from '@shoal/model';
import { compareServers, compareServices } from './desired.js';
import { serverKey, serviceKey, type Dataplane, type DataplaneChange, type RealServer, type VirtualService } from './types.js';

export interface MemoryDataplane extends Dataplane {
  /** Every apply() call's changes, for assertions. */
  readonly applied: DataplaneChange[][];
  /** Simulates a hand-made edit of the kernel (e.g. `ipvsadm -D`). */
  removeService(key: string): void;
  /** Makes the next apply() fail once, as a kernel error would. */
  failNextApply(error: Error): void;
}

interface Entry {
  service: Omit<VirtualService, 'servers'>;
  servers: Map<string, RealServer>;
}

export function createMemoryDataplane(): MemoryDataplane {
  const services = new Map<string, Entry>();
  const applied: DataplaneChange[][] = [];
  let nextFailure: Error | undefined;
  const fail = (what: string): never => {
    throw new ShoalError('E_INTERNAL', `memory dataplane: ${what}`);
  };
  const snapshot = (): VirtualService[] =>
    [...services.values()].map((e) => ({ ...e.service, servers: [...e.servers.values()].sort(compareServers) })).sort(compareServices);
  return {
    kind: 'memory',
    applied,
    dump: () => Promise.resolve(snapshot()),
    apply(changes) {
      if (nextFailure) {
        const e = nextFailure;
        nextFailure = undefined;
        return Promise.reject(e);
      }
      applied.push([...changes]);
      for (const c of changes) {
        const key = serviceKey(c.service);
        const entry = services.get(key);
        const { servers: _servers, ...attrs } = c.service;
        switch (c.op) {
          case 'add-service':
            if (entry) fail(`service ${key} exists`);
            services.set(key, { service: attrs, servers: new Map() });
            break;
          case 'update-service':
            if (!entry) fail(`service ${key} does not exist`);
            else entry.service = attrs;
            break;
          case 'delete-service':
            if (!entry) fail(`service ${key} does not exist`);
            services.delete(key);
            break;
          case 'add-server':
            if (!entry) fail(`service ${key} does not exist`);
            else if (entry.servers.has(serverKey(c.server))) fail(`server ${serverKey(c.server)} exists in ${key}`);
            else entry.servers.set(serverKey(c.server), c.server);
            break;
          case 'update-server':
            if (!entry?.servers.has(serverKey(c.server))) fail(`server ${serverKey(c.server)} not in ${key}`);
            else entry.servers.set(serverKey(c.server), c.server);
            break;
          case 'delete-server':
            if (!entry?.servers.delete(serverKey(c.server))) fail(`server ${serverKey(c.server)} not in ${key}`);
            break;
        }
      }
      return Promise.resolve();
    },
    flush() {
      services.clear();
      return Promise.resolve();
    },
    removeService(key) {
      services.delete(key);
    },
    failNextApply(error) {
      nextFailure = error;
    },
  };
}
