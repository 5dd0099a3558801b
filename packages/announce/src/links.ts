/**
 * Interface name -> ifindex and MAC, the two things a frame needs.
 *
 * From rtnetlink (@shoal/netlink's getLink), not /sys/class/net/IF/{ifindex,address}: sysfs shows
 * the devices of the network namespace it was mounted in, which is the process's own only when
 * something (such as `ip netns exec`) remounted it. A process that entered a namespace with
 * setns(2), or a container with the host's /sys, would read another namespace's ifindex and send
 * out of the wrong device. A netlink socket, like the packet socket, belongs to the namespace of
 * the process that opened it, so lookup and send always agree. One RTM_GETLINK also answers the
 * link type and the up flag together, where sysfs takes several reads that can race a rename.
 */
import { isErrno, openRouteNetlink, type RouteNetlink } from '@shoal/netlink';
import type { Logger } from 'pino';
import { AnnounceError } from './errors.js';

export interface LinkInfo {
  readonly ifindex: number;
  /** `aa:bb:cc:dd:ee:ff` or 6 bytes. */
  readonly mac: Uint8Array | string;
}

/** Resolves an interface name; rejects with AnnounceError E_ANNOUNCE_LINK when it cannot be used. */
export type LinkLookup = (ifname: string) => Promise<LinkInfo>;

export interface NetlinkLinkLookup {
  readonly lookup: LinkLookup;
  close(): Promise<void>;
}

const ARPHRD_ETHER = 1;

export interface NetlinkLinkLookupInit {
  /** `@shoal/netlink` logs through a child `{ component: 'netlink' }` of it. */
  readonly logger?: Logger;
  /**
   * Open the socket now rather than at the first lookup: the first open loads node-netlink
   * (about 15 ms measured), which a failover should not wait for.
   * @default false
   */
  readonly eager?: boolean;
}

/** A lookup over one rtnetlink socket, kept until close(). A failed open is retried at the next lookup. */
export function createNetlinkLinkLookup(init: NetlinkLinkLookupInit = {}): NetlinkLinkLookup {
  let connection: Promise<RouteNetlink> | undefined;
  let closed = false;

  function route(): Promise<RouteNetlink> {
    if (connection === undefined) {
      const opening = openRouteNetlink(init.logger === undefined ? {} : { logger: init.logger });
      connection = opening;
      // A failed open is not cached: the next lookup tries again (and reports the error).
      opening.catch((err: unknown) => {
        if (connection === opening) connection = undefined;
        init.logger?.debug({ err }, 'opening the rtnetlink socket for link lookups failed');
      });
    }
    return connection;
  }

  if (init.eager === true) void route().catch(() => undefined); // reported by the catch above

  return {
    async lookup(ifname) {
      if (closed) throw new AnnounceError('E_ANNOUNCE_CLOSED', `link ${ifname}: the link lookup is closed`);
      let link;
      try {
        link = await (await route()).getLink(ifname);
      } catch (err) {
        if (isErrno(err, 'ENODEV')) throw new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: no such interface`, { errno: 'ENODEV', cause: err });
        throw new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (link.type !== ARPHRD_ETHER) throw new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: not an Ethernet link (ARPHRD ${link.type}): neither ARP nor NDP frames can be sent on it`);
      if (!link.up) throw new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: is down`);
      if (link.mac === undefined) throw new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: has no hardware address`);
      return { ifindex: link.ifindex, mac: link.mac };
    },
    async close() {
      if (closed) return;
      closed = true;
      const open = connection;
      connection = undefined;
      if (open === undefined) return;
      let rt: RouteNetlink;
      try {
        rt = await open;
      } catch {
        return; // it never opened: nothing to close (the failure went to the lookup that asked)
      }
      await rt.close();
    },
  };
}
