/**
 * NOTIFICATION code/subcode -> the names the RFCs give them, for status and logs
 * ("Cease/Administrative Shutdown", as BIRD and FRR print them).
 */
import { ERROR_CODE } from './messages.js';

const CODE_NAMES: Readonly<Record<number, string>> = {
  [ERROR_CODE.messageHeader]: 'Message Header Error',
  [ERROR_CODE.openMessage]: 'OPEN Message Error',
  [ERROR_CODE.updateMessage]: 'UPDATE Message Error',
  [ERROR_CODE.holdTimerExpired]: 'Hold Timer Expired',
  [ERROR_CODE.fsm]: 'Finite State Machine Error',
  [ERROR_CODE.cease]: 'Cease',
  [ERROR_CODE.routeRefresh]: 'ROUTE-REFRESH Message Error',
};

const SUBCODE_NAMES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  // RFC 4271 4.5
  [ERROR_CODE.messageHeader]: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  [ERROR_CODE.openMessage]: {
    1: 'Unsupported Version Number',
    2: 'Bad Peer AS',
    3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter',
    6: 'Unacceptable Hold Time',
    7: 'Unsupported Capability', // RFC 5492
    11: 'Role Mismatch', // RFC 9234
  },
  [ERROR_CODE.updateMessage]: {
    1: 'Malformed Attribute List',
    2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute',
    4: 'Attribute Flags Error',
    5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute',
    8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error',
    10: 'Invalid Network Field',
    11: 'Malformed AS_PATH',
  },
  // RFC 6608
  [ERROR_CODE.fsm]: { 1: 'Receive Unexpected Message in OpenSent State', 2: 'Receive Unexpected Message in OpenConfirm State', 3: 'Receive Unexpected Message in Established State' },
  // RFC 4486, RFC 8538 (9: Hard Reset), RFC 9384 (10: BFD Down)
  [ERROR_CODE.cease]: {
    1: 'Maximum Number of Prefixes Reached',
    2: 'Administrative Shutdown',
    3: 'Peer De-configured',
    4: 'Administrative Reset',
    5: 'Connection Rejected',
    6: 'Other Configuration Change',
    7: 'Connection Collision Resolution',
    8: 'Out of Resources',
    9: 'Hard Reset',
    10: 'BFD Down',
  },
  [ERROR_CODE.routeRefresh]: { 1: 'Invalid Message Length' }, // RFC 7313
};

/**
 * "Cease/Administrative Shutdown", "OPEN Message Error/Bad Peer AS", "Hold Timer Expired";
 * with the RFC 8203 shutdown communication appended when a Cease carries one.
 */
export function describeNotification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): string {
  const name = CODE_NAMES[code] ?? `error code ${code}`;
  const sub = subcode === 0 ? undefined : (SUBCODE_NAMES[code]?.[subcode] ?? `subcode ${subcode}`);
  let text = sub === undefined ? name : `${name}/${sub}`;
  const communication = shutdownCommunication(code, subcode, data);
  if (communication !== undefined) text += `: "${communication}"`;
  return text;
}

/** RFC 9003 (was 8203): Cease/Administrative Shutdown or Reset may carry a length-prefixed UTF-8 message. */
function shutdownCommunication(code: number, subcode: number, data: Uint8Array): string | undefined {
  if (code !== ERROR_CODE.cease || (subcode !== 2 && subcode !== 4) || data.length < 1) return undefined;
  const length = data[0] ?? 0;
  if (length === 0 || length + 1 > data.length) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(1, 1 + length));
  } catch {
    return undefined;
  }
}
