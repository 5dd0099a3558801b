/**
 * The frames a new VIP owner puts on the wire, built byte by byte (no I/O), and parsers that
 * check every field a receiver checks. Layouts: recipe l2-vrrp-garp.md, "Sending GARP /
 * unsolicited NA from Node.js 20"; RFC 826 (ARP), RFC 5227 (ARP announcements), RFC 4861 4.4
 * and 7.2.6 (unsolicited neighbour advertisements), RFC 4443 2.3 (ICMPv6 checksum).
 */
import { formatIpv4, formatIpv6, formatMac, ipv4Bytes, ipv6Bytes, macBytes } from './address.js';
import { AnnounceError } from './errors.js';

export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
/** 14 Ethernet + 28 ARP. NICs pad it to 60 on the wire; veth and bridges do not. */
export const ARP_FRAME_BYTES = 42;
/** 14 Ethernet + 40 IPv6 + 24 NA + 8 target link-layer address option. */
export const NA_FRAME_BYTES = 86;

const ETH_HEADER_BYTES = 14;
const IPV6_HEADER_BYTES = 40;
const NA_BYTES = 24; // type, code, checksum, flags + reserved, target
const IPPROTO_ICMPV6 = 58;
const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
const ND_OPT_TARGET_LINKADDR = 2;
/** RFC 4861 4.4 flag bits in the first byte after the checksum. */
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_SOLICITED = 0x40;
const NA_FLAG_OVERRIDE = 0x20;
/** RFC 4861 7.1.2: a receiver drops ND messages whose hop limit is not 255 (not from off-link). */
const ND_HOP_LIMIT = 255;

const BROADCAST_MAC = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** ff02::1 (all nodes) and its Ethernet mapping 33:33 + low 32 bits (RFC 2464 7). */
const ALL_NODES = Buffer.from('ff020000000000000000000000000001', 'hex');
const ALL_NODES_MAC = Buffer.from([0x33, 0x33, 0x00, 0x00, 0x00, 0x01]);

export type ArpOp = 'request' | 'reply';

/**
 * A gratuitous ARP for `ip` owned by `mac`: broadcast, sender IP = target IP = `ip`.
 *
 * - `request` is keepalived's (and FRR vrrpd's) form: who-has VIP tell VIP, target MAC
 *   ff:ff:ff:ff:ff:ff.
 * - `reply` is `arping -A`'s form: VIP is-at MAC, target MAC = sender MAC. Linux only treats a
 *   reply as gratuitous (and so lets it override an entry younger than `locktime`) when the
 *   target MAC equals the sender MAC (net/ipv4/arp.c, arp_is_garp()).
 */
export function gratuitousArp(op: ArpOp, mac: Uint8Array | string, ip: string): Buffer {
  const own = macBytes(mac);
  const vip = ipv4Bytes(ip);
  const f = Buffer.alloc(ARP_FRAME_BYTES);
  BROADCAST_MAC.copy(f, 0);
  own.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(1, 14); // htype: Ethernet
  f.writeUInt16BE(0x0800, 16); // ptype: IPv4
  f.writeUInt8(6, 18); // hlen
  f.writeUInt8(4, 19); // plen
  f.writeUInt16BE(op === 'request' ? 1 : 2, 20);
  own.copy(f, 22); // sender MAC
  vip.copy(f, 28); // sender IP
  (op === 'request' ? BROADCAST_MAC : own).copy(f, 32); // target MAC
  vip.copy(f, 38); // target IP
  return f;
}

/**
 * An unsolicited neighbour advertisement for `ip` owned by `mac` (RFC 4861 7.2.6): from the VIP
 * to ff02::1, hop limit 255, Override set (the entry must move to the new MAC), Solicited and
 * Router clear, with the target link-layer address option (which the receiver needs to update
 * the entry: 7.2.5).
 */
