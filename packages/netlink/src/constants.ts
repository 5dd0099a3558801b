/**
 * Numbers from the kernel UAPI headers, named as there. Only what Shoal sends or reads.
 * linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h, linux/if_link.h, linux/genetlink.h.
 */

/** Address family of netlink sockets. */
export const AF_NETLINK = 16;

/** Netlink protocols (socket(AF_NETLINK, SOCK_DGRAM, protocol)). */
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

/** linux/netlink.h: struct nlmsghdr is 16 bytes; payloads and attributes align to 4. */
export const NLMSG_HDRLEN = 16;
export const NLMSG_ALIGNTO = 4;
export const NLA_HDRLEN = 4;
export const NLA_ALIGNTO = 4;
/** nla_type bits 14/15: nested / network byte order; the rest is the attribute type. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
/** Modifiers of GET requests. */
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** Modifiers of NEW requests. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

/** linux/socket.h */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** linux/rtnetlink.h message types. */
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

/** linux/if_addr.h: struct ifaddrmsg is 8 bytes. */
export const IFADDRMSG_LEN = 8;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;
/** ifa_flags */
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;

/** rtnetlink.h rt_scope_t */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;

/** linux/rtnetlink.h: struct ifinfomsg is 16 bytes. */
export const IFINFOMSG_LEN = 16;
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_OPERSTATE = 16;
/** linux/if.h */
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;

/** linux/rtnetlink.h: struct rtmsg is 12 bytes. */
export const RTMSG_LEN = 12;
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

/** linux/genetlink.h: struct genlmsghdr is 4 bytes; the controller family is fixed at 0x10. */
export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
export const CTRL_ATTR_OPS = 6;
export const CTRL_ATTR_MCAST_GROUPS = 7;
export const CTRL_ATTR_MCAST_GRP_NAME = 1;
export const CTRL_ATTR_MCAST_GRP_ID = 2;
