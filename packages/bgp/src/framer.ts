/**
 * TCP byte stream -> whole BGP messages. The header is checked as its bytes arrive (RFC 4271
 * 6.1), so a peer that is not speaking BGP is caught on its first bad byte, and at most one
 * message (4096 bytes) is ever held.
 */
import { BgpProtocolError } from './errors.js';
import { ERROR_CODE, HEADER_BYTES, HEADER_SUBCODE, MAX_MESSAGE_BYTES, MESSAGE_TYPE } from './messages.js';

const MARKER_BYTES = 16;
const LENGTH_OFFSET = 16;
const TYPE_OFFSET = 18;

/** RFC 4271 4.2-4.5: the smallest (and for KEEPALIVE the only) length of each message type. */
const MIN_LENGTH_BY_TYPE: ReadonlyMap<number, number> = new Map([
  [MESSAGE_TYPE.open, 29],
  [MESSAGE_TYPE.update, 23],
  [MESSAGE_TYPE.notification, 21],
  [MESSAGE_TYPE.keepalive, 19],
  // RFC 7313 5: a ROUTE-REFRESH of the wrong length has its own error (ROUTE-REFRESH Message
  // Error / Invalid Message Length, with the whole message), so the codec checks it, not us.
  [MESSAGE_TYPE.routeRefresh, 19],
]);

/** Checks the first `count` marker bytes: RFC 4271 6.1, all ones or Connection Not Synchronized. */
export function checkMarker(bytes: Uint8Array, count = MARKER_BYTES): void {
  const end = Math.min(count, MARKER_BYTES, bytes.length);
  for (let i = 0; i < end; i++) {
    if (bytes[i] !== 0xff) {
      throw new BgpProtocolError(ERROR_CODE.messageHeader, HEADER_SUBCODE.connectionNotSynchronized, `message marker byte ${i} is 0x${(bytes[i] ?? 0).toString(16)}, not 0xff`);
    }
  }
}

function badLength(header: Uint8Array, reason: string): BgpProtocolError {
  // RFC 4271 6.1: the Data field is the erroneous Length field.
  return new BgpProtocolError(ERROR_CODE.messageHeader, HEADER_SUBCODE.badMessageLength, reason, lengthField(header));
}

/** A copy of the length field (a Buffer's `slice` would be a view of the caller's bytes). */
export function lengthField(header: Uint8Array): Uint8Array {
  return new Uint8Array(header.subarray(LENGTH_OFFSET, TYPE_OFFSET));
}

function readLength(header: Uint8Array): number {
  return ((header[LENGTH_OFFSET] ?? 0) << 8) | (header[LENGTH_OFFSET + 1] ?? 0);
}

/** The length field alone (known before the type arrives): within 19..4096. */
function checkLengthRange(header: Uint8Array): number {
  const length = readLength(header);
  if (length < HEADER_BYTES || length > MAX_MESSAGE_BYTES) throw badLength(header, `message length ${length} is outside ${HEADER_BYTES}..${MAX_MESSAGE_BYTES}`);
  return length;
}

/**
 * Validates a whole 19-byte header per RFC 4271 6.1 and returns its length and type. Throws
 * BgpProtocolError: Connection Not Synchronized (bad marker), Bad Message Length (data: the
 * length field), Bad Message Type (data: the type octet).
 */
export function checkHeader(header: Uint8Array): { readonly length: number; readonly type: number } {
  checkMarker(header);
  if (header.length < HEADER_BYTES) {
    throw new BgpProtocolError(
      ERROR_CODE.messageHeader,
      HEADER_SUBCODE.badMessageLength,
      `${header.length} bytes are fewer than a message header`,
      lengthField(header),
    );
  }
  const length = checkLengthRange(header);
  const type = header[TYPE_OFFSET] ?? 0;
  const minLength = MIN_LENGTH_BY_TYPE.get(type);
  if (minLength === undefined) {
    throw new BgpProtocolError(ERROR_CODE.messageHeader, HEADER_SUBCODE.badMessageType, `message type ${type} is unknown`, Uint8Array.of(type));
  }
  if (length < minLength || (type === MESSAGE_TYPE.keepalive && length !== HEADER_BYTES)) {
    throw badLength(header, `message type ${type} cannot be ${length} bytes long`);
  }
  return { length, type };
}

/**
 * Reassembles TCP chunks into whole messages (header included). `push` returns every message
 * the chunk completes, each a fresh copy; a partial message stays in a fixed 4096-byte buffer.
 * A bad header throws BgpProtocolError at the byte that shows it; the session then sends that
 * NOTIFICATION and closes, so messages completed earlier in the same chunk are not returned,
 * and every later `push` throws the same error again.
 */
export class MessageFramer {
  readonly #pending = new Uint8Array(MAX_MESSAGE_BYTES);
  #filled = 0;
  /** The current message's length once its header is complete, else 0. */
  #expected = 0;
  #failure: BgpProtocolError | undefined;

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      return this.#consume(chunk);
    } catch (error) {
      if (error instanceof BgpProtocolError) this.#failure = error;
      throw error;
    }
  }

  /** Bytes of an incomplete message held (0 between messages). */
  get buffered(): number {
    return this.#filled;
  }

  #consume(chunk: Uint8Array): Uint8Array[] {
    const messages: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#expected === 0) {
        const take = Math.min(HEADER_BYTES - this.#filled, chunk.length - at);
        this.#pending.set(chunk.subarray(at, at + take), this.#filled);
        const before = this.#filled;
        this.#filled += take;
        at += take;
        const header = this.#pending.subarray(0, this.#filled);
        if (before < MARKER_BYTES) checkMarker(header, this.#filled);
        if (this.#filled < HEADER_BYTES) {
          if (this.#filled >= TYPE_OFFSET) checkLengthRange(header);
          continue;
        }
        this.#expected = checkHeader(header).length;
      } else {
        const take = Math.min(this.#expected - this.#filled, chunk.length - at);
        this.#pending.set(chunk.subarray(at, at + take), this.#filled);
        this.#filled += take;
        at += take;
      }
      if (this.#filled === this.#expected) {
        messages.push(this.#pending.slice(0, this.#expected));
        this.#filled = 0;
        this.#expected = 0;
      }
    }
    return messages;
  }
}
