/**
 * UPDATE path attributes (RFC 4271 4.3 and 5), read and written with RFC 7606 error handling:
 * errors that leave the NLRI unknowable throw a BgpProtocolError (session reset); errors the
 * session survives are returned as `treat-as-withdraw` or `attribute-discard` entries.
 *
 * AS numbers are 4 octets when `CodecContext.fourOctetAs`; otherwise AS_PATH carries 2-octet
 * numbers with AS_TRANS for the ones that do not fit, the full path rides in AS4_PATH, and
 * decoding merges the two back (RFC 6793 4.2.2, 4.2.3).
 */
import { BgpError, BgpProtocolError } from './errors.js';
import {
  AS_TRANS,
  ERROR_CODE,
  UPDATE_SUBCODE,
  type AsPathSegment,
  type CodecContext,
  type LargeCommunity,
  type MpReach,
  type MpUnreach,
  type Origin,
  type PathAttributes,
  type UnknownAttribute,
  type UpdateAttributeError,
} from './messages.js';
import { decodeNlri, encodeAddress, encodeNlri, formatAddress, prefixFamilyOfAfi, SAFI_MULTICAST, type PrefixFamily } from './prefix.js';
import { copyBytes, WireReader, WireWriter } from './wire.js';

/** Path attribute type codes (IANA) this codec recognizes. */
export const ATTRIBUTE_TYPE = {
  origin: 1,
  asPath: 2,
  nextHop: 3,
  med: 4,
  localPref: 5,
  atomicAggregate: 6,
  aggregator: 7,
  communities: 8,
  originatorId: 9,
  clusterList: 10,
  mpReachNlri: 14,
  mpUnreachNlri: 15,
  extendedCommunities: 16,
  as4Path: 17,
  as4Aggregator: 18,
  ipv6ExtendedCommunities: 25,
  largeCommunities: 32,
} as const;

/** RFC 4271 4.3 Attribute Flags (the low four bits are unused: zero on send, ignored on receipt). */
export const ATTRIBUTE_FLAG = {
  optional: 0x80,
  transitive: 0x40,
  partial: 0x20,
  extendedLength: 0x10,
} as const;

/** RFC 1997, RFC 8326 and RFC 7999 well-known communities. */
export const WELL_KNOWN_COMMUNITY = {
  gracefulShutdown: 0xffff0000,
  blackhole: 0xffff029a,
  noExport: 0xffffff01,
  noAdvertise: 0xffffff02,
  noExportSubconfed: 0xffffff03,
} as const;

/** An RFC 1997 community from its two halves (`64512:100` is community(64512, 100)). */
export function community(asn: number, value: number): number {
  if (!Number.isInteger(asn) || asn < 0 || asn > 0xffff || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new BgpError('E_BGP_ENCODE', `community ${String(asn)}:${String(value)}: both halves are 0..65535`);
  }
  return asn * 0x10000 + value;
}

const WELL_KNOWN = ATTRIBUTE_FLAG.transitive;
const OPTIONAL_TRANSITIVE = ATTRIBUTE_FLAG.optional | ATTRIBUTE_FLAG.transitive;
const OPTIONAL_NON_TRANSITIVE = ATTRIBUTE_FLAG.optional;
const CATEGORY_BITS = ATTRIBUTE_FLAG.optional | ATTRIBUTE_FLAG.transitive;
/** Flags kept on an unknown attribute: Extended Length is re-derived on encode, the low bits are unused. */
const KEPT_FLAG_BITS = ATTRIBUTE_FLAG.optional | ATTRIBUTE_FLAG.transitive | ATTRIBUTE_FLAG.partial;

type MalformedAction = UpdateAttributeError['action'] | 'session-reset';

interface AttributeRule {
  /** The Optional and Transitive bits the attribute must carry (RFC 4271 5, and its own RFC). */
  readonly category: number;
  /** What RFC 7606 7 (or the attribute's RFC) prescribes when the attribute is malformed. */
  readonly onMalformed: MalformedAction;
}

