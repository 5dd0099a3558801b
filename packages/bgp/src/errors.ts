/**
 * Typed errors. Two kinds:
 * - `BgpProtocolError`: what a peer sent (or failed to send) breaks the protocol. It carries
 *   the NOTIFICATION the RFC asks for, so the session layer only has to send it and close.
 * - `BgpError`: everything local (bad config, socket failures, a stopped speaker), with a
 *   stable code from the catalog below.
 */

/** Every code a BgpError can carry, with what it means to a caller. */
export const BGP_ERROR_CODES = {
  E_BGP_CONFIG: 'a BGP configuration field is invalid; the message names the field',
  E_BGP_ENCODE: 'a message could not be encoded (a value out of range, or larger than 4096 bytes)',
  E_BGP_SOCKET: 'a TCP socket could not be opened, bound or connected (errno in the message)',
  E_BGP_STOPPED: 'the speaker or session was stopped',
} as const;

export type BgpErrorCode = keyof typeof BGP_ERROR_CODES;

export class BgpError extends Error {
  readonly code: BgpErrorCode;

  constructor(code: BgpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BgpError';
    this.code = code;
  }
}

/**
 * A protocol violation by the peer. `code`/`subcode`/`data` are exactly the NOTIFICATION to
 * send (RFC 4271 6.x names which); `message` explains it for logs.
 */
export class BgpProtocolError extends Error {
  readonly notificationCode: number;
  readonly notificationSubcode: number;
  readonly data: Uint8Array;

  constructor(code: number, subcode: number, message: string, data: Uint8Array = new Uint8Array(0)) {
    super(message);
    this.name = 'BgpProtocolError';
    this.notificationCode = code;
    this.notificationSubcode = subcode;
    this.data = data;
  }
}
