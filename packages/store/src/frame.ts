/**
 * Length + checksum framing for the snapshot and WAL files. Pure: no I/O.
 *
 * Frame layout (all integers big-endian):
 *
 *     [u32 payload length][u32 crc32(length bytes ++ payload)][payload]
 *
 * The checksum covers the length field too, so a flipped bit in the length is caught, and an
 * all-zero region (what some filesystems expose for a tail whose size was extended but whose
 * data never reached the disk) never decodes as a run of empty frames: crc32 of four zero bytes
 * is 0x2144df1c, not 0.
 */
import { crc32 } from 'node:zlib';
import { ShoalError } from '@shoal/model';

/** Bytes of header in front of every payload. */
export const FRAME_HEADER_BYTES = 8;

/**
 * Largest payload a frame may carry. A length above it is treated as corruption rather than as a
 * reason to wait for (or allocate) that many bytes. A full-state snapshot of a large cluster is a
 * few MB, so this leaves two orders of magnitude of headroom.
 */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** Why decodeFrames stopped. */
export type FrameStop =
  /** Every byte was consumed by whole, valid frames. */
  | 'end'
  /** The buffer ends inside a header or a payload (a torn write). */
  | 'truncated'
  /** A header announces more than MAX_FRAME_BYTES. */
  | 'oversize'
  /** The checksum does not match. */
  | 'checksum';

export interface DecodedFrames {
  /** Payloads of the valid prefix, in order. Views into the input buffer, not copies. */
  payloads: Uint8Array[];
  /** Length of the valid prefix: the offset of the first bad frame, or the input length. */
  validBytes: number;
  /** Bytes from the first bad frame to the end of the input (0 when everything decoded). */
  tornTailBytes: number;
  stoppedBy: FrameStop;
}

function checksum(buf: Uint8Array, lengthAt: number, payloadLength: number): number {
  const lengthBytes = buf.subarray(lengthAt, lengthAt + 4);
  const payloadAt = lengthAt + FRAME_HEADER_BYTES;
  return crc32(buf.subarray(payloadAt, payloadAt + payloadLength), crc32(lengthBytes));
}

function frameInto(target: Uint8Array, at: number, payload: Uint8Array): number {
  if (payload.byteLength > MAX_FRAME_BYTES) {
    throw new ShoalError('E_INTERNAL', `frame payload of ${payload.byteLength} bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`);
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint32(at, payload.byteLength);
  target.set(payload, at + FRAME_HEADER_BYTES);
  view.setUint32(at + 4, checksum(target, at, payload.byteLength));
  return at + FRAME_HEADER_BYTES + payload.byteLength;
}

/** Frames one payload. The result is a fresh buffer; the payload is copied. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  frameInto(out, 0, payload);
  return out;
}

/** Frames several payloads back to back into one buffer (one write for a whole batch). */
export function encodeFrames(payloads: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of payloads) total += FRAME_HEADER_BYTES + p.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of payloads) at = frameInto(out, at, p);
  return out;
}

/**
 * Decodes frames from the start of `buf` and stops at the first frame that is incomplete,
 * oversize or fails its checksum; nothing after that point is trusted, because a frame boundary
 * can only be found by walking the valid frames before it.
 */
export function decodeFrames(buf: Uint8Array): DecodedFrames {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const payloads: Uint8Array[] = [];
  let at = 0;
  let stoppedBy: FrameStop = 'end';
  while (at < buf.byteLength) {
    if (buf.byteLength - at < FRAME_HEADER_BYTES) {
      stoppedBy = 'truncated';
      break;
    }
    const length = view.getUint32(at);
    if (length > MAX_FRAME_BYTES) {
      stoppedBy = 'oversize';
      break;
    }
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > buf.byteLength) {
      stoppedBy = 'truncated';
      break;
    }
    if (view.getUint32(at + 4) !== checksum(buf, at, length)) {
      stoppedBy = 'checksum';
      break;
    }
    payloads.push(buf.subarray(at + FRAME_HEADER_BYTES, end));
    at = end;
  }
  return { payloads, validBytes: at, tornTailBytes: buf.byteLength - at, stoppedBy };
}
