/**
 * Typed errors with stable codes. The catalog is the single place a code is defined and
 * described; the README's error table is checked against it by a test.
 */

/** Every code a SwimError can carry, with what it means to a caller. */
export const SWIM_ERROR_CODES = {
  E_CONFIG: 'a configuration field or init value is invalid; the message names the field',
  E_KEYRING: 'a key is not 32 bytes of valid base64, or a keyring change would leave no primary key',
  E_META_TOO_LARGE: 'the encoded metadata is larger than config.metaMaxBytes',
  E_JOIN: 'join was given seeds and none of them answered a push-pull',
  E_SHUTDOWN: 'the instance has been shut down',
  E_DECODE: 'bytes from a peer are not a valid message (internal: counted and dropped, never thrown to callers)',
} as const;

export type SwimErrorCode = keyof typeof SWIM_ERROR_CODES;

export class SwimError extends Error {
  readonly code: SwimErrorCode;

  constructor(code: SwimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SwimError';
    this.code = code;
  }
}
