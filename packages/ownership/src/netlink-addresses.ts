/**
 * VipAddresses on the kernel: a VIP is added as a host address (/32, /128) to the interface
 * whose subnet holds it, with rtnetlink. The kernel has no owner field for addresses, so which
 * ones Shoal added is recorded in a state file (as the IPVS driver records its services): only
 * those are ever reported or removed, never an address an operator configured.
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ShoalError, ipFamilyOf, parseCidr, parseIp, rangeContains } from '@shoal/model';
import { isErrno, type RouteNetlink } from '@shoal/netlink';
import type { VipAddresses } from './controller.js';

export interface NetlinkVipAddressesInit {
  readonly rtnl: RouteNetlink;
  /** Where the VIPs Shoal added are recorded (dataDir/vips-held.json). */
  readonly stateFile: string;
  /** Put every VIP on this interface instead of the one whose subnet holds it. */
  readonly interface?: string | undefined;
  readonly logger: Logger;
}

export interface NetlinkVipAddresses extends VipAddresses {
  /** This host's subnets (CIDRs of non-loopback, non-host addresses): where it can hold VIPs. */
  localNetworks(): Promise<string[]>;
}

const hostPrefix = (vip: string): string => `${vip}/${ipFamilyOf(vip) === 6 ? 128 : 32}`;

export function createNetlinkVipAddresses(init: NetlinkVipAddressesInit): NetlinkVipAddresses {
  const log = init.logger.child({ component: 'vip-addresses' });
  const ours = new Map<string, string>(readState(init.stateFile, log));
  let saving = Promise.resolve();
  const save = (): Promise<void> => {
    const snapshot = JSON.stringify({ vips: Object.fromEntries(ours) }) + '\n';
    saving = saving.then(async () => {
      const tmp = `${init.stateFile}.tmp`;
      await writeFile(tmp, snapshot);
      await rename(tmp, init.stateFile);
    });
    return saving;
  };

  const interfaceFor = async (vip: string): Promise<string> => {
    if (init.interface !== undefined) return init.interface;
    const addr = parseIp(vip);
    if (!addr) throw new ShoalError('E_VALIDATION', `not an IP address: ${vip}`);
    for (const a of await init.rtnl.listAddresses()) {
      if (a.ifname === 'lo' || a.prefixLength === (a.family === 6 ? 128 : 32)) continue;
      const range = parseCidr(a.cidr);
      if (range && rangeContains(range, addr)) return a.ifname;
    }
    throw new ShoalError('E_UNAVAILABLE', `no interface has a subnet holding ${vip} (set ownership.interface to place it anyway)`);
  };

  return {
    async add(vip) {
      const ifname = await interfaceFor(vip);
      try {
        await init.rtnl.addAddress(ifname, hostPrefix(vip));
      } catch (err) {
        // Already there (a restart, or a hand-made add): holding it is what we want.
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      ours.set(vip, ifname);
      await save();
      return { ifname };
    },
    async remove(vip) {
      const ifname = ours.get(vip);
      if (ifname !== undefined) {
        try {
          await init.rtnl.deleteAddress(ifname, hostPrefix(vip));
        } catch (err) {
          // Gone already (interface removed, or deleted by hand): nothing left to undo.
          if (!isErrno(err, 'EADDRNOTAVAIL') && !isErrno(err, 'ENODEV')) throw err;
        }
      }
      ours.delete(vip);
      await save();
    },
    async held() {
      const present = new Set((await init.rtnl.listAddresses()).map((a) => `${a.ifname} ${a.address}`));
      const out = new Map<string, string>();
      for (const [vip, ifname] of ours) if (present.has(`${ifname} ${vip}`)) out.set(vip, ifname);
      return out;
    },
    async localNetworks() {
      const nets = new Set<string>();
      for (const a of await init.rtnl.listAddresses()) {
        if (a.ifname === 'lo' || a.prefixLength === (a.family === 6 ? 128 : 32)) continue;
        if (a.family === 6 && a.address.toLowerCase().startsWith('fe80:')) continue;
        nets.add(a.cidr);
      }
      return [...nets].sort();
    },
  };
}

function readState(file: string, log: Logger): [string, string][] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { vips?: Record<string, unknown> };
    return Object.entries(parsed.vips ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, file }, 'cannot read the record of held VIPs; starting without it');
    return [];
  }
}
