/**
 * OPEN Optional Parameters and the capabilities they carry (RFC 5492): multiprotocol (RFC 4760
 * 8), route refresh (RFC 2918), graceful restart (RFC 4724 3, N bit RFC 8538), 4-octet AS
 * (RFC 6793); anything else is kept as `unknown`. Decodes the RFC 9072 extended Optional
 * Parameters Length, and encodes it only when the parameters do not fit 255 octets.
 *
 * Whether a capability is acceptable (peer AS, families, required capabilities) is the
 * session's decision; this file only reads and writes them.
 */
import { BgpError, BgpProtocolError } from './errors.js';
import { ERROR_CODE, OPEN_SUBCODE, type Capability } from './messages.js';
import { copyBytes, WireReader, WireWriter } from './wire.js';

/** IANA capability codes we interpret. */
export const CAPABILITY_CODE = {
  multiprotocol: 1,
  routeRefresh: 2,
  gracefulRestart: 64,
  fourOctetAs: 65,
} as const;

/** RFC 5492 4: the Optional Parameter that carries capabilities. */
export const PARAMETER_TYPE_CAPABILITIES = 2;
/** RFC 9072 2: Non-Ext OP Type 255 marks the extended encoding. */
const PARAMETER_TYPE_EXTENDED_LENGTH = 255;
/** RFC 4271 6.2: a recognized Optional Parameter that is malformed -> subcode 0 (Unspecific). */
export const OPEN_SUBCODE_UNSPECIFIC = 0;

// RFC 4724 3: Restart Flags are the top 4 bits of the first 16; R is the most significant,
// N (RFC 8538 2) the next; Restart Time is the low 12 bits. F is the top bit of each AFI's flags.
const GR_RESTARTING_BIT = 0x8000;
const GR_NOTIFICATION_BIT = 0x4000;
const GR_RESTART_TIME_MASK = 0x0fff;
const GR_FORWARDING_PRESERVED_BIT = 0x80;

function malformedOpen(reason: string): BgpProtocolError {
  return new BgpProtocolError(ERROR_CODE.openMessage, OPEN_SUBCODE_UNSPECIFIC, `OPEN optional parameters: ${reason}`);
}

// ---- one capability -----------------------------------------------------------------------

/** One capability as Code, Length, Value (RFC 5492 4). Throws `E_BGP_ENCODE` for values out of range. */
export function encodeCapability(capability: Capability): Uint8Array {
  const value = new WireWriter();
  let code: number;
  switch (capability.kind) {
    case 'multiprotocol':
      code = CAPABILITY_CODE.multiprotocol;
      // RFC 4760 8: AFI (2), Reserved (1), SAFI (1).
      value.u16(capability.afi, 'multiprotocol AFI').u8(0, 'reserved').u8(capability.safi, 'multiprotocol SAFI');
      break;
    case 'route-refresh':
      code = CAPABILITY_CODE.routeRefresh;
      break;
    case 'four-octet-as':
      code = CAPABILITY_CODE.fourOctetAs;
      value.u32(capability.asn, 'four-octet AS');
      break;
    case 'graceful-restart': {
      code = CAPABILITY_CODE.gracefulRestart;
      if (!Number.isInteger(capability.restartTimeS) || capability.restartTimeS < 0 || capability.restartTimeS > GR_RESTART_TIME_MASK) {
        throw new BgpError('E_BGP_ENCODE', `graceful restart time ${String(capability.restartTimeS)} s is out of range 0..4095`);
      }
      const flags = (capability.restarting ? GR_RESTARTING_BIT : 0) | (capability.notification ? GR_NOTIFICATION_BIT : 0);
      value.u16(flags | capability.restartTimeS, 'graceful restart flags and time');
      for (const family of capability.families) {
        value.u16(family.afi, 'graceful restart AFI').u8(family.safi, 'graceful restart SAFI');
        value.u8(family.forwardingPreserved ? GR_FORWARDING_PRESERVED_BIT : 0, 'graceful restart AFI flags');
      }
      break;
    }
    case 'unknown':
      code = capability.code;
      value.bytes(capability.value);
      break;
  }
  const body = value.toBytes();
  return new WireWriter().u8(code, 'capability code').u8(body.length, 'capability length').bytes(body).toBytes();
}

/**
 * The capabilities in one Capabilities parameter's value; RFC 5492 4 allows several in one
 * parameter. A capability overrunning the parameter, or a known one whose value has the wrong
 * shape, makes the parameter malformed: OPEN Message Error / Unspecific (RFC 4271 6.2).
 */
export function decodeCapabilities(parameterValue: Uint8Array): Capability[] {
  const reader = new WireReader(parameterValue, malformedOpen);
  const capabilities: Capability[] = [];
  while (reader.remaining > 0) {
    const code = reader.u8('capability code');
    const length = reader.u8('capability length');
    const value = reader.bytes(length, `capability ${code} value`);
    capabilities.push(decodeCapability(code, value));
  }
  return capabilities;
}

