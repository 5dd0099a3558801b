/**
 * IPVS generic netlink messages, pure: VirtualService / RealServer <-> the attribute sets of
 * linux/ip_vs.h, and the request of every command Shoal sends. Same layout as ipvsadm's
 * libipvs (16-byte addresses, ports in network order, flags with a full mask) except that
 * nests carry NLA_F_NESTED, which the kernel accepts either way.
 */
import type { ForwardingMethod, IpFamily, Protocol, Scheduler } from '@shoal/model';
import { SCHEDULERS } from '@shoal/model';
import type { RealServer, VirtualService } from '@shoal/dataplane';
import {
  AF_INET,
  AF_INET6,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  attrBe16,
  attrBytes,
  attrMap,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  buildGenlRequest,
  decodeIp,
  encodeIp,
  parseGenl,
  readBe16,
  readString,
  readU16,
  readU32,
  NetlinkDecodeError,
  type NetlinkRequest,
  type NlAttrSpec,
} from '@shoal/netlink';
import {
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPVS_CMD_ATTR_DEST,
  IPVS_CMD_ATTR_SERVICE,
  IPVS_CMD_DEL_DEST,
  IPVS_CMD_DEL_SERVICE,
  IPVS_CMD_FLUSH,
  IPVS_CMD_GET_DEST,
  IPVS_CMD_GET_SERVICE,
  IPVS_CMD_NEW_DEST,
  IPVS_CMD_NEW_SERVICE,
  IPVS_CMD_SET_DEST,
  IPVS_CMD_SET_SERVICE,
  IPVS_DEST_ATTR_ACTIVE_CONNS,
  IPVS_DEST_ATTR_ADDR,
  IPVS_DEST_ATTR_ADDR_FAMILY,
  IPVS_DEST_ATTR_FWD_METHOD,
  IPVS_DEST_ATTR_INACT_CONNS,
  IPVS_DEST_ATTR_L_THRESH,
  IPVS_DEST_ATTR_PORT,
  IPVS_DEST_ATTR_U_THRESH,
  IPVS_DEST_ATTR_WEIGHT,
  IPVS_GENL_VERSION,
  IPVS_SVC_ATTR_ADDR,
  IPVS_SVC_ATTR_AF,
  IPVS_SVC_ATTR_FLAGS,
  IPVS_SVC_ATTR_FWMARK,
  IPVS_SVC_ATTR_NETMASK,
  IPVS_SVC_ATTR_PORT,
  IPVS_SVC_ATTR_PROTOCOL,
  IPVS_SVC_ATTR_SCHED_NAME,
  IPVS_SVC_ATTR_TIMEOUT,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_FWD_MASK,
  IP_VS_CONN_F_LOCALNODE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_SVC_F_PERSISTENT,
} from './constants.js';

/** The identity and attributes of a service, without its real servers. */
export type ServiceSpec = Omit<VirtualService, 'servers'>;
export type ServiceId = Pick<VirtualService, 'protocol' | 'vip' | 'port' | 'family'>;

const PROTOCOL_NUMBERS: Readonly<Record<Protocol, number>> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };
const FORWARDING_BITS: Readonly<Record<ForwardingMethod, number>> = {
  nat: IP_VS_CONN_F_MASQ,
  local: IP_VS_CONN_F_LOCALNODE,
  tunnel: IP_VS_CONN_F_TUNNEL,
  dr: IP_VS_CONN_F_DROUTE,
};

export function afOf(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

/** 16 bytes (union nf_inet_addr), as the kernel dumps it and ipvsadm sends it. */
function inetAddr(ip: string): Buffer {
  const b = Buffer.alloc(16);
  encodeIp(ip).copy(b);
  return b;
}

/**
 * IPVS_SVC_ATTR_NETMASK: for IPv4 the mask itself in network order (/24 = ff ff ff 00), for
 * IPv6 the prefix length as a host-order u32 (ip_vs_ctl.c checks 1..128).
 */
export function netmaskAttr(family: IpFamily, prefixLength: number): NlAttrSpec {
  if (family === 6) return attrU32(IPVS_SVC_ATTR_NETMASK, prefixLength);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0);
  return attrBytes(IPVS_SVC_ATTR_NETMASK, b);
}

