/**
 * IP addresses and prefixes as BGP carries them: canonical text (dotted quad; RFC 5952 for
 * IPv6, the same form `@shoal/model` keeps, so a VIP from the store and a prefix from the wire
 * compare as strings), the NLRI encoding of RFC 4271 4.3 (used unchanged for IPv6 by RFC 4760
 * 5), and the mapping between our address families and AFI/SAFI.
 *
 * The address bytes <-> text codec is `@shoal/model`'s (pure, shared with `@shoal/netlink`);
 * this module only adds BGP's error codes around it.
 */
import { ipFromBytes, ipToBytes } from '@shoal/model';

import { BgpError } from './errors.js';
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST, type AddressFamily, type Prefix } from './messages.js';
import type { MalformedError, WireWriter } from './wire.js';
import { WireReader } from './wire.js';

export type PrefixFamily = Prefix['family'];

/** SAFI 2 (multicast) uses the same NLRI encoding as unicast (RFC 4760 5), so we can read it. */
export const SAFI_MULTICAST = 2;

/** Address bits per family. */
export function addressBits(family: PrefixFamily): number {
  return family === 'ipv4' ? 32 : 128;
}

// ---- addresses ----------------------------------------------------------------------------

/**
 * The 4- or 16-byte network-order form of an address, or undefined when the text is not one
 * (a zone id, fe80::1%eth0, names an interface, not an address BGP can carry).
 */
export function encodeAddress(text: string): Uint8Array | undefined {
  return ipToBytes(text) ?? undefined;
}

/** Canonical text of a 4- or 16-byte address: dotted quad, or RFC 5952 4 for IPv6. */
export function formatAddress(bytes: Uint8Array): string {
  const text = ipFromBytes(bytes);
  if (text === null) throw new BgpError('E_BGP_ENCODE', `an address has 4 or 16 bytes, not ${bytes.length}`);
  return text;
}

/** The canonical text of an address, or undefined when the text is not an address. */
export function canonicalAddress(text: string): string | undefined {
  const bytes = encodeAddress(text);
  return bytes === undefined ? undefined : formatAddress(bytes);
}

// ---- prefixes -----------------------------------------------------------------------------

/**
 * `10.96.0.10/32` or `fd00:96::10/128` -> Prefix with the canonical address. Throws
 * `E_BGP_CONFIG` (the message says why) for a missing or bad length, a bad address, or host
 * bits set beyond the length: `10.0.0.1/8` is almost always a typo, so we refuse it rather
 * than mask it.
 */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new BgpError('E_BGP_CONFIG', `prefix "${text}" has no /length`);
  const bytes = encodeAddress(text.slice(0, slash));
  if (bytes === undefined) throw new BgpError('E_BGP_CONFIG', `prefix "${text}": "${text.slice(0, slash)}" is not an IP address`);
  const family: PrefixFamily = bytes.length === 4 ? 'ipv4' : 'ipv6';
  const lengthText = text.slice(slash + 1);
  const length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(length >= 0 && length <= addressBits(family))) {
    throw new BgpError('E_BGP_CONFIG', `prefix "${text}": length must be 0..${addressBits(family)}`);
  }
  const network = maskAddress(bytes, length);
  if (!sameBytes(network, bytes)) {
    throw new BgpError('E_BGP_CONFIG', `prefix "${text}" has host bits set (the network is ${formatAddress(network)}/${length})`);
  }
  return { family, address: formatAddress(network), length };
}

/** The host prefix (/32 or /128) of one address: how a VIP is announced. Throws `E_BGP_CONFIG`. */
export function hostPrefix(address: string): Prefix {
  const bytes = encodeAddress(address);
  if (bytes === undefined) throw new BgpError('E_BGP_CONFIG', `"${address}" is not an IP address`);
  const family: PrefixFamily = bytes.length === 4 ? 'ipv4' : 'ipv6';
  return { family, address: formatAddress(bytes), length: addressBits(family) };
}

export function formatPrefix(prefix: Prefix): string {
  return `${prefix.address}/${prefix.length}`;
}

// ---- address families ---------------------------------------------------------------------

