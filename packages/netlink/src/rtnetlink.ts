/**
 * Links, addresses and routes over NETLINK_ROUTE: what `ip link show`, `ip addr add/del/show`
 * and `ip route show` do, for the VIP announcer and the diagnostics. One socket per instance.
 */
import { AF_UNSPEC, NETLINK_ROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE } from './constants.js';
import { NetlinkError } from './errors.js';
import {
  buildAddAddress,
  buildDeleteAddress,
  buildGetAddresses,
  buildGetLinkByName,
  buildGetLinks,
  buildGetRoutes,
  parseAddress,
  parseCidrText,
  parseLink,
  parseRoute,
  type AddressOptions,
  type InterfaceAddress,
  type Link,
  type Route,
} from './messages.js';
import { openNetlink, type NetlinkConnection, type NetlinkConnectionInit } from './socket.js';

export interface RouteNetlink {
  listLinks(): Promise<Link[]>;
  /** The link named `ifname`; a NetlinkError ENODEV (E_NOT_FOUND) when there is none. */
  getLink(ifname: string): Promise<Link>;
  /** Every address, or those of one interface; each carries its interface name. */
  listAddresses(ifname?: string): Promise<(InterfaceAddress & { readonly ifname: string })[]>;
  /** `ip addr add CIDR dev IFNAME` (EEXIST when it is there). IPv6 is added nodad by default. */
  addAddress(ifname: string, cidr: string, options?: AddressOptions): Promise<void>;
  /** `ip addr del CIDR dev IFNAME` (EADDRNOTAVAIL when it is not there). */
  deleteAddress(ifname: string, cidr: string): Promise<void>;
  listRoutes(family?: 4 | 6): Promise<Route[]>;
  close(): Promise<void>;
}

export interface RouteNetlinkInit extends NetlinkConnectionInit {
  /** Use this connection instead of opening one (tests, sharing); close() then leaves it open. */
  readonly connection?: NetlinkConnection;
}

export async function openRouteNetlink(init: RouteNetlinkInit = {}): Promise<RouteNetlink> {
  const conn = init.connection ?? (await openNetlink(NETLINK_ROUTE, init));
  const owned = init.connection === undefined;

  async function listLinks(): Promise<Link[]> {
    const replies = await conn.request(buildGetLinks());
    return replies.filter((m) => m.header.type === RTM_NEWLINK).map((m) => parseLink(m.payload));
  }

  async function getLink(ifname: string): Promise<Link> {
    const replies = await conn.request(buildGetLinkByName(ifname));
    const m = replies.find((r) => r.header.type === RTM_NEWLINK);
    // An ACK without the link would be a kernel bug; answer as the kernel does for a miss.
    if (!m) throw new NetlinkError(19, `RTM_GETLINK ${ifname}`);
    return parseLink(m.payload);
  }

  return {
    listLinks,
    getLink,
    async listAddresses(ifname) {
      const links = await listLinks();
      const names = new Map(links.map((l) => [l.ifindex, l.name]));
      let only: number | undefined;
      if (ifname !== undefined) {
        only = links.find((l) => l.name === ifname)?.ifindex;
        if (only === undefined) throw new NetlinkError(19, `RTM_GETADDR ${ifname}`);
      }
      const replies = await conn.request(buildGetAddresses(AF_UNSPEC));
      return replies
        .filter((m) => m.header.type === RTM_NEWADDR)
        .map((m) => parseAddress(m.payload))
        .filter((a) => only === undefined || a.ifindex === only)
        .map((a) => ({ ...a, ifname: names.get(a.ifindex) ?? `if${a.ifindex}` }));
    },
    async addAddress(ifname, cidr, options) {
      parseCidrText(cidr); // a bad CIDR fails before any I/O
      const link = await getLink(ifname);
      await conn.request(buildAddAddress(link.ifindex, cidr, options));
    },
    async deleteAddress(ifname, cidr) {
      parseCidrText(cidr);
      const link = await getLink(ifname);
      await conn.request(buildDeleteAddress(link.ifindex, cidr));
    },
    async listRoutes(family) {
      const replies = await conn.request(buildGetRoutes(family === 4 ? 2 : family === 6 ? 10 : AF_UNSPEC));
      return replies.filter((m) => m.header.type === RTM_NEWROUTE).map((m) => parseRoute(m.payload));
    },
    async close() {
      if (owned) await conn.close();
    },
  };
}