/** One row per recognized attribute: its flag category and its RFC 7606 error handling. */
const ATTRIBUTE_RULES: ReadonlyMap<number, AttributeRule> = new Map([
  [ATTRIBUTE_TYPE.origin, { category: WELL_KNOWN, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.1
  [ATTRIBUTE_TYPE.asPath, { category: WELL_KNOWN, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.2
  [ATTRIBUTE_TYPE.nextHop, { category: WELL_KNOWN, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.3
  [ATTRIBUTE_TYPE.med, { category: OPTIONAL_NON_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.4
  [ATTRIBUTE_TYPE.localPref, { category: WELL_KNOWN, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.5
  [ATTRIBUTE_TYPE.atomicAggregate, { category: WELL_KNOWN, onMalformed: 'attribute-discard' }], // RFC 7606 7.6
  [ATTRIBUTE_TYPE.aggregator, { category: OPTIONAL_TRANSITIVE, onMalformed: 'attribute-discard' }], // RFC 7606 7.7
  [ATTRIBUTE_TYPE.communities, { category: OPTIONAL_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.8
  [ATTRIBUTE_TYPE.originatorId, { category: OPTIONAL_NON_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.9
  [ATTRIBUTE_TYPE.clusterList, { category: OPTIONAL_NON_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.10
  [ATTRIBUTE_TYPE.mpReachNlri, { category: OPTIONAL_NON_TRANSITIVE, onMalformed: 'session-reset' }], // RFC 7606 7.11
  [ATTRIBUTE_TYPE.mpUnreachNlri, { category: OPTIONAL_NON_TRANSITIVE, onMalformed: 'session-reset' }], // RFC 7606 7.12
  [ATTRIBUTE_TYPE.extendedCommunities, { category: OPTIONAL_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.14
  [ATTRIBUTE_TYPE.as4Path, { category: OPTIONAL_TRANSITIVE, onMalformed: 'attribute-discard' }], // RFC 6793 6, RFC 7606 7.7
  [ATTRIBUTE_TYPE.as4Aggregator, { category: OPTIONAL_TRANSITIVE, onMalformed: 'attribute-discard' }], // RFC 6793 6, RFC 7606 7.7
  [ATTRIBUTE_TYPE.ipv6ExtendedCommunities, { category: OPTIONAL_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 7606 7.15
  [ATTRIBUTE_TYPE.largeCommunities, { category: OPTIONAL_TRANSITIVE, onMalformed: 'treat-as-withdraw' }], // RFC 8092 6
]);

const ORIGIN_CODES: readonly Origin[] = ['igp', 'egp', 'incomplete'];

/** RFC 4271 4.3 segment types 1 and 2, RFC 5065 3 types 3 and 4. */
const SEGMENT_TYPES: readonly AsPathSegment['type'][] = ['set', 'sequence', 'confed-sequence', 'confed-set'];
const MAX_SEGMENT_ASNS = 255;

/** An attribute value that breaks its attribute's rules; always caught inside this file. */
class MalformedAttribute extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'MalformedAttribute';
  }
}

const malformedValue = (reason: string): MalformedAttribute => new MalformedAttribute(reason);

// ---- decoding -------------------------------------------------------------------------------

export interface DecodedAttributes {
  readonly attributes: PathAttributes;
  /** Errors handled per RFC 7606 without a session reset, in the order met. */
  readonly errors: readonly UpdateAttributeError[];
  /** Type codes of every attribute present (well formed or not): for the missing-attribute check. */
  readonly present: ReadonlySet<number>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Reads the Path Attributes field of an UPDATE. Throws BgpProtocolError (UPDATE Message Error)
 * only where RFC 7606 keeps a session reset: a duplicate or malformed MP_REACH_NLRI /
 * MP_UNREACH_NLRI (3(g), 7.11, 7.12: the NLRI cannot be located, subcode Optional Attribute
 * Error per RFC 4760 7), an MP attribute overrunning the field (Attribute Length Error, RFC
 * 4271 6.3), or an unrecognized well-known attribute (RFC 4271 6.3). Everything else is
 * collected in `errors`.
 */
export function decodePathAttributes(field: Uint8Array, ctx: CodecContext): DecodedAttributes {
  const attributes: Mutable<PathAttributes> = {};
  const unknown: UnknownAttribute[] = [];
  const errors: UpdateAttributeError[] = [];
  const present = new Set<number>();
  const as4: { path?: AsPathSegment[]; aggregatorAs?: number } = {};
  const reader = new WireReader(field, (reason) => new MalformedAttribute(reason));

  while (reader.remaining > 0) {
    const start = reader.offset;
    const flags = field[start] ?? 0;
    const headerBytes = flags & ATTRIBUTE_FLAG.extendedLength ? 4 : 3;
    if (reader.remaining < headerBytes) {
      // RFC 7606 4, second case: too few octets left for an attribute header.
      errors.push({
        action: 'treat-as-withdraw',
        typeCode: field[start + 1] ?? 0,
        reason: `RFC 7606 4: ${reader.remaining} byte(s) left in the attribute list, too few for an attribute header`,
      });
      break;
    }
    reader.u8('flags');
    const typeCode = reader.u8('type code');
    const length = headerBytes === 4 ? reader.u16('extended length') : reader.u8('length');
    if (length > reader.remaining) {
      const raw = copyBytes(field.subarray(start));
      if (typeCode === ATTRIBUTE_TYPE.mpReachNlri || typeCode === ATTRIBUTE_TYPE.mpUnreachNlri) {
        // RFC 7606 3(f): without the whole MP attribute the NLRI cannot be found.
        throw new BgpProtocolError(
          ERROR_CODE.updateMessage,
          UPDATE_SUBCODE.attributeLengthError,
          `attribute ${typeCode} length ${length} overruns the attribute list (${reader.remaining} bytes left)`,
          raw,
        );
      }
      // RFC 7606 4, first case: the attribute overruns the list; it is the last one, so only
      // its own value is lost and the Total Path Attribute Length still locates the NLRI.
      errors.push({
        action: 'treat-as-withdraw',
        typeCode,
        reason: `RFC 7606 4: attribute length ${length} overruns the attribute list (${reader.remaining} bytes left)`,
      });
      break;
    }
    const value = reader.bytes(length, `attribute ${typeCode}`);
    const raw = field.subarray(start, reader.offset);

    if (present.has(typeCode)) {
      if (typeCode === ATTRIBUTE_TYPE.mpReachNlri || typeCode === ATTRIBUTE_TYPE.mpUnreachNlri) {
        throw new BgpProtocolError(ERROR_CODE.updateMessage, UPDATE_SUBCODE.malformedAttributeList, `RFC 7606 3(g): attribute ${typeCode} appears twice`);
      }
      errors.push({ action: 'attribute-discard', typeCode, reason: 'RFC 7606 3(g): duplicate attribute, the first one is kept' });
      continue;
    }
    present.add(typeCode);

    const rule = ATTRIBUTE_RULES.get(typeCode);
    if (rule === undefined) {
      if ((flags & ATTRIBUTE_FLAG.optional) === 0) {
        throw new BgpProtocolError(
          ERROR_CODE.updateMessage,
          UPDATE_SUBCODE.unrecognizedWellKnownAttribute,
          `attribute ${typeCode} is flagged well-known but is not one we know (RFC 4271 6.3)`,
          copyBytes(raw),
        );
      }
      unknown.push({ flags: flags & KEPT_FLAG_BITS, typeCode, value: copyBytes(value) });
      continue;
    }
    if ((flags & CATEGORY_BITS) !== rule.category) {
      const reason = `RFC 7606 3(c): flags 0x${flags.toString(16)} conflict with attribute ${typeCode}`;
      if (rule.onMalformed === 'session-reset') {
        throw new BgpProtocolError(ERROR_CODE.updateMessage, UPDATE_SUBCODE.attributeFlagsError, reason, copyBytes(raw));
      }
      errors.push({ action: rule.onMalformed, typeCode, reason });
      continue;
    }
    try {
      decodeAttribute(typeCode, value, raw, ctx, { attributes, unknown, errors, as4, flags });
    } catch (error) {
      if (!(error instanceof MalformedAttribute)) throw error;
      // session-reset attributes (MP_*) throw their own BgpProtocolError, never MalformedAttribute.
      const action = rule.onMalformed === 'attribute-discard' ? 'attribute-discard' : 'treat-as-withdraw';
      errors.push({ action, typeCode, reason: `attribute ${typeCode} malformed: ${error.message}` });
    }
  }

  if (!ctx.fourOctetAs && as4.path !== undefined && attributes.asPath !== undefined) {
    // RFC 6793 4.2.3: an AGGREGATOR from a NEW speaker (AS other than AS_TRANS) means the
    // AS4_PATH is stale and is ignored.
    if (as4.aggregatorAs === undefined || as4.aggregatorAs === AS_TRANS) {
      attributes.asPath = mergeAs4Path(attributes.asPath, as4.path);
    }
  }
  if (unknown.length > 0) attributes.unknown = unknown.sort((a, b) => a.typeCode - b.typeCode);
  return { attributes, errors, present };
}

interface DecodeTarget {
  readonly attributes: Mutable<PathAttributes>;
  readonly unknown: UnknownAttribute[];
  readonly errors: UpdateAttributeError[];
  readonly as4: { path?: AsPathSegment[]; aggregatorAs?: number };
  readonly flags: number;
}

function decodeAttribute(typeCode: number, value: Uint8Array, raw: Uint8Array, ctx: CodecContext, target: DecodeTarget): void {
  const { attributes } = target;
  const reader = new WireReader(value, malformedValue);
  const keepAsUnknown = (): void => {
    target.unknown.push({ flags: target.flags & KEPT_FLAG_BITS, typeCode, value: copyBytes(value) });
  };
  switch (typeCode) {
    case ATTRIBUTE_TYPE.origin: {
      expectLength(value, 1);
      const origin = ORIGIN_CODES[reader.u8('origin')];
      if (origin === undefined) throw new MalformedAttribute(`undefined ORIGIN value ${value[0] ?? 0}`);
      attributes.origin = origin;
      return;
    }
    case ATTRIBUTE_TYPE.asPath:
      attributes.asPath = decodeAsPath(value, ctx.fourOctetAs ? 4 : 2);
      return;
    case ATTRIBUTE_TYPE.nextHop:
      expectLength(value, 4);
      // RFC 4271 6.3: the NEXT_HOP must be a valid IP host address.
      if (!isUnicastIpv4(value)) throw new MalformedAttribute(`NEXT_HOP ${formatAddress(value)} is not a unicast host address`);
      attributes.nextHop = formatAddress(value);
      return;
    case ATTRIBUTE_TYPE.med:
      expectLength(value, 4);
      attributes.med = reader.u32('MULTI_EXIT_DISC');
      return;
    case ATTRIBUTE_TYPE.localPref:
      expectLength(value, 4);
      attributes.localPref = reader.u32('LOCAL_PREF');
      return;
    case ATTRIBUTE_TYPE.atomicAggregate:
      expectLength(value, 0);
      attributes.atomicAggregate = true;
      return;
    case ATTRIBUTE_TYPE.aggregator: {
      // RFC 6793 3: between NEW speakers AGGREGATOR carries a 4-octet AS.
      expectLength(value, ctx.fourOctetAs ? 8 : 6);
      const asn = ctx.fourOctetAs ? reader.u32('AGGREGATOR AS') : reader.u16('AGGREGATOR AS');
      if (asn === 0) throw new MalformedAttribute('AGGREGATOR AS 0 (RFC 7607 2)');
      target.as4.aggregatorAs = asn;
      keepAsUnknown();
      return;
    }
    case ATTRIBUTE_TYPE.communities: {
      expectMultiple(value, 4);
      const communities: number[] = [];
      while (reader.remaining > 0) communities.push(reader.u32('community'));
      attributes.communities = communities;
      return;
    }
    case ATTRIBUTE_TYPE.originatorId:
      expectLength(value, 4);
      keepAsUnknown();
      return;
    case ATTRIBUTE_TYPE.clusterList:
      expectMultiple(value, 4);
      keepAsUnknown();
      return;
    case ATTRIBUTE_TYPE.mpReachNlri: {
      const reach = decodeMpReach(value, raw);
      if (reach === undefined) keepAsUnknown();
      else attributes.mpReach = reach;
      return;
    }
    case ATTRIBUTE_TYPE.mpUnreachNlri: {
      const unreach = decodeMpUnreach(value, raw);
      if (unreach === undefined) keepAsUnknown();
      else attributes.mpUnreach = unreach;
      return;
    }
    case ATTRIBUTE_TYPE.extendedCommunities:
      expectMultiple(value, 8);
      keepAsUnknown();
      return;
    case ATTRIBUTE_TYPE.as4Path: {
      if (ctx.fourOctetAs) {
        // RFC 6793 3: AS4_PATH from a NEW speaker MUST be discarded.
        target.errors.push({ action: 'attribute-discard', typeCode, reason: 'RFC 6793 3: AS4_PATH from a four-octet-AS speaker is discarded' });
        return;
      }
      const path = decodeAsPath(value, 4);
      const withoutConfed = path.filter((segment) => segment.type === 'sequence' || segment.type === 'set');
      if (withoutConfed.length !== path.length) {
        // RFC 6793 6: confederation segments in AS4_PATH are dropped, the rest is used.
        target.errors.push({ action: 'attribute-discard', typeCode, reason: 'RFC 6793 6: confederation segments in AS4_PATH dropped' });
      }
      target.as4.path = withoutConfed;
      return;
    }
    case ATTRIBUTE_TYPE.as4Aggregator: {
      if (ctx.fourOctetAs) {
        target.errors.push({ action: 'attribute-discard', typeCode, reason: 'RFC 6793 3: AS4_AGGREGATOR from a four-octet-AS speaker is discarded' });
        return;
      }
      expectLength(value, 8);
      if (reader.u32('AS4_AGGREGATOR AS') === 0) throw new MalformedAttribute('AS4_AGGREGATOR AS 0 (RFC 7607 2)');
      keepAsUnknown();
      return;
    }
    case ATTRIBUTE_TYPE.ipv6ExtendedCommunities:
      expectMultiple(value, 20);
      keepAsUnknown();
      return;
    case ATTRIBUTE_TYPE.largeCommunities: {
      expectMultiple(value, 12);
      const large: LargeCommunity[] = [];
      while (reader.remaining > 0) {
        large.push({ globalAdmin: reader.u32('global admin'), localData1: reader.u32('local data 1'), localData2: reader.u32('local data 2') });
      }
      attributes.largeCommunities = large;
      return;
    }
    default:
      keepAsUnknown();
  }
}

function expectLength(value: Uint8Array, length: number): void {
  if (value.length !== length) throw new MalformedAttribute(`length ${value.length}, expected ${length}`);
}

/** RFC 7606 4: a zero length is a syntax error for every attribute but AS_PATH and ATOMIC_AGGREGATE. */
function expectMultiple(value: Uint8Array, unit: number): void {
  if (value.length === 0 || value.length % unit !== 0) throw new MalformedAttribute(`length ${value.length} is not a non-zero multiple of ${unit}`);
}

function isUnicastIpv4(bytes: Uint8Array): boolean {
  const first = bytes[0] ?? 0;
  const all = (value: number): boolean => bytes.every((byte) => byte === value);
  return !all(0) && !all(0xff) && (first & 0xf0) !== 0xe0;
}

/**
 * RFC 7606 7.2: malformed when a segment type is unknown, a segment has no ASNs, a segment
 * overruns the attribute, or a lone octet is left over. RFC 7607 2: AS 0 makes it malformed.
 */
function decodeAsPath(value: Uint8Array, asnBytes: 2 | 4): AsPathSegment[] {
  const reader = new WireReader(value, malformedValue);
  const segments: AsPathSegment[] = [];
  while (reader.remaining > 0) {
    const typeCode = reader.u8('segment type');
    const type = SEGMENT_TYPES[typeCode - 1];
    if (type === undefined) throw new MalformedAttribute(`unknown AS_PATH segment type ${typeCode}`);
    const count = reader.u8('segment length');
    if (count === 0) throw new MalformedAttribute('AS_PATH segment with no AS numbers');
    const asns: number[] = [];
    for (let i = 0; i < count; i++) {
      const asn = asnBytes === 4 ? reader.u32('AS number') : reader.u16('AS number');
      if (asn === 0) throw new MalformedAttribute('AS 0 in the path (RFC 7607 2)');
      asns.push(asn);
    }
    segments.push({ type, asns });
  }
  return segments;
}

/** RFC 4271 9.1.2.2 path length: a SET counts one, confederation segments count nothing. */
function pathLength(path: readonly AsPathSegment[]): number {
  return path.reduce((sum, segment) => sum + (segment.type === 'sequence' ? segment.asns.length : segment.type === 'set' ? 1 : 0), 0);
}

/**
 * RFC 6793 4.2.3: when AS_PATH is shorter than AS4_PATH, AS4_PATH is ignored; otherwise the
 * leading part of AS_PATH that AS4_PATH lacks is prepended to AS4_PATH (leading confederation
 * segments included), joining two sequences that meet.
 */
function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  let missing = pathLength(asPath) - pathLength(as4Path);
  if (missing < 0) return [...asPath];
  const leading: AsPathSegment[] = [];
  for (const segment of asPath) {
    const confed = segment.type === 'confed-sequence' || segment.type === 'confed-set';
    if (!confed && missing === 0) break;
    if (confed) {
      leading.push(segment);
    } else if (segment.type === 'set') {
      leading.push(segment);
      missing -= 1;
    } else {
      const take = Math.min(missing, segment.asns.length);
      leading.push({ type: 'sequence', asns: segment.asns.slice(0, take) });
      missing -= take;
    }
  }
  const last = leading[leading.length - 1];
  const [first, ...rest] = as4Path;
  if (last?.type === 'sequence' && first?.type === 'sequence' && last.asns.length + first.asns.length <= MAX_SEGMENT_ASNS) {
    return [...leading.slice(0, -1), { type: 'sequence', asns: [...last.asns, ...first.asns] }, ...rest];
  }
  return [...leading, ...as4Path];
}

function mpMalformed(name: string, raw: Uint8Array): (reason: string) => BgpProtocolError {
  // RFC 4760 7: an incorrect MP attribute -> UPDATE Message Error / Optional Attribute Error,
  // with the attribute as data (RFC 4271 6.3).
  return (reason) => new BgpProtocolError(ERROR_CODE.updateMessage, UPDATE_SUBCODE.optionalAttributeError, `${name}: ${reason}`, copyBytes(raw));
}

/** The NLRI family of an AFI/SAFI whose NLRI we can read (unicast or multicast IPv4/IPv6). */
function readableFamily(afi: number, safi: number): PrefixFamily | undefined {
  return safi === 1 || safi === SAFI_MULTICAST ? prefixFamilyOfAfi(afi) : undefined;
}

/**
 * RFC 4760 3. Returns undefined for an AFI/SAFI whose NLRI we do not read (the caller keeps
 * it as an unknown attribute). A next hop length other than 4 (IPv4 AFI), 16 or 32 (RFC 2545
 * 3, RFC 8950 3) is malformed: RFC 7606 7.11 session reset.
 */
function decodeMpReach(value: Uint8Array, raw: Uint8Array): MpReach | undefined {
  const malformed = mpMalformed('MP_REACH_NLRI', raw);
  const reader = new WireReader(value, malformed);
  const afi = reader.u16('AFI');
  const safi = reader.u8('SAFI');
  const family = readableFamily(afi, safi);
  if (family === undefined) return undefined;
  const nextHopLength = reader.u8('next hop length');
  const nextHopBytes = reader.bytes(nextHopLength, 'next hop');
  let nextHops: string[];
  if (nextHopLength === 4 && family === 'ipv4') nextHops = [formatAddress(nextHopBytes)];
  else if (nextHopLength === 16) nextHops = [formatAddress(nextHopBytes)];
  else if (nextHopLength === 32) nextHops = [formatAddress(nextHopBytes.subarray(0, 16)), formatAddress(nextHopBytes.subarray(16))];
  else throw malformed(`next hop length ${nextHopLength} for AFI ${afi}`);
  reader.u8('reserved'); // RFC 4760 3: MUST be 0, SHOULD be ignored.
  return { afi, safi, nextHops, nlri: decodeNlri(reader.rest(), family, malformed) };
}

function decodeMpUnreach(value: Uint8Array, raw: Uint8Array): MpUnreach | undefined {
  const malformed = mpMalformed('MP_UNREACH_NLRI', raw);
  const reader = new WireReader(value, malformed);
  const afi = reader.u16('AFI');
  const safi = reader.u8('SAFI');
  const family = readableFamily(afi, safi);
  if (family === undefined) return undefined;
  return { afi, safi, withdrawn: decodeNlri(reader.rest(), family, malformed) };
}

// ---- encoding -------------------------------------------------------------------------------

interface EncodedAttribute {
  readonly flags: number;
  readonly typeCode: number;
  readonly value: Uint8Array;
}

/**
 * Writes the Path Attributes field (without its length). MP_REACH_NLRI and MP_UNREACH_NLRI go
 * first (RFC 7606 5.1), the rest by type code (RFC 4271 5); the Extended Length flag is set
 * exactly when a value exceeds 255 octets. Empty `communities`/`largeCommunities` and
 * `atomicAggregate: false` are omitted (an empty list is malformed on the wire, RFC 7606 7.8).
 *
 * `unknown` attributes are written as given, even with a type code this codec interprets or
 * twice: that is how a test peer crafts a malformed UPDATE. Throws `E_BGP_ENCODE` for values
 * out of range.
 */
export function encodePathAttributes(out: WireWriter, attributes: PathAttributes, ctx: CodecContext): void {
  const list: EncodedAttribute[] = [];
  const add = (flags: number, typeCode: number, build: (w: WireWriter) => void): void => {
    const w = new WireWriter();
    build(w);
    list.push({ flags, typeCode, value: w.toBytes() });
  };
  if (attributes.origin !== undefined) {
    const origin = attributes.origin;
    add(WELL_KNOWN, ATTRIBUTE_TYPE.origin, (w) => w.u8(ORIGIN_CODES.indexOf(origin), 'ORIGIN'));
  }
  if (attributes.asPath !== undefined) {
    const path = attributes.asPath;
    const needsAs4Path = !ctx.fourOctetAs && path.some((segment) => segment.asns.some((asn) => asn > 0xffff));
    add(WELL_KNOWN, ATTRIBUTE_TYPE.asPath, (w) => {
      encodeAsPath(w, path, ctx.fourOctetAs ? 4 : 2);
    });
    // RFC 6793 4.2.2: towards an OLD speaker, the real path rides in AS4_PATH, which never
    // carries confederation segments.
    const as4Path = path.filter((segment) => segment.type === 'sequence' || segment.type === 'set');
    if (needsAs4Path && as4Path.length > 0) {
      add(OPTIONAL_TRANSITIVE, ATTRIBUTE_TYPE.as4Path, (w) => {
        encodeAsPath(w, as4Path, 4);
      });
    }
  }
  if (attributes.nextHop !== undefined) {
    const bytes = ipv4Bytes(attributes.nextHop, 'NEXT_HOP');
    add(WELL_KNOWN, ATTRIBUTE_TYPE.nextHop, (w) => w.bytes(bytes));
  }
  if (attributes.med !== undefined) {
    const med = attributes.med;
    add(OPTIONAL_NON_TRANSITIVE, ATTRIBUTE_TYPE.med, (w) => w.u32(med, 'MULTI_EXIT_DISC'));
  }
  if (attributes.localPref !== undefined) {
    const localPref = attributes.localPref;
    add(WELL_KNOWN, ATTRIBUTE_TYPE.localPref, (w) => w.u32(localPref, 'LOCAL_PREF'));
  }
  if (attributes.atomicAggregate === true) add(WELL_KNOWN, ATTRIBUTE_TYPE.atomicAggregate, () => undefined);
  const communities = attributes.communities ?? [];
  if (communities.length > 0) {
    add(OPTIONAL_TRANSITIVE, ATTRIBUTE_TYPE.communities, (w) => {
      for (const value of communities) w.u32(value, 'community');
    });
  }
  if (attributes.mpReach !== undefined) {
    const reach = attributes.mpReach;
    add(OPTIONAL_NON_TRANSITIVE, ATTRIBUTE_TYPE.mpReachNlri, (w) => {
      encodeMpReach(w, reach);
    });
  }
  if (attributes.mpUnreach !== undefined) {
    const unreach = attributes.mpUnreach;
    add(OPTIONAL_NON_TRANSITIVE, ATTRIBUTE_TYPE.mpUnreachNlri, (w) => {
      w.u16(unreach.afi, 'MP_UNREACH_NLRI AFI').u8(unreach.safi, 'MP_UNREACH_NLRI SAFI');
      encodeNlri(w, unreach.withdrawn, encodableFamily(unreach.afi, unreach.safi, 'MP_UNREACH_NLRI'));
    });
  }
  const large = attributes.largeCommunities ?? [];
  if (large.length > 0) {
    add(OPTIONAL_TRANSITIVE, ATTRIBUTE_TYPE.largeCommunities, (w) => {
      for (const c of large) w.u32(c.globalAdmin, 'large community global admin').u32(c.localData1, 'large community local data 1').u32(c.localData2, 'large community local data 2');
    });
  }
  for (const attribute of attributes.unknown ?? []) {
    add(attribute.flags & ~ATTRIBUTE_FLAG.extendedLength, attribute.typeCode, (w) => w.bytes(attribute.value));
  }

  const rank = (typeCode: number): number =>
    typeCode === ATTRIBUTE_TYPE.mpReachNlri ? -2 : typeCode === ATTRIBUTE_TYPE.mpUnreachNlri ? -1 : typeCode;
  const ordered = list.map((attribute, index) => ({ attribute, index })).sort((a, b) => rank(a.attribute.typeCode) - rank(b.attribute.typeCode) || a.index - b.index);
  for (const { attribute } of ordered) {
    const extended = attribute.value.length > 255;
    out.u8(extended ? attribute.flags | ATTRIBUTE_FLAG.extendedLength : attribute.flags, `attribute ${String(attribute.typeCode)} flags`);
    out.u8(attribute.typeCode, 'attribute type code');
    if (extended) out.u16(attribute.value.length, `attribute ${String(attribute.typeCode)} length`);
    else out.u8(attribute.value.length, `attribute ${String(attribute.typeCode)} length`);
    out.bytes(attribute.value);
  }
}

function encodeAsPath(out: WireWriter, path: readonly AsPathSegment[], asnBytes: 2 | 4): void {
  for (const segment of path) {
    const typeCode = SEGMENT_TYPES.indexOf(segment.type) + 1;
    if (segment.asns.length === 0 || segment.asns.length > MAX_SEGMENT_ASNS) {
      throw new BgpError('E_BGP_ENCODE', `AS_PATH ${segment.type} segment of ${segment.asns.length} ASNs (1..255)`);
    }
    out.u8(typeCode, 'AS_PATH segment type').u8(segment.asns.length, 'AS_PATH segment length');
    for (const asn of segment.asns) {
      if (asnBytes === 4) out.u32(asn, 'AS number');
      else {
        // Check the full range first, so an out-of-range ASN is not quietly turned into AS_TRANS.
        new WireWriter().u32(asn, 'AS number');
        out.u16(asn > 0xffff ? AS_TRANS : asn, 'AS number');
      }
    }
  }
}

/** The prefix family MP NLRI of this AFI/SAFI is written in; throws `E_BGP_ENCODE` for others. */
function encodableFamily(afi: number, safi: number, name: string): PrefixFamily {
  const family = readableFamily(afi, safi);
  if (family === undefined) {
    throw new BgpError('E_BGP_ENCODE', `${name}: AFI ${String(afi)} SAFI ${String(safi)} is not one we encode (send it as an unknown attribute)`);
  }
  return family;
}

function encodeMpReach(out: WireWriter, reach: MpReach): void {
  const family = encodableFamily(reach.afi, reach.safi, 'MP_REACH_NLRI');
  const hops = reach.nextHops.map((hop) => encodeAddress(hop));
  const lengths = hops.map((hop) => hop?.length ?? 0);
  // RFC 4760 3 with RFC 2545 3 (IPv6: global, optionally link-local) and RFC 8950 3 (IPv6 next
  // hops for IPv4 NLRI); an IPv4 next hop only for IPv4 NLRI.
  const valid =
    (hops.length === 1 && (lengths[0] === 16 || (lengths[0] === 4 && family === 'ipv4'))) ||
    (hops.length === 2 && lengths[0] === 16 && lengths[1] === 16);
  if (!valid) {
    throw new BgpError('E_BGP_ENCODE', `MP_REACH_NLRI next hops [${reach.nextHops.join(', ')}] do not fit AFI ${String(reach.afi)} (one address, or IPv6 global + link-local)`);
  }
  out.u16(reach.afi, 'MP_REACH_NLRI AFI').u8(reach.safi, 'MP_REACH_NLRI SAFI');
  out.u8(lengths.reduce((sum, length) => sum + length, 0), 'next hop length');
  for (const hop of hops) if (hop !== undefined) out.bytes(hop);
  out.u8(0, 'reserved');
  encodeNlri(out, reach.nlri, family);
}

export function ipv4Bytes(address: string, field: string): Uint8Array {
  const bytes = encodeAddress(address);
  if (bytes?.length !== 4) throw new BgpError('E_BGP_ENCODE', `${field} "${address}" is not an IPv4 address`);
  return bytes;
}