export function decodeNetmask(family: IpFamily, v: Buffer | undefined): number {
  if (v === undefined || v.length < 4) return family === 4 ? 32 : 128;
  if (family === 6) return v.readUInt32LE(0);
  let mask = v.readUInt32BE(0);
  let n = 0;
  while (n < 32 && (mask & 0x80000000) !== 0) {
    n++;
    mask = (mask << 1) >>> 0;
  }
  return n;
}

/** The attributes that name a service: AF, protocol, address, port. */
export function serviceIdAttrs(s: ServiceId): NlAttrSpec[] {
  return [attrU16(IPVS_SVC_ATTR_AF, afOf(s.family)), attrU16(IPVS_SVC_ATTR_PROTOCOL, PROTOCOL_NUMBERS[s.protocol]), attrBytes(IPVS_SVC_ATTR_ADDR, inetAddr(s.vip)), attrBe16(IPVS_SVC_ATTR_PORT, s.port)];
}

/** A full service entry (NEW/SET need scheduler, flags, timeout and netmask all present). */
export function serviceAttrs(s: ServiceSpec): NlAttrSpec[] {
  const persistent = s.persistenceTimeoutS > 0;
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(persistent ? IP_VS_SVC_F_PERSISTENT : 0, 0);
  flags.writeUInt32LE(0xffffffff, 4); // mask: every flag is ours to set, as ipvsadm does
  const full = s.family === 4 ? 32 : 128;
  return [
    ...serviceIdAttrs(s),
    attrString(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler),
    attrBytes(IPVS_SVC_ATTR_FLAGS, flags),
    attrU32(IPVS_SVC_ATTR_TIMEOUT, persistent ? s.persistenceTimeoutS : 0),
    netmaskAttr(s.family, s.persistenceNetmask ?? full),
  ];
}

/** IPVS_DEST_ATTR_*: full entries for NEW/SET, address + port for DEL. */
export function destAttrs(family: IpFamily, r: RealServer | Pick<RealServer, 'ip' | 'port'>, full: boolean): NlAttrSpec[] {
  const id = [attrBytes(IPVS_DEST_ATTR_ADDR, inetAddr(r.ip)), attrBe16(IPVS_DEST_ATTR_PORT, r.port), attrU16(IPVS_DEST_ATTR_ADDR_FAMILY, afOf(family))];
  if (!full || !('weight' in r)) return id;
  return [
    ...id,
    attrU32(IPVS_DEST_ATTR_FWD_METHOD, FORWARDING_BITS[r.forwarding]),
    attrU32(IPVS_DEST_ATTR_WEIGHT, r.weight),
    attrU32(IPVS_DEST_ATTR_U_THRESH, 0),
    attrU32(IPVS_DEST_ATTR_L_THRESH, 0),
  ];
}

// ---- requests -----------------------------------------------------------------------------

const ACKED = NLM_F_REQUEST | NLM_F_ACK;
const describeService = (s: ServiceId): string => `${s.protocol} ${s.family === 6 ? `[${s.vip}]` : s.vip}:${s.port}`;
const describeServer = (r: Pick<RealServer, 'ip' | 'port'>): string => `${r.ip.includes(':') ? `[${r.ip}]` : r.ip}:${r.port}`;

