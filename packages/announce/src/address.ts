/**
 * Address codecs for the frames: MAC text <-> 6 bytes, IPv4/IPv6 text <-> 4/16 bytes, and which
 * VIPs can be announced at all. Pure; errors are AnnounceError E_ANNOUNCE_ADDRESS.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { AF_INET, AF_INET6, decodeIp, encodeIp } from '@shoal/netlink';
import { AnnounceError } from './errors.js';

/** `02:00:5e:00:00:01` (also `-` separated, any case) or 6 bytes -> 6 bytes. */
export function macBytes(mac: Uint8Array | string): Buffer {
  if (typeof mac !== 'string') {
    if (mac.length !== 6) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `a MAC address is 6 bytes, got ${mac.length}`);
    return Buffer.from(mac);
  }
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(mac)) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(/[:-]/).map((h) => parseInt(h, 16)));
}

/** Lower-case, colon-separated, as `ip link` prints it. */
export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function ipv4Bytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `not an IPv4 address: ${JSON.stringify(ip)}`);
  return encodeIp(ip);
}

export function ipv6Bytes(ip: string): Buffer {
  // A zone index (`fe80::1%eth0`) names an interface, which the caller gives separately.
  if (!isIPv6(ip) || ip.includes('%')) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `not an IPv6 address: ${JSON.stringify(ip)}`);
  return encodeIp(ip);
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function formatIpv4(bytes: Uint8Array): string {
  return decodeIp(AF_INET, asBuffer(bytes));
}

/** RFC 5952 text (netlink's decoder, which formats with the model's formatIp). */
export function formatIpv6(bytes: Uint8Array): string {
  return decodeIp(AF_INET6, asBuffer(bytes));
}

/**
 * The family of a VIP that can be announced: a unicast address. Multicast, broadcast and the
 * unspecified address never belong to one host, and a neighbour cache does not hold them.
 */
export function vipFamily(vip: string): 4 | 6 {
  if (isIPv4(vip)) {
    const b = ipv4Bytes(vip);
    const first = b[0] ?? 0;
    if (first === 0 || first >= 224 || vip === '255.255.255.255') throw new AnnounceError('E_ANNOUNCE_ADDRESS', `${vip} is not a unicast IPv4 address`);
    if (first === 127) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `${vip} is a loopback address: it is never announced on a link`);
    return 4;
  }
  if (isIPv6(vip)) {
    const b = ipv6Bytes(vip);
    if (b[0] === 0xff || b.every((x) => x === 0)) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `${vip} is not a unicast IPv6 address`);
    if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) throw new AnnounceError('E_ANNOUNCE_ADDRESS', `${vip} is the loopback address: it is never announced on a link`);
    return 6;
  }
  throw new AnnounceError('E_ANNOUNCE_ADDRESS', `not an IP address: ${JSON.stringify(vip)}`);
}