/** RFC 4760 AFI/SAFI of one of our address families. */
export function afiSafiOf(family: AddressFamily): { readonly afi: number; readonly safi: number } {
  return family === 'ipv4-unicast' ? { afi: AFI_IPV4, safi: SAFI_UNICAST } : { afi: AFI_IPV6, safi: SAFI_UNICAST };
}

/** The address family an AFI/SAFI pair names, or undefined when it is not one we speak. */
export function addressFamilyOf(afi: number, safi: number): AddressFamily | undefined {
  if (safi !== SAFI_UNICAST) return undefined;
  if (afi === AFI_IPV4) return 'ipv4-unicast';
  if (afi === AFI_IPV6) return 'ipv6-unicast';
  return undefined;
}

/** The prefix family whose NLRI an AFI carries (any SAFI using the RFC 4271 encoding). */
export function prefixFamilyOfAfi(afi: number): PrefixFamily | undefined {
  if (afi === AFI_IPV4) return 'ipv4';
  if (afi === AFI_IPV6) return 'ipv6';
  return undefined;
}

export function prefixFamilyOf(family: AddressFamily): PrefixFamily {
  return family === 'ipv4-unicast' ? 'ipv4' : 'ipv6';
}

// ---- NLRI (RFC 4271 4.3) --------------------------------------------------------------------

/** Bytes one prefix takes in an NLRI field: the length octet and the minimal address octets. */
export function nlriBytes(prefix: Prefix): number {
  return 1 + Math.ceil(prefix.length / 8);
}

/**
 * Writes `prefixes` as RFC 4271 4.3 <length, prefix> pairs. Throws `E_BGP_ENCODE` for a prefix
 * of another family, a bad address or length, or host bits set (the wire would silently
 * announce a different prefix).
 */
export function encodeNlri(out: WireWriter, prefixes: readonly Prefix[], family: PrefixFamily): void {
  for (const prefix of prefixes) {
    const bytes = prefix.family === family ? encodeAddress(prefix.address) : undefined;
    if (bytes?.length !== addressBits(family) / 8) {
      throw new BgpError('E_BGP_ENCODE', `NLRI: ${formatPrefix(prefix)} is not an ${family} prefix`);
    }
    if (!Number.isInteger(prefix.length) || prefix.length < 0 || prefix.length > addressBits(family)) {
      throw new BgpError('E_BGP_ENCODE', `NLRI: ${formatPrefix(prefix)} has a bad length`);
    }
    if (!sameBytes(maskAddress(bytes, prefix.length), bytes)) {
      throw new BgpError('E_BGP_ENCODE', `NLRI: ${formatPrefix(prefix)} has host bits set`);
    }
    out.u8(prefix.length, 'NLRI prefix length');
    out.bytes(bytes.subarray(0, Math.ceil(prefix.length / 8)));
  }
}

/**
 * Reads a whole NLRI field. A length beyond the family's bits or a prefix overrunning the
 * field is malformed (RFC 7606 5.3): `malformed` builds the error (which NOTIFICATION depends
 * on where the field sits). Trailing bits past the length are irrelevant (RFC 4271 4.3) and
 * are cleared, so every decoded prefix is canonical.
 */
export function decodeNlri(field: Uint8Array, family: PrefixFamily, malformed: MalformedError): Prefix[] {
  const reader = new WireReader(field, malformed);
  const maxBits = addressBits(family);
  const prefixes: Prefix[] = [];
  while (reader.remaining > 0) {
    const length = reader.u8('NLRI prefix length');
    if (length > maxBits) throw malformed(`NLRI prefix length ${length} exceeds ${maxBits}`);
    const octets = reader.bytes(Math.ceil(length / 8), `NLRI /${length} prefix`);
    const address = new Uint8Array(maxBits / 8);
    address.set(octets);
    prefixes.push({ family, address: formatAddress(maskAddress(address, length)), length });
  }
  return prefixes;
}

function maskAddress(bytes: Uint8Array, length: number): Uint8Array {
  const masked = new Uint8Array(bytes);
  for (let i = 0; i < masked.length; i++) {
    const keep = Math.min(8, Math.max(0, length - i * 8));
    masked[i] = (masked[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return masked;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