export function buildNewService(familyId: number, s: ServiceSpec): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_NEW_SERVICE, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceAttrs(s))], ACKED, `IPVS_CMD_NEW_SERVICE ${describeService(s)}`);
}
export function buildSetService(familyId: number, s: ServiceSpec): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_SET_SERVICE, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceAttrs(s))], ACKED, `IPVS_CMD_SET_SERVICE ${describeService(s)}`);
}
export function buildDelService(familyId: number, s: ServiceId): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_DEL_SERVICE, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceIdAttrs(s))], ACKED, `IPVS_CMD_DEL_SERVICE ${describeService(s)}`);
}
export function buildGetServices(familyId: number): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_GET_SERVICE, IPVS_GENL_VERSION, [], ACKED | NLM_F_DUMP, 'IPVS_CMD_GET_SERVICE dump');
}
export function buildNewDest(familyId: number, s: ServiceId, r: RealServer): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_NEW_DEST, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceIdAttrs(s)), attrNested(IPVS_CMD_ATTR_DEST, destAttrs(s.family, r, true))], ACKED, `IPVS_CMD_NEW_DEST ${describeService(s)} -> ${describeServer(r)}`);
}
export function buildSetDest(familyId: number, s: ServiceId, r: RealServer): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_SET_DEST, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceIdAttrs(s)), attrNested(IPVS_CMD_ATTR_DEST, destAttrs(s.family, r, true))], ACKED, `IPVS_CMD_SET_DEST ${describeService(s)} -> ${describeServer(r)}`);
}
export function buildDelDest(familyId: number, s: ServiceId, r: Pick<RealServer, 'ip' | 'port'>): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_DEL_DEST, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceIdAttrs(s)), attrNested(IPVS_CMD_ATTR_DEST, destAttrs(s.family, r, false))], ACKED, `IPVS_CMD_DEL_DEST ${describeService(s)} -> ${describeServer(r)}`);
}
export function buildGetDests(familyId: number, s: ServiceId): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_GET_DEST, IPVS_GENL_VERSION, [attrNested(IPVS_CMD_ATTR_SERVICE, serviceIdAttrs(s))], ACKED | NLM_F_DUMP, `IPVS_CMD_GET_DEST ${describeService(s)} dump`);
}
/** Empties the whole IPVS table, other owners' services included: only when told it is all Shoal's. */
export function buildFlush(familyId: number): NetlinkRequest {
  return buildGenlRequest(familyId, IPVS_CMD_FLUSH, IPVS_GENL_VERSION, [], ACKED, 'IPVS_CMD_FLUSH');
}

// ---- replies ------------------------------------------------------------------------------

/** A service as the kernel reports it; anything IPVS can hold, not only what Shoal makes. */
export interface IpvsServiceEntry {
  readonly family: IpFamily;
  /** tcp/udp by name; any other protocol (sctp 132, ...) by number. */
  readonly protocol: Protocol | number;
  /** Address-based services; absent for firewall-mark services. */
  readonly vip?: string;
  readonly port?: number;
  readonly fwmark?: number;
  readonly scheduler: string;
  /** IP_VS_SVC_F_* as reported (HASHED included). */
  readonly flags: number;
  readonly timeoutS: number;
  /** Prefix length (converted from IPv4's mask). */
  readonly netmask: number;
}

export interface IpvsDestEntry {
  readonly ip: string;
  readonly port: number;
  readonly forwarding: ForwardingMethod | 'bypass';
  readonly weight: number;
  readonly activeConns: number;
  readonly inactiveConns: number;
}

function familyOfAf(af: number | undefined): IpFamily {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  throw new NetlinkDecodeError(`IPVS: address family ${String(af)}`);
}

/** Parses the attributes nested in IPVS_CMD_ATTR_SERVICE. */
export function decodeServiceAttrs(buf: Buffer): IpvsServiceEntry {
  const a = attrMap(buf);
  const family = familyOfAf(readU16(a.get(IPVS_SVC_ATTR_AF)));
  const protoNum = readU16(a.get(IPVS_SVC_ATTR_PROTOCOL)) ?? 0;
  const protocol: Protocol | number = protoNum === IPPROTO_TCP ? 'tcp' : protoNum === IPPROTO_UDP ? 'udp' : protoNum === IPPROTO_SCTP ? IPPROTO_SCTP : protoNum;
  const addr = a.get(IPVS_SVC_ATTR_ADDR);
  const port = readBe16(a.get(IPVS_SVC_ATTR_PORT));
  const fwmark = readU32(a.get(IPVS_SVC_ATTR_FWMARK));
  const flagsBuf = a.get(IPVS_SVC_ATTR_FLAGS);
  return {
    family,
    protocol,
    ...(fwmark !== undefined && fwmark !== 0 ? { fwmark } : { ...(addr === undefined ? {} : { vip: decodeIp(afOf(family), addr) }), ...(port === undefined ? {} : { port }) }),
    scheduler: readString(a.get(IPVS_SVC_ATTR_SCHED_NAME)) ?? '',
    flags: flagsBuf !== undefined && flagsBuf.length >= 4 ? flagsBuf.readUInt32LE(0) : 0,
    timeoutS: readU32(a.get(IPVS_SVC_ATTR_TIMEOUT)) ?? 0,
    netmask: decodeNetmask(family, a.get(IPVS_SVC_ATTR_NETMASK)),
  };
}

