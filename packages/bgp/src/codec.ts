/**
 * BGP-4 messages <-> bytes (RFC 4271 4, RFC 2918 3, RFC 7313 3), with the error handling of
 * RFC 4271 6.1-6.3 and RFC 7606. Pure: no I/O, no clock, no logger.
 *
 * Encoding writes whatever the wire can carry (a test peer may send a hold time of 1 or a
 * malformed attribute on purpose) and throws `E_BGP_ENCODE` only for values that do not fit
 * their field or a message over 4096 bytes. Decoding enforces the protocol and throws nothing
 * but BgpProtocolError, which carries the NOTIFICATION to send.
 */
import { decodePathAttributes, encodePathAttributes, ipv4Bytes } from './attributes.js';
import { decodeOptionalParameters, encodeOptionalParameters } from './capabilities.js';
import { BgpError, BgpProtocolError } from './errors.js';
import { checkHeader, lengthField } from './framer.js';
import {
  AS_TRANS,
  ERROR_CODE,
  HEADER_BYTES,
  HEADER_SUBCODE,
  MAX_MESSAGE_BYTES,
  MESSAGE_TYPE,
  OPEN_SUBCODE,
  UPDATE_SUBCODE,
  type AddressFamily,
  type BgpMessage,
  type CodecContext,
  type OpenMessage,
  type PathAttributes,
  type Prefix,
  type UpdateAttributeError,
  type UpdateMessage,
} from './messages.js';
import { addressFamilyOf, afiSafiOf, decodeNlri, encodeAddress, encodeNlri, formatAddress, nlriBytes, prefixFamilyOf } from './prefix.js';
import { copyBytes, WireReader, WireWriter } from './wire.js';

/** The only BGP version we speak (RFC 4271 4.2). */
export const BGP_VERSION = 4;

/** RFC 7313 5: ROUTE-REFRESH Message Error subcode for a message of the wrong length. */
export const ROUTE_REFRESH_SUBCODE_INVALID_MESSAGE_LENGTH = 1;

const ROUTE_REFRESH_BODY_BYTES = 4;
/** Withdrawn Routes Length and Total Path Attribute Length (RFC 4271 4.3). */
const UPDATE_FIXED_BYTES = 4;

// ---- encoding -------------------------------------------------------------------------------

/**
 * One message, header included. Throws BgpError `E_BGP_ENCODE` for a value that does not fit
 * its field (ASN, hold time, community, a prefix with host bits set...) or a message longer
 * than 4096 bytes (RFC 4271 4.1).
 */