export function unsolicitedNeighborAdvertisement(mac: Uint8Array | string, ip: string): Buffer {
  const own = macBytes(mac);
  const vip = ipv6Bytes(ip);
  const f = Buffer.alloc(NA_FRAME_BYTES);
  ALL_NODES_MAC.copy(f, 0);
  own.copy(f, 6);
  f.writeUInt16BE(ETH_P_IPV6, 12);
  const ip6 = ETH_HEADER_BYTES;
  f.writeUInt32BE(0x6000_0000, ip6); // version 6, traffic class 0, flow label 0
  f.writeUInt16BE(NA_BYTES + 8, ip6 + 4); // payload length
  f.writeUInt8(IPPROTO_ICMPV6, ip6 + 6);
  f.writeUInt8(ND_HOP_LIMIT, ip6 + 7);
  vip.copy(f, ip6 + 8);
  ALL_NODES.copy(f, ip6 + 24);
  const icmp = ip6 + IPV6_HEADER_BYTES;
  f.writeUInt8(ICMPV6_NEIGHBOR_ADVERTISEMENT, icmp);
  f.writeUInt8(0, icmp + 1); // code
  f.writeUInt8(NA_FLAG_OVERRIDE, icmp + 4);
  vip.copy(f, icmp + 8); // target
  f.writeUInt8(ND_OPT_TARGET_LINKADDR, icmp + 24);
  f.writeUInt8(1, icmp + 25); // option length in units of 8 bytes
  own.copy(f, icmp + 26);
  f.writeUInt16BE(icmpv6Checksum(vip, ALL_NODES, f.subarray(icmp)), icmp + 2);
  return f;
}

/**
 * RFC 4443 2.3 / RFC 8200 8.1: the ones' complement of the ones' complement sum over the
 * pseudo-header (source, destination, upper-layer length as u32, 3 zero bytes, next header 58)
 * and the ICMPv6 message. Computing it over a message whose checksum field is already filled
 * in gives 0 when that checksum is right.
 */
export function icmpv6Checksum(source: Uint8Array, destination: Uint8Array, message: Uint8Array): number {
  let sum = 0;
  const add = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  };
  add(source.subarray(0, 16));
  add(destination.subarray(0, 16));
  sum += (message.length >>> 16) + (message.length & 0xffff) + IPPROTO_ICMPV6;
  add(message);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface ArpFrame {
  /** Ethernet destination and source. */
  readonly destination: string;
  readonly source: string;
  readonly op: ArpOp;
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
  /** Sender IP = target IP: an announcement of who owns senderIp (RFC 5227 3). */
  readonly gratuitous: boolean;
}

function decodeError(what: string, message: string): AnnounceError {
  return new AnnounceError('E_ANNOUNCE_DECODE', `${what}: ${message}`);
}

/** An Ethernet II frame carrying IPv4-over-Ethernet ARP; trailing padding is allowed. */
export function parseArp(frame: Uint8Array): ArpFrame {
  const f = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const fail = (m: string): never => {
    throw decodeError('ARP frame', m);
  };
  if (f.length < ARP_FRAME_BYTES) fail(`${f.length} bytes, need at least ${ARP_FRAME_BYTES}`);
  const ethertype = f.readUInt16BE(12);
  if (ethertype !== ETH_P_ARP) fail(`ethertype 0x${ethertype.toString(16)}, not 0x0806`);
  if (f.readUInt16BE(14) !== 1) fail(`hardware type ${f.readUInt16BE(14)}, not 1 (Ethernet)`);
  if (f.readUInt16BE(16) !== 0x0800) fail(`protocol type 0x${f.readUInt16BE(16).toString(16)}, not 0x0800 (IPv4)`);
  if (f.readUInt8(18) !== 6 || f.readUInt8(19) !== 4) fail(`address lengths ${f.readUInt8(18)}/${f.readUInt8(19)}, not 6/4`);
  const opcode = f.readUInt16BE(20);
  if (opcode !== 1 && opcode !== 2) fail(`operation ${opcode}, not 1 (request) or 2 (reply)`);
  const senderIp = formatIpv4(f.subarray(28, 32));
  const targetIp = formatIpv4(f.subarray(38, 42));
  return {
    destination: formatMac(f.subarray(0, 6)),
    source: formatMac(f.subarray(6, 12)),
    op: opcode === 1 ? 'request' : 'reply',
    senderMac: formatMac(f.subarray(22, 28)),
    senderIp,
    targetMac: formatMac(f.subarray(32, 38)),
    targetIp,
    gratuitous: senderIp === targetIp,
  };
}

export interface NeighborAdvertisementFrame {
  readonly destination: string;
  readonly source: string;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly hopLimit: number;
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
  readonly target: string;
  /** The target link-layer address option, if present. */
  readonly targetLinkLayerAddress: string | undefined;
}

