/**
 * Message codecs, pure: struct nlmsghdr framing, generic netlink's genlmsghdr and the
 * controller's GETFAMILY, rtnetlink's ifaddrmsg / ifinfomsg / rtmsg with their attributes.
 * Each builder returns the request a socket sends (type, flags, payload); each parser takes a
 * reply payload (what follows the 16-byte nlmsghdr).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { attrMap, attrString, attrBytes, decodeAttrs, encodeAttrs, readString, readU16, readU32, readU8, align4, type NlAttrSpec } from './attributes.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_ATTR_HDRSIZE,
  CTRL_ATTR_MAXATTR,
  CTRL_ATTR_MCAST_GROUPS,
  CTRL_ATTR_MCAST_GRP_ID,
  CTRL_ATTR_MCAST_GRP_NAME,
  CTRL_ATTR_VERSION,
  CTRL_CMD_GETFAMILY,
  GENL_HDRLEN,
  GENL_ID_CTRL,
  IFADDRMSG_LEN,
  IFA_ADDRESS,
  IFA_F_NODAD,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_MTU,
  IFLA_OPERSTATE,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RT_SCOPE_UNIVERSE,
} from './constants.js';
import { NetlinkDecodeError } from './errors.js';
import { ipFromBytes, ipToBytes } from '@shoal/model';

// ---- framing ------------------------------------------------------------------------------

export interface NlMsgHeader {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
}

/** A request before framing: the socket adds nlmsg_len, seq and pid. */
export interface NetlinkRequest {
  readonly type: number;
  readonly flags: number;
  readonly payload: Buffer;
  /** For errors and logs ("RTM_NEWADDR 10.0.0.1/32 dev shl0"). */
  readonly describe: string;
}

/** A received message: its header and the payload after the nlmsghdr. */
export interface NetlinkMessage {
  readonly header: NlMsgHeader;
  readonly payload: Buffer;
}