/** Parses the attributes nested in IPVS_CMD_ATTR_DEST; `family` is the service's (ADDR_FAMILY wins). */
export function decodeDestAttrs(buf: Buffer, family: IpFamily): IpvsDestEntry & { readonly family: IpFamily } {
  const a = attrMap(buf);
  const fam = a.has(IPVS_DEST_ATTR_ADDR_FAMILY) ? familyOfAf(readU16(a.get(IPVS_DEST_ATTR_ADDR_FAMILY))) : family;
  const addr = a.get(IPVS_DEST_ATTR_ADDR);
  if (addr === undefined) throw new NetlinkDecodeError('IPVS destination without an address');
  const fwd = (readU32(a.get(IPVS_DEST_ATTR_FWD_METHOD)) ?? 0) & IP_VS_CONN_F_FWD_MASK;
  const forwarding: ForwardingMethod | 'bypass' = fwd === IP_VS_CONN_F_MASQ ? 'nat' : fwd === IP_VS_CONN_F_LOCALNODE ? 'local' : fwd === IP_VS_CONN_F_TUNNEL ? 'tunnel' : fwd === IP_VS_CONN_F_DROUTE ? 'dr' : 'bypass';
  return {
    family: fam,
    ip: decodeIp(afOf(fam), addr),
    port: readBe16(a.get(IPVS_DEST_ATTR_PORT)) ?? 0,
    forwarding,
    weight: readU32(a.get(IPVS_DEST_ATTR_WEIGHT)) ?? 0,
    activeConns: readU32(a.get(IPVS_DEST_ATTR_ACTIVE_CONNS)) ?? 0,
    inactiveConns: readU32(a.get(IPVS_DEST_ATTR_INACT_CONNS)) ?? 0,
  };
}

/** The nested attribute `type` of a genl message payload (IPVS has no family header). */
export function nestedOf(payload: Buffer, type: number): Buffer | undefined {
  return attrMap(parseGenl(payload).attrs).get(type);
}

export function isScheduler(name: string): name is Scheduler {
  return (SCHEDULERS as readonly string[]).includes(name);
}

/**
 * A kernel entry as Shoal's VirtualService, or null when it is not one Shoal could have made
 * (firewall mark, SCTP, a scheduler or forwarding Shoal does not model).
 */
export function toVirtualService(e: IpvsServiceEntry, dests: readonly IpvsDestEntry[]): VirtualService | null {
  if (e.vip === undefined || e.port === undefined || typeof e.protocol === 'number' || !isScheduler(e.scheduler)) return null;
  const persistent = (e.flags & IP_VS_SVC_F_PERSISTENT) !== 0;
  const full = e.family === 4 ? 32 : 128;
  const servers: RealServer[] = [];
  for (const d of dests) {
    if (d.forwarding === 'bypass') return null;
    servers.push({ ip: d.ip, port: d.port, weight: d.weight, forwarding: d.forwarding });
  }
  return {
    protocol: e.protocol,
    vip: e.vip,
    port: e.port,
    family: e.family,
    scheduler: e.scheduler,
    persistenceTimeoutS: persistent ? e.timeoutS : 0,
    ...(e.netmask === full ? {} : { persistenceNetmask: e.netmask }),
    servers,
  };
}