export function encodeMessage(message: BgpMessage, ctx: CodecContext): Buffer {
  const out = new WireWriter();
  out.bytes(new Uint8Array(16).fill(0xff));
  out.u16(0, 'length');
  switch (message.type) {
    case 'open':
      out.u8(MESSAGE_TYPE.open, 'type');
      encodeOpen(out, message);
      break;
    case 'update':
      out.u8(MESSAGE_TYPE.update, 'type');
      encodeUpdate(out, message, ctx);
      break;
    case 'notification':
      out.u8(MESSAGE_TYPE.notification, 'type');
      out.u8(message.code, 'NOTIFICATION error code').u8(message.subcode, 'NOTIFICATION error subcode').bytes(message.data);
      break;
    case 'keepalive':
      out.u8(MESSAGE_TYPE.keepalive, 'type');
      break;
    case 'route-refresh':
      out.u8(MESSAGE_TYPE.routeRefresh, 'type');
      // RFC 2918 3 / RFC 7313 3: AFI, Message Subtype (was Reserved), SAFI.
      out.u16(message.afi, 'ROUTE-REFRESH AFI').u8(message.subtype, 'ROUTE-REFRESH subtype').u8(message.safi, 'ROUTE-REFRESH SAFI');
      break;
  }
  if (out.length > MAX_MESSAGE_BYTES) {
    throw new BgpError('E_BGP_ENCODE', `${message.type} message of ${out.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  out.setU16(16, out.length, 'length');
  const bytes = out.toBytes();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function encodeOpen(out: WireWriter, open: OpenMessage): void {
  const fourOctet = open.capabilities.find((capability) => capability.kind === 'four-octet-as');
  // RFC 6793 4.1: My AS carries AS_TRANS when the AS does not fit; only the capability then
  // says what it is, so an OPEN without one would announce the wrong AS.
  if (open.asn > 0xffff && fourOctet === undefined) {
    throw new BgpError('E_BGP_ENCODE', `OPEN: AS ${String(open.asn)} needs the four-octet-as capability`);
  }
  new WireWriter().u32(open.asn, 'OPEN AS number');
  out.u8(open.version, 'OPEN version');
  out.u16(open.asn > 0xffff ? AS_TRANS : open.asn, 'OPEN My AS');
  out.u16(open.holdTimeS, 'OPEN hold time');
  out.bytes(ipv4Bytes(open.bgpId, 'OPEN BGP Identifier'));
  encodeOptionalParameters(out, open.capabilities);
}

function encodeUpdate(out: WireWriter, update: UpdateMessage, ctx: CodecContext): void {
  const withdrawn = new WireWriter();
  encodeNlri(withdrawn, update.withdrawn, 'ipv4');
  const attributes = new WireWriter();
  encodePathAttributes(attributes, update.attributes, ctx);
  out.u16(withdrawn.length, 'Withdrawn Routes Length').bytes(withdrawn.toBytes());
  out.u16(attributes.length, 'Total Path Attribute Length').bytes(attributes.toBytes());
  encodeNlri(out, update.nlri, 'ipv4');
}

// ---- decoding -------------------------------------------------------------------------------

/**
 * One complete message, header included (what MessageFramer returns). Throws BgpProtocolError
 * with the NOTIFICATION the RFCs prescribe, and nothing else, whatever the bytes.
 */
export function decodeMessage(frame: Uint8Array, ctx: CodecContext): BgpMessage {
  const { length, type } = checkHeader(frame);
  if (length !== frame.length) {
    throw new BgpProtocolError(
      ERROR_CODE.messageHeader,
      HEADER_SUBCODE.badMessageLength,
      `header says ${length} bytes, the frame has ${frame.length}`,
      lengthField(frame),
    );
  }
  const body = frame.subarray(HEADER_BYTES);
  switch (type) {
    case MESSAGE_TYPE.open:
      return decodeOpen(body);
    case MESSAGE_TYPE.update:
      return decodeUpdate(body, ctx);
    case MESSAGE_TYPE.notification:
      // The header check guarantees the code and subcode octets.
      return { type: 'notification', code: body[0] ?? 0, subcode: body[1] ?? 0, data: copyBytes(body.subarray(2)) };
    case MESSAGE_TYPE.keepalive:
      return { type: 'keepalive' };
    default: {
      // MESSAGE_TYPE.routeRefresh: checkHeader lets no other type through.
      if (body.length !== ROUTE_REFRESH_BODY_BYTES) {
        // RFC 7313 5: the Data field is the complete ROUTE-REFRESH message.
        throw new BgpProtocolError(
          ERROR_CODE.routeRefresh,
          ROUTE_REFRESH_SUBCODE_INVALID_MESSAGE_LENGTH,
          `ROUTE-REFRESH of ${frame.length} bytes (must be 23)`,
          copyBytes(frame),
        );
      }
      const reader = new WireReader(body, unreachable);
      const afi = reader.u16('AFI');
      const subtype = reader.u8('subtype');
      return { type: 'route-refresh', afi, subtype, safi: reader.u8('SAFI') };
    }
  }
}

/** For readers whose bounds an earlier length check already guarantees. */
function unreachable(reason: string): BgpProtocolError {
  return new BgpProtocolError(ERROR_CODE.messageHeader, HEADER_SUBCODE.badMessageLength, `internal length check missed: ${reason}`);
}

function openError(subcode: number, reason: string, data?: Uint8Array): BgpProtocolError {
  return new BgpProtocolError(ERROR_CODE.openMessage, subcode, `OPEN: ${reason}`, data);
}

/** RFC 4271 4.2 and 6.2 (with RFC 6286 and RFC 7607 on the identifier and AS 0). */
function decodeOpen(body: Uint8Array): OpenMessage {
  // The header check guarantees the 10 fixed octets.
  const reader = new WireReader(body, unreachable);
  const version = reader.u8('version');
  if (version !== BGP_VERSION) {
    // RFC 4271 6.2: Data is the largest supported version below the bid, else the smallest: 4.
    throw openError(OPEN_SUBCODE.unsupportedVersion, `version ${version} is not supported`, Uint8Array.of(0, BGP_VERSION));
  }
  const myAs = reader.u16('My AS');
  const holdTimeS = reader.u16('Hold Time');
  if (holdTimeS === 1 || holdTimeS === 2) {
    throw openError(OPEN_SUBCODE.unacceptableHoldTime, `hold time ${holdTimeS} s (RFC 4271 4.2: 0 or at least 3)`);
  }
  const idBytes = reader.bytes(4, 'BGP Identifier');
  const bgpId = formatAddress(idBytes);
  const firstOctet = idBytes[0] ?? 0;
  if (idBytes.every((byte) => byte === 0) || (firstOctet & 0xf0) === 0xe0) {
    throw openError(OPEN_SUBCODE.badBgpIdentifier, `BGP Identifier ${bgpId} is zero or multicast`);
  }
  const capabilities = decodeOptionalParameters(body.subarray(reader.offset));
  const fourOctet = capabilities.find((capability) => capability.kind === 'four-octet-as');
  const asn = fourOctet?.asn ?? myAs;
  if (asn === 0) throw openError(OPEN_SUBCODE.badPeerAs, 'AS 0 (RFC 7607 2)');
  return { type: 'open', version, asn, holdTimeS, bgpId, capabilities };
}

function updateError(subcode: number, reason: string): BgpProtocolError {
  return new BgpProtocolError(ERROR_CODE.updateMessage, subcode, `UPDATE: ${reason}`);
}

/** RFC 4271 4.3 and 6.3 as revised by RFC 7606. */
function decodeUpdate(body: Uint8Array, ctx: CodecContext): UpdateMessage {
  // RFC 4271 6.3 / RFC 7606 3(a): lengths that overrun the message -> Malformed Attribute List.
  const reader = new WireReader(body, (reason) => updateError(UPDATE_SUBCODE.malformedAttributeList, reason));
  const withdrawnLength = reader.u16('Withdrawn Routes Length');
  if (withdrawnLength + UPDATE_FIXED_BYTES > body.length) {
    throw updateError(UPDATE_SUBCODE.malformedAttributeList, `Withdrawn Routes Length ${withdrawnLength} overruns the message`);
  }
  const withdrawnField = reader.bytes(withdrawnLength, 'Withdrawn Routes');
  const attributesLength = reader.u16('Total Path Attribute Length');
  if (attributesLength > reader.remaining) {
    throw updateError(UPDATE_SUBCODE.malformedAttributeList, `Total Path Attribute Length ${attributesLength} overruns the message`);
  }
  const attributesField = reader.bytes(attributesLength, 'Path Attributes');
  const nlriField = reader.rest();

  const decoded = decodePathAttributes(attributesField, ctx);
  // RFC 7606 3(e) and 5.3: malformed Withdrawn Routes or NLRI -> session reset; RFC 4271 6.3
  // names the subcode Invalid Network Field.
  const invalidNetwork = (reason: string): BgpProtocolError => updateError(UPDATE_SUBCODE.invalidNetworkField, reason);
  const withdrawn = decodeNlri(withdrawnField, 'ipv4', (reason) => invalidNetwork(`Withdrawn Routes: ${reason}`));
  const nlri = decodeNlri(nlriField, 'ipv4', (reason) => invalidNetwork(`NLRI: ${reason}`));

  const errors: UpdateAttributeError[] = [...decoded.errors];
  if (nlri.length > 0 || decoded.present.has(14)) {
    // RFC 7606 3(d): a missing well-known mandatory attribute -> treat-as-withdraw. RFC 4760 3
    // makes NEXT_HOP needed only for NLRI in the IPv4 NLRI field.
    const missing = (typeCode: number, name: string): void => {
      if (!decoded.present.has(typeCode)) errors.push({ action: 'treat-as-withdraw', typeCode, reason: `RFC 7606 3(d): ${name} is missing` });
    };
    missing(1, 'ORIGIN');
    missing(2, 'AS_PATH');
    if (nlri.length > 0) missing(3, 'NEXT_HOP');
  }
  const update: UpdateMessage = { type: 'update', withdrawn, attributes: decoded.attributes, nlri };
  return errors.length > 0 ? { ...update, attributeErrors: errors } : update;
}

// ---- End-of-RIB (RFC 4724 2) ----------------------------------------------------------------

/** The End-of-RIB marker: an empty UPDATE for IPv4 unicast, else an UPDATE with only an empty MP_UNREACH_NLRI. */
export function endOfRib(family: AddressFamily): UpdateMessage {
  if (family === 'ipv4-unicast') return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  return { type: 'update', withdrawn: [], attributes: { mpUnreach: { ...afiSafiOf(family), withdrawn: [] } }, nlri: [] };
}

/**
 * The family a message is the End-of-RIB marker for, else undefined. An empty MP_UNREACH_NLRI
 * for IPv4 unicast is accepted as IPv4's marker too (some speakers send it that way).
 */
export function isEndOfRib(message: BgpMessage): AddressFamily | undefined {
  if (message.type !== 'update') return undefined;
  if (message.withdrawn.length > 0 || message.nlri.length > 0 || (message.attributeErrors?.length ?? 0) > 0) return undefined;
  const present = Object.entries(message.attributes).filter(([, value]) => value !== undefined);
  if (present.length === 0) return 'ipv4-unicast';
  const unreach = message.attributes.mpUnreach;
  if (present.length !== 1 || unreach === undefined || unreach.withdrawn.length > 0) return undefined;
  return addressFamilyOf(unreach.afi, unreach.safi);
}

// ---- packing many prefixes into UPDATEs ---------------------------------------------------

const MP_REACH_FIXED_BYTES = 5; // AFI 2, SAFI 1, Next Hop Length 1, Reserved 1 (RFC 4760 3)
const MP_UNREACH_FIXED_BYTES = 3; // AFI 2, SAFI 1 (RFC 4760 4)

/** How packUpdates and packWithdrawals place IPv4 prefixes. */
export interface PackOptions {
  /**
   * IPv4 unicast goes in MP_REACH_NLRI / MP_UNREACH_NLRI with AFI 1 and SAFI 1 (RFC 4760 3, 4)
   * instead of the UPDATE's own NLRI / Withdrawn Routes fields and NEXT_HOP: how IPv4 routes
   * ride on an IPv6 session. The next hop stays one IPv4 address (an IPv6 next hop for IPv4
   * NLRI needs RFC 8950's capability, which this speaker does not negotiate). No effect on
   * IPv6, which always uses the MP attributes. @default false
   */
  readonly multiprotocolIpv4?: boolean;
}

/**
 * Announces `prefixes` (all of `family`) with one set of path attributes, in as few UPDATEs as
 * fit 4096 bytes each, prefixes kept in order.
 *
 * - `attributes`: the shared attributes (ORIGIN, AS_PATH, MED, communities...), without
 *   NEXT_HOP, MP_REACH_NLRI or MP_UNREACH_NLRI: this function places the next hop.
 * - `nextHops`: for `ipv4-unicast` one IPv4 address (the NEXT_HOP attribute, NLRI in the
 *   UPDATE's own field; or, with `options.multiprotocolIpv4`, the MP_REACH_NLRI next hop with
 *   AFI 1); for `ipv6-unicast` the global IPv6 address and optionally a link-local one
 *   (MP_REACH_NLRI, RFC 2545 3).
 *
 * Each UPDATE carries one kind of NLRI only (RFC 7606 5.1). Throws `E_BGP_ENCODE` for a
 * prefix of the other family, bad next hops, attributes that already hold a next hop or MP
 * attribute, or attributes too large to leave room for a single prefix.
 */
export function packUpdates(
  family: AddressFamily,
  attributes: PathAttributes,
  nextHops: readonly string[],
  prefixes: readonly Prefix[],
  ctx: CodecContext,
  options: PackOptions = {},
): UpdateMessage[] {
  if (attributes.nextHop !== undefined || attributes.mpReach !== undefined || attributes.mpUnreach !== undefined) {
    throw new BgpError('E_BGP_ENCODE', 'packUpdates: pass the next hop as nextHops; attributes must not hold NEXT_HOP, MP_REACH_NLRI or MP_UNREACH_NLRI');
  }
  checkFamily(family, prefixes, 'packUpdates');
  let nextHopBytes: number;
  if (family === 'ipv4-unicast') {
    const [nextHop, ...extra] = nextHops;
    if (nextHop === undefined || extra.length > 0 || encodeAddress(nextHop)?.length !== 4) {
      throw new BgpError('E_BGP_ENCODE', `packUpdates: ipv4-unicast takes one IPv4 next hop, not [${nextHops.join(', ')}]`);
    }
    if (options.multiprotocolIpv4 !== true) {
      const shared: PathAttributes = { ...attributes, nextHop };
      const base = encodeMessage({ type: 'update', withdrawn: [], attributes: shared, nlri: [] }, ctx).length;
      return pack(prefixes, (nlriLength) => base + nlriLength, 'packUpdates').map((chunk) => ({ type: 'update', withdrawn: [], attributes: shared, nlri: chunk }));
    }
    nextHopBytes = 4;
  } else {
    if (nextHops.length < 1 || nextHops.length > 2 || nextHops.some((hop) => encodeAddress(hop)?.length !== 16)) {
      throw new BgpError('E_BGP_ENCODE', `packUpdates: ipv6-unicast takes an IPv6 next hop and optionally a link-local one, not [${nextHops.join(', ')}]`);
    }
    nextHopBytes = 16 * nextHops.length;
  }
  const { afi, safi } = afiSafiOf(family);
  const withReach = (nlri: readonly Prefix[]): PathAttributes => ({ ...attributes, mpReach: { afi, safi, nextHops, nlri } });
  const base = encodeMessage({ type: 'update', withdrawn: [], attributes: withReach([]), nlri: [] }, ctx).length;
  const reachValue = MP_REACH_FIXED_BYTES + nextHopBytes;
  return pack(prefixes, (nlriLength) => base + nlriLength + extendedLengthByte(reachValue + nlriLength), 'packUpdates').map((chunk) => ({
    type: 'update',
    withdrawn: [],
    attributes: withReach(chunk),
    nlri: [],
  }));
}

/**
 * Withdraws `prefixes` (all of `family`) in as few UPDATEs as fit 4096 bytes each: the
 * Withdrawn Routes field for `ipv4-unicast` (MP_UNREACH_NLRI with AFI 1 when
 * `options.multiprotocolIpv4`), MP_UNREACH_NLRI for `ipv6-unicast`.
 */
export function packWithdrawals(family: AddressFamily, prefixes: readonly Prefix[], options: PackOptions = {}): UpdateMessage[] {
  checkFamily(family, prefixes, 'packWithdrawals');
  const empty = HEADER_BYTES + UPDATE_FIXED_BYTES;
  if (family === 'ipv4-unicast' && options.multiprotocolIpv4 !== true) {
    return pack(prefixes, (nlriLength) => empty + nlriLength, 'packWithdrawals').map((chunk) => ({ type: 'update', withdrawn: chunk, attributes: {}, nlri: [] }));
  }
  const { afi, safi } = afiSafiOf(family);
  const size = (nlriLength: number): number => empty + 3 + MP_UNREACH_FIXED_BYTES + nlriLength + extendedLengthByte(MP_UNREACH_FIXED_BYTES + nlriLength);
  return pack(prefixes, size, 'packWithdrawals').map((chunk) => ({
    type: 'update',
    withdrawn: [],
    attributes: { mpUnreach: { afi, safi, withdrawn: chunk } },
    nlri: [],
  }));
}

/** The extra length octet an attribute needs once its value passes 255 bytes (RFC 4271 4.3). */
function extendedLengthByte(valueLength: number): number {
  return valueLength > 255 ? 1 : 0;
}

function checkFamily(family: AddressFamily, prefixes: readonly Prefix[], caller: string): void {
  const expected = prefixFamilyOf(family);
  const stray = prefixes.find((prefix) => prefix.family !== expected);
  if (stray !== undefined) throw new BgpError('E_BGP_ENCODE', `${caller}: ${stray.address}/${stray.length} is not a ${family} prefix`);
}

/** Greedy split: each chunk is the longest run whose message size (by `sizeOf`) fits 4096. */
function pack(prefixes: readonly Prefix[], sizeOf: (nlriLength: number) => number, caller: string): Prefix[][] {
  const chunks: Prefix[][] = [];
  let chunk: Prefix[] = [];
  let nlriLength = 0;
  for (const prefix of prefixes) {
    const bytes = nlriBytes(prefix);
    if (chunk.length > 0 && sizeOf(nlriLength + bytes) > MAX_MESSAGE_BYTES) {
      chunks.push(chunk);
      chunk = [];
      nlriLength = 0;
    }
    if (sizeOf(nlriLength + bytes) > MAX_MESSAGE_BYTES) {
      throw new BgpError('E_BGP_ENCODE', `${caller}: the path attributes leave no room for a prefix in ${MAX_MESSAGE_BYTES} bytes`);
    }
    chunk.push(prefix);
    nlriLength += bytes;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