/** struct nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid, host byte order. */
export function encodeNlMsg(header: NlMsgHeader, payload: Buffer): Buffer {
  const len = NLMSG_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(header.type, 4);
  out.writeUInt16LE(header.flags, 6);
  out.writeUInt32LE(header.seq >>> 0, 8);
  out.writeUInt32LE(header.pid >>> 0, 12);
  payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Splits a datagram into its messages (several per datagram in a dump). */
export function decodeNlMsgs(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new NetlinkDecodeError(`message at offset ${off} has length ${len}, ${buf.length - off} bytes left`);
    out.push({
      header: { type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), pid: buf.readUInt32LE(off + 12) },
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** struct nlmsgerr's first field: 0 = ACK, else -errno. Returns the positive errno (0 = ok). */
export function decodeNlError(payload: Buffer): number {
  if (payload.length < 4) throw new NetlinkDecodeError('NLMSG_ERROR shorter than 4 bytes');
  return -payload.readInt32LE(0);
}

// ---- addresses ----------------------------------------------------------------------------

export function familyOfAddress(ip: string): typeof AF_INET | typeof AF_INET6 {
  if (isIPv4(ip)) return AF_INET;
  if (isIPv6(ip)) return AF_INET6;
  throw new RangeError(`not an IP address: ${ip}`);
}

/** The 4- or 16-byte network-order form of an address; RangeError when the text is not one. */
export function encodeIp(ip: string): Buffer {
  const bytes = ipToBytes(ip);
  if (bytes === null) throw new RangeError(`not an IP address: ${ip}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Text form: dotted quad, or RFC 5952 (the model's canonical form, so the two always agree).
 * Reads the first 4 or 16 bytes; a shorter buffer or another family is a NetlinkDecodeError.
 */
export function decodeIp(family: number, b: Buffer): string {
  let text: string | null = null;
  if (family === AF_INET) {
    if (b.length < 4) throw new NetlinkDecodeError(`IPv4 address of ${b.length} bytes`);
    text = ipFromBytes(b.subarray(0, 4));
  } else if (family === AF_INET6 && b.length >= 16) {
    text = ipFromBytes(b.subarray(0, 16));
  }
  if (text === null) throw new NetlinkDecodeError(`address family ${family} with ${b.length} bytes`);
  return text;
}

/** `10.0.0.1/32` -> address and prefix; a bare address means a host prefix. */
export function parseCidrText(cidr: string): { address: string; prefixLength: number; family: typeof AF_INET | typeof AF_INET6 } {
  const slash = cidr.indexOf('/');
  const address = (slash < 0 ? cidr : cidr.slice(0, slash)).trim();
  const family = familyOfAddress(address);
  const max = family === AF_INET ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1).trim();
  const prefixLength = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max) throw new RangeError(`bad prefix length in ${cidr}`);
  return { address: decodeIp(family, encodeIp(address)), prefixLength, family };
}

// ---- rtnetlink: ifaddrmsg -----------------------------------------------------------------

/** struct ifaddrmsg: u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index. */
export function encodeIfAddrMsg(m: { family: number; prefixLength: number; flags?: number; scope?: number; ifindex: number }): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.prefixLength, 1);
  b.writeUInt8(m.flags ?? 0, 2);
  b.writeUInt8(m.scope ?? RT_SCOPE_UNIVERSE, 3);
  b.writeUInt32LE(m.ifindex, 4);
  return b;
}

export interface AddressOptions {
  /** IPv6: skip duplicate address detection (a VIP must work at once, not after DAD). @default true */
  readonly noDad?: boolean;
  /** IFA_LABEL (IPv4 only; must start with the interface name, e.g. `shl0:vip`). */
  readonly label?: string;
}

/** RTM_NEWADDR with CREATE|EXCL (adding what exists is EEXIST, as `ip addr add`). */
export function buildAddAddress(ifindex: number, cidr: string, options: AddressOptions = {}): NetlinkRequest {
  const { address, prefixLength, family } = parseCidrText(cidr);
  const addr = encodeIp(address);
  const flags = family === AF_INET6 && (options.noDad ?? true) ? IFA_F_NODAD : 0;
  const attrs: NlAttrSpec[] = [attrBytes(IFA_LOCAL, addr), attrBytes(IFA_ADDRESS, addr)];
  if (options.label !== undefined && family === AF_INET) attrs.push(attrString(IFA_LABEL, options.label));
  return {
    type: RTM_NEWADDR,
    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    payload: Buffer.concat([encodeIfAddrMsg({ family, prefixLength, flags, ifindex }), encodeAttrs(attrs)]),
    describe: `RTM_NEWADDR ${address}/${prefixLength} ifindex ${ifindex}`,
  };
}

export function buildDeleteAddress(ifindex: number, cidr: string): NetlinkRequest {
  const { address, prefixLength, family } = parseCidrText(cidr);
  const addr = encodeIp(address);
  return {
    type: RTM_DELADDR,
    flags: NLM_F_REQUEST | NLM_F_ACK,
    payload: Buffer.concat([encodeIfAddrMsg({ family, prefixLength, ifindex }), encodeAttrs([attrBytes(IFA_LOCAL, addr), attrBytes(IFA_ADDRESS, addr)])]),
    describe: `RTM_DELADDR ${address}/${prefixLength} ifindex ${ifindex}`,
  };
}

/** A dump of every address of a family (AF_UNSPEC = both); the kernel ignores the index in a dump. */
export function buildGetAddresses(family: number = AF_UNSPEC): NetlinkRequest {
  return {
    type: RTM_GETADDR,
    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP,
    payload: encodeIfAddrMsg({ family, prefixLength: 0, ifindex: 0 }),
    describe: 'RTM_GETADDR dump',
  };
}

export interface InterfaceAddress {
  readonly ifindex: number;
  readonly family: 4 | 6;
  /** IFA_LOCAL when present (the interface's own address), else IFA_ADDRESS. */
  readonly address: string;
  readonly prefixLength: number;
  readonly cidr: string;
  /** IFA_ADDRESS when it differs from IFA_LOCAL (the peer of a point-to-point link). */
  readonly peer?: string;
  readonly label?: string;
  readonly scope: number;
  /** IFA_FLAGS when present (32 bits), else ifa_flags. */
  readonly flags: number;
}

/** Parses an RTM_NEWADDR payload. */
export function parseAddress(payload: Buffer): InterfaceAddress {
  if (payload.length < IFADDRMSG_LEN) throw new NetlinkDecodeError(`ifaddrmsg of ${payload.length} bytes`);
  const family = payload.readUInt8(0);
  const prefixLength = payload.readUInt8(1);
  const a = attrMap(payload.subarray(IFADDRMSG_LEN));
  const local = a.get(IFA_LOCAL);
  const addr = a.get(IFA_ADDRESS);
  const main = local ?? addr;
  if (main === undefined) throw new NetlinkDecodeError('RTM_NEWADDR without IFA_LOCAL or IFA_ADDRESS');
  const address = decodeIp(family, main);
  const peer = local !== undefined && addr !== undefined && !local.equals(addr) ? decodeIp(family, addr) : undefined;
  const label = readString(a.get(IFA_LABEL));
  return {
    ifindex: payload.readUInt32LE(4),
    family: family === AF_INET ? 4 : 6,
    address,
    prefixLength,
    cidr: `${address}/${prefixLength}`,
    ...(peer === undefined ? {} : { peer }),
    ...(label === undefined ? {} : { label }),
    scope: payload.readUInt8(3),
    flags: readU32(a.get(IFA_FLAGS)) ?? payload.readUInt8(2),
  };
}

// ---- rtnetlink: ifinfomsg -----------------------------------------------------------------

/** struct ifinfomsg: u8 family, u8 pad, u16 type, i32 index, u32 flags, u32 change. */
export function encodeIfInfoMsg(m: { family?: number; type?: number; ifindex?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(m.family ?? AF_UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.ifindex ?? 0, 4);
  b.writeUInt32LE(m.flags ?? 0, 8);
  b.writeUInt32LE(m.change ?? 0, 12);
  return b;
}

/** RTM_GETLINK of one interface by IFLA_IFNAME (ENODEV when there is none). */
export function buildGetLinkByName(ifname: string): NetlinkRequest {
  return {
    type: RTM_GETLINK,
    flags: NLM_F_REQUEST | NLM_F_ACK,
    payload: Buffer.concat([encodeIfInfoMsg(), encodeAttrs([attrString(IFLA_IFNAME, ifname)])]),
    describe: `RTM_GETLINK ${ifname}`,
  };
}

export function buildGetLinks(): NetlinkRequest {
  return { type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, payload: encodeIfInfoMsg(), describe: 'RTM_GETLINK dump' };
}

export interface Link {
  readonly ifindex: number;
  readonly name: string;
  /** ARPHRD_* (1 ether, 772 loopback). */
  readonly type: number;
  /** IFF_* */
  readonly flags: number;
  readonly up: boolean;
  readonly mtu?: number;
  readonly mac?: string;
  /** IF_OPER_* (6 up, 2 down, 0 unknown). */
  readonly operState?: number;
}

export function parseLink(payload: Buffer): Link {
  if (payload.length < IFINFOMSG_LEN) throw new NetlinkDecodeError(`ifinfomsg of ${payload.length} bytes`);
  const a = attrMap(payload.subarray(IFINFOMSG_LEN));
  const name = readString(a.get(IFLA_IFNAME));
  if (name === undefined) throw new NetlinkDecodeError('RTM_NEWLINK without IFLA_IFNAME');
  const flags = payload.readUInt32LE(8);
  const mtu = readU32(a.get(IFLA_MTU));
  const macBuf = a.get(IFLA_ADDRESS);
  const operState = readU8(a.get(IFLA_OPERSTATE));
  return {
    ifindex: payload.readInt32LE(4),
    name,
    type: payload.readUInt16LE(2),
    flags,
    up: (flags & 1) !== 0,
    ...(mtu === undefined ? {} : { mtu }),
    ...(macBuf === undefined ? {} : { mac: [...macBuf].map((x) => x.toString(16).padStart(2, '0')).join(':') }),
    ...(operState === undefined ? {} : { operState }),
  };
}

// ---- rtnetlink: rtmsg ---------------------------------------------------------------------

/** struct rtmsg: u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags. */
export function encodeRtMsg(m: { family: number; dstLength?: number; srcLength?: number; tos?: number; table?: number; protocol?: number; scope?: number; type?: number; flags?: number }): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLength ?? 0, 1);
  b.writeUInt8(m.srcLength ?? 0, 2);
  b.writeUInt8(m.tos ?? 0, 3);
  b.writeUInt8(m.table ?? 0, 4);
  b.writeUInt8(m.protocol ?? 0, 5);
  b.writeUInt8(m.scope ?? 0, 6);
  b.writeUInt8(m.type ?? 0, 7);
  b.writeUInt32LE(m.flags ?? 0, 8);
  return b;
}

export function buildGetRoutes(family: number = AF_UNSPEC): NetlinkRequest {
  return { type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, payload: encodeRtMsg({ family }), describe: 'RTM_GETROUTE dump' };
}

export interface Route {
  readonly family: 4 | 6;
  /** `0.0.0.0/0` / `::/0` for a default route. */
  readonly destination: string;
  readonly gateway?: string;
  readonly oif?: number;
  readonly prefSrc?: string;
  readonly priority?: number;
  /** RTA_TABLE when present (tables above 255), else rtm_table. */
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  /** RTN_* (1 unicast, 2 local, 3 broadcast, ...). */
  readonly type: number;
}

export function parseRoute(payload: Buffer): Route {
  if (payload.length < RTMSG_LEN) throw new NetlinkDecodeError(`rtmsg of ${payload.length} bytes`);
  const family = payload.readUInt8(0);
  const dstLength = payload.readUInt8(1);
  const a = attrMap(payload.subarray(RTMSG_LEN));
  const dst = a.get(RTA_DST);
  const gw = a.get(RTA_GATEWAY);
  const src = a.get(RTA_PREFSRC);
  const oif = readU32(a.get(RTA_OIF));
  const priority = readU32(a.get(RTA_PRIORITY));
  const zero = family === AF_INET ? '0.0.0.0' : '::';
  return {
    family: family === AF_INET ? 4 : 6,
    destination: `${dst === undefined ? zero : decodeIp(family, dst)}/${dstLength}`,
    ...(gw === undefined ? {} : { gateway: decodeIp(family, gw) }),
    ...(oif === undefined ? {} : { oif }),
    ...(src === undefined ? {} : { prefSrc: decodeIp(family, src) }),
    ...(priority === undefined ? {} : { priority }),
    table: readU32(a.get(RTA_TABLE)) ?? payload.readUInt8(4),
    protocol: payload.readUInt8(5),
    scope: payload.readUInt8(6),
    type: payload.readUInt8(7),
  };
}

// ---- generic netlink ----------------------------------------------------------------------

/** struct genlmsghdr: u8 cmd, u8 version, u16 reserved. */
export function encodeGenlHeader(cmd: number, version: number): Buffer {
  const b = Buffer.alloc(GENL_HDRLEN);
  b.writeUInt8(cmd, 0);
  b.writeUInt8(version, 1);
  return b;
}

/** A generic netlink request: nlmsg_type is the family id, the payload genlmsghdr + attributes. */
export function buildGenlRequest(familyId: number, cmd: number, version: number, attrs: readonly NlAttrSpec[], flags: number, describe: string): NetlinkRequest {
  return { type: familyId, flags, payload: Buffer.concat([encodeGenlHeader(cmd, version), encodeAttrs(attrs)]), describe };
}

export interface GenlMessage {
  readonly cmd: number;
  readonly version: number;
  /** The attributes after the genlmsghdr (and after a family header, when the family has one). */
  readonly attrs: Buffer;
}

export function parseGenl(payload: Buffer, familyHeaderLength = 0): GenlMessage {
  if (payload.length < GENL_HDRLEN + familyHeaderLength) throw new NetlinkDecodeError(`generic netlink message of ${payload.length} bytes`);
  return { cmd: payload.readUInt8(0), version: payload.readUInt8(1), attrs: payload.subarray(GENL_HDRLEN + familyHeaderLength) };
}

/** CTRL_CMD_GETFAMILY by name (controller version 1, as genl-ctrl-list and ipvsadm send). */
export function buildGetFamily(name: string): NetlinkRequest {
  return buildGenlRequest(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, [attrString(CTRL_ATTR_FAMILY_NAME, name)], NLM_F_REQUEST | NLM_F_ACK, `CTRL_CMD_GETFAMILY ${name}`);
}

export interface GenlFamily {
  readonly id: number;
  readonly name: string;
  readonly version: number;
  readonly hdrSize: number;
  readonly maxAttr: number;
  /** Multicast groups by name (for a future event subscription). */
  readonly mcastGroups: Readonly<Record<string, number>>;
}

/** Parses CTRL_CMD_NEWFAMILY. */
export function parseFamily(payload: Buffer): GenlFamily {
  const a = attrMap(parseGenl(payload).attrs);
  const id = readU16(a.get(CTRL_ATTR_FAMILY_ID));
  const name = readString(a.get(CTRL_ATTR_FAMILY_NAME));
  if (id === undefined || name === undefined) throw new NetlinkDecodeError('CTRL_CMD_NEWFAMILY without FAMILY_ID or FAMILY_NAME');
  const mcastGroups: Record<string, number> = {};
  const groups = a.get(CTRL_ATTR_MCAST_GROUPS);
  if (groups !== undefined) {
    for (const g of decodeAttrs(groups)) {
      const ga = attrMap(g.value);
      const gname = readString(ga.get(CTRL_ATTR_MCAST_GRP_NAME));
      const gid = readU32(ga.get(CTRL_ATTR_MCAST_GRP_ID));
      if (gname !== undefined && gid !== undefined) mcastGroups[gname] = gid;
    }
  }
  return {
    id,
    name,
    version: readU32(a.get(CTRL_ATTR_VERSION)) ?? 0,
    hdrSize: readU32(a.get(CTRL_ATTR_HDRSIZE)) ?? 0,
    maxAttr: readU32(a.get(CTRL_ATTR_MAXATTR)) ?? 0,
    mcastGroups,
  };
}
