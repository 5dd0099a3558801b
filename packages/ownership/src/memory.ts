/** In-memory drivers for tests of the ownership logic (and of shoald without root). */
import type { VipAddresses, VipAnnouncer } from './controller.js';

export interface MemoryVipAddresses extends VipAddresses {
  readonly ops: string[];
  /** Makes the next add of `vip` fail (an interface vanished, EPERM...). */
  failNextAdd(vip: string): void;
}

export function createMemoryVipAddresses(ifname = 'eth0', initial: readonly string[] = []): MemoryVipAddresses {
  const held = new Map<string, string>(initial.map((v) => [v, ifname]));
  const failing = new Set<string>();
  const ops: string[] = [];
  return {
    ops,
    failNextAdd(vip) {
      failing.add(vip);
    },
    add(vip) {
      if (failing.delete(vip)) return Promise.reject(new Error(`cannot add ${vip}`));
      held.set(vip, ifname);
      ops.push(`add ${vip}`);
      return Promise.resolve({ ifname });
    },
    remove(vip) {
      held.delete(vip);
      ops.push(`remove ${vip}`);
      return Promise.resolve();
    },
    held() {
      return Promise.resolve(new Map(held));
    },
  };
}

export interface MemoryAnnouncer extends VipAnnouncer {
  readonly announced: { vip: string; ifname: string }[];
}

export function createMemoryAnnouncer(): MemoryAnnouncer {
  const announced: { vip: string; ifname: string }[] = [];
  return {
    announced,
    announce(vip, ifname) {
      announced.push({ vip, ifname });
      return Promise.resolve();
    },
  };
}