function decodeCapability(code: number, value: Uint8Array): Capability {
  const reader = new WireReader(value, (reason) => malformedOpen(`capability ${code}: ${reason}`));
  switch (code) {
    case CAPABILITY_CODE.multiprotocol: {
      if (value.length !== 4) throw malformedOpen(`multiprotocol capability of ${value.length} bytes (RFC 4760 8: 4)`);
      const afi = reader.u16('AFI');
      reader.u8('reserved');
      return { kind: 'multiprotocol', afi, safi: reader.u8('SAFI') };
    }
    case CAPABILITY_CODE.routeRefresh:
      if (value.length !== 0) throw malformedOpen(`route refresh capability of ${value.length} bytes (RFC 2918 2: 0)`);
      return { kind: 'route-refresh' };
    case CAPABILITY_CODE.fourOctetAs:
      if (value.length !== 4) throw malformedOpen(`four-octet AS capability of ${value.length} bytes (RFC 6793 3: 4)`);
      return { kind: 'four-octet-as', asn: reader.u32('AS number') };
    case CAPABILITY_CODE.gracefulRestart: {
      if (value.length < 2 || (value.length - 2) % 4 !== 0) {
        throw malformedOpen(`graceful restart capability of ${value.length} bytes (RFC 4724 3: 2 + 4 per AFI/SAFI)`);
      }
      const flagsAndTime = reader.u16('restart flags and time');
      const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
      while (reader.remaining > 0) {
        const afi = reader.u16('AFI');
        const safi = reader.u8('SAFI');
        families.push({ afi, safi, forwardingPreserved: (reader.u8('AFI flags') & GR_FORWARDING_PRESERVED_BIT) !== 0 });
      }
      return {
        kind: 'graceful-restart',
        restarting: (flagsAndTime & GR_RESTARTING_BIT) !== 0,
        notification: (flagsAndTime & GR_NOTIFICATION_BIT) !== 0,
        restartTimeS: flagsAndTime & GR_RESTART_TIME_MASK,
        families,
      };
    }
    default:
      return { kind: 'unknown', code, value: copyBytes(value) };
  }
}

// ---- the Optional Parameters field --------------------------------------------------------

/**
 * Writes the OPEN's Optional Parameters, starting with its length octet. All capabilities go
 * in Capabilities parameters of at most 255 octets each (as BIRD does, one parameter while it
 * fits); when the whole field would exceed 255 octets it uses the RFC 9072 2 extended encoding
 * (Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet lengths) with a single parameter.
 */
export function encodeOptionalParameters(out: WireWriter, capabilities: readonly Capability[]): void {
  const encoded = capabilities.map(encodeCapability);
  const parameters: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let currentLength = 0;
  for (const capability of encoded) {
    if (currentLength + capability.length > 255 && current.length > 0) {
      parameters.push(current);
      current = [];
      currentLength = 0;
    }
    current.push(capability);
    currentLength += capability.length;
  }
  if (current.length > 0) parameters.push(current);
  const parameterLength = (caps: Uint8Array[]): number => caps.reduce((sum, cap) => sum + cap.length, 0);
  const regularLength = parameters.reduce((sum, caps) => sum + 2 + parameterLength(caps), 0);
  if (regularLength <= 255) {
    out.u8(regularLength, 'optional parameters length');
    for (const caps of parameters) {
      out.u8(PARAMETER_TYPE_CAPABILITIES, 'parameter type').u8(parameterLength(caps), 'parameter length');
      for (const cap of caps) out.bytes(cap);
    }
    return;
  }
  const all = encoded.reduce((sum, cap) => sum + cap.length, 0);
  out.u8(255, 'non-extended optional parameters length').u8(PARAMETER_TYPE_EXTENDED_LENGTH, 'non-extended parameter type');
  out.u16(3 + all, 'extended optional parameters length');
  out.u8(PARAMETER_TYPE_CAPABILITIES, 'parameter type').u16(all, 'extended parameter length');
  for (const cap of encoded) out.bytes(cap);
}

/**
 * Reads the Optional Parameters field: from its length octet to the end of the OPEN message,
 * which must be where the parameters end. RFC 9072 2: a non-zero length octet followed by type
 * 255 means the extended encoding, whatever that length octet says. A parameter other than
 * Capabilities -> OPEN Message Error / Unsupported Optional Parameter (RFC 4271 6.2); lengths
 * that disagree with the message -> OPEN Message Error / Unspecific.
 */
export function decodeOptionalParameters(field: Uint8Array): Capability[] {
  const reader = new WireReader(field, malformedOpen);
  const nonExtendedLength = reader.u8('optional parameters length');
  const extended = nonExtendedLength !== 0 && field.length > 1 && field[1] === PARAMETER_TYPE_EXTENDED_LENGTH;
  let parametersLength = nonExtendedLength;
  if (extended) {
    reader.u8('non-extended parameter type');
    parametersLength = reader.u16('extended optional parameters length');
  }
  if (parametersLength !== reader.remaining) {
    throw malformedOpen(`parameters length ${parametersLength} but ${reader.remaining} bytes follow`);
  }
  const capabilities: Capability[] = [];
  while (reader.remaining > 0) {
    const type = reader.u8('parameter type');
    const length = extended ? reader.u16('parameter length') : reader.u8('parameter length');
    const value = reader.bytes(length, `parameter ${type} value`);
    if (type !== PARAMETER_TYPE_CAPABILITIES) {
      throw new BgpProtocolError(
        ERROR_CODE.openMessage,
        OPEN_SUBCODE.unsupportedOptionalParameter,
        `OPEN optional parameter type ${type} is not supported`,
      );
    }
    capabilities.push(...decodeCapabilities(value));
  }
  return capabilities;
}