/**
 * An Ethernet II frame carrying an IPv6 neighbour advertisement with no extension headers.
 * Checks what RFC 4861 7.1.2 has a receiver check (hop limit 255, code 0, ICMP length >= 24,
 * checksum, target not multicast, Solicited clear when sent to a multicast address, options of
 * non-zero length); trailing padding after the IPv6 payload is allowed.
 */
export function parseNeighborAdvertisement(frame: Uint8Array): NeighborAdvertisementFrame {
  const f = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const fail = (m: string): never => {
    throw decodeError('neighbour advertisement', m);
  };
  if (f.length < ETH_HEADER_BYTES + IPV6_HEADER_BYTES + NA_BYTES) fail(`${f.length} bytes, need at least ${ETH_HEADER_BYTES + IPV6_HEADER_BYTES + NA_BYTES}`);
  const ethertype = f.readUInt16BE(12);
  if (ethertype !== ETH_P_IPV6) fail(`ethertype 0x${ethertype.toString(16)}, not 0x86dd`);
  const ip6 = ETH_HEADER_BYTES;
  if (f.readUInt8(ip6) >> 4 !== 6) fail(`IP version ${f.readUInt8(ip6) >> 4}, not 6`);
  const payloadLength = f.readUInt16BE(ip6 + 4);
  if (f.readUInt8(ip6 + 6) !== IPPROTO_ICMPV6) fail(`next header ${f.readUInt8(ip6 + 6)}, not 58 (ICMPv6)`);
  const hopLimit = f.readUInt8(ip6 + 7);
  if (hopLimit !== ND_HOP_LIMIT) fail(`hop limit ${hopLimit}, not 255`);
  if (payloadLength < NA_BYTES) fail(`ICMPv6 length ${payloadLength}, need at least ${NA_BYTES}`);
  if (f.length < ETH_HEADER_BYTES + IPV6_HEADER_BYTES + payloadLength) fail(`payload length ${payloadLength} runs past the frame (${f.length} bytes)`);
  const src = f.subarray(ip6 + 8, ip6 + 24);
  const dst = f.subarray(ip6 + 24, ip6 + 40);
  const icmp = f.subarray(ip6 + IPV6_HEADER_BYTES, ip6 + IPV6_HEADER_BYTES + payloadLength);
  if (icmp.readUInt8(0) !== ICMPV6_NEIGHBOR_ADVERTISEMENT) fail(`ICMPv6 type ${icmp.readUInt8(0)}, not 136`);
  if (icmp.readUInt8(1) !== 0) fail(`ICMPv6 code ${icmp.readUInt8(1)}, not 0`);
  if (icmpv6Checksum(src, dst, icmp) !== 0) fail(`bad ICMPv6 checksum 0x${icmp.readUInt16BE(2).toString(16).padStart(4, '0')}`);
  const flags = icmp.readUInt8(4);
  const solicited = (flags & NA_FLAG_SOLICITED) !== 0;
  if (dst[0] === 0xff && solicited) fail('Solicited flag set on an advertisement to a multicast address');
  const target = icmp.subarray(8, 24);
  if (target[0] === 0xff) fail(`target ${formatIpv6(target)} is a multicast address`);
  let targetLinkLayerAddress: string | undefined;
  for (let at = NA_BYTES; at < icmp.length; ) {
    if (at + 2 > icmp.length) fail(`option header at ${at} runs past the message`);
    const type = icmp.readUInt8(at);
    const units = icmp.readUInt8(at + 1);
    if (units === 0) fail(`option ${type} at ${at} has length 0`);
    if (at + units * 8 > icmp.length) fail(`option ${type} at ${at} runs past the message`);
    if (type === ND_OPT_TARGET_LINKADDR) targetLinkLayerAddress = formatMac(icmp.subarray(at + 2, at + 8));
    at += units * 8;
  }
  return {
    destination: formatMac(f.subarray(0, 6)),
    source: formatMac(f.subarray(6, 12)),
    sourceIp: formatIpv6(src),
    destinationIp: formatIpv6(dst),
    hopLimit,
    router: (flags & NA_FLAG_ROUTER) !== 0,
    solicited,
    override: (flags & NA_FLAG_OVERRIDE) !== 0,
    target: formatIpv6(target),
    targetLinkLayerAddress,
  };
}
