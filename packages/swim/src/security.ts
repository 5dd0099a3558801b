/**
 * Keyring, sealing and replay protection (memberlist security.go, extended with an
 * authenticated sender header and a replay window).
 *
 * Sealed packet / frame:
 *   u8 version (1) | 12-byte random nonce | AES-256-GCM ciphertext | 16-byte tag
 * Plaintext:
 *   u8 senderLength | sender (UTF-8) | u64 bootId | u64 seq | body (codec.ts)
 * Additional authenticated data: [version, kind] with kind 0 = UDP packet, 1 = stream frame, so
 * a packet cannot be replayed into a stream or the other way round.
 *
 * Replay protection: each sender stamps a boot id (start time in ms << 16 | 16 random bits,
 * strictly increasing within a process) and a sequence number that increases per message
 * within the boot. A receiver keeps, per sender name, the newest boot id and a sliding window
 * over sequence numbers (like IPsec's, RFC 4303 3.4.3): a message from an older boot, older
 * than the window, or already seen in the window is a replay.
 *
 * Streams are framed as u32 length | sealed frame; a length over the limit is refused before
 * anything is buffered.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { SwimError } from './errors.js';

export const WIRE_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const FRAME_PREFIX_BYTES = 4;
/** Smallest sealed message: version, nonce, a header with a one-byte sender, tag. */
const MIN_SEALED = 1 + NONCE_BYTES + 1 + 1 + 8 + 8 + TAG_BYTES;

export type SealKind = 'packet' | 'stream';

/** Bytes sealing adds to a body, for a sender name of `senderBytes` UTF-8 bytes. */
export function sealOverhead(senderBytes: number): number {
  return 1 + NONCE_BYTES + TAG_BYTES + 1 + senderBytes + 8 + 8;
}

// ---------------------------------------------------------------- keys

/** base64 of 32 random bytes: a fresh AES-256 key. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

function keyBytes(k: Uint8Array | string, what: string): Uint8Array {
  let bytes: Uint8Array;
  if (typeof k === 'string') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(k)) throw new SwimError('E_KEYRING', `${what} is not base64`);
    bytes = Buffer.from(k, 'base64');
  } else {
    bytes = k;
  }
  if (bytes.length !== KEY_BYTES) throw new SwimError('E_KEYRING', `${what} is ${bytes.length} bytes; AES-256 needs ${KEY_BYTES}`);
  return Uint8Array.from(bytes);
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

interface RingKey { bytes: Uint8Array; key: KeyObject }

/**
 * The keys this node accepts, primary first. Messages are sealed with the primary and opened
 * with whichever key works, so a cluster rotates without a flag day: add the new key everywhere,
 * make it primary everywhere, remove the old one.
 */
export class Keyring {
  #keys: RingKey[];

  static fromBase64(primary: string, secondary: string[] = []): Keyring {
    return new Keyring(keyBytes(primary, 'primary key'), secondary.map((k, i) => keyBytes(k, `secondary key ${i}`)));
  }

  constructor(primary: Uint8Array, secondary: Uint8Array[] = []) {
    this.#keys = [];
    for (const k of [primary, ...secondary]) {
      const bytes = keyBytes(k, 'key');
      if (!this.#keys.some((r) => sameKey(r.bytes, bytes))) this.#keys.push({ bytes, key: createSecretKey(bytes) });
    }
  }

  primaryKey(): Uint8Array {
    return Uint8Array.from((this.#keys[0] as RingKey).bytes);
  }

  /** Copies, primary first. */
  keys(): Uint8Array[] {
    return this.#keys.map((r) => Uint8Array.from(r.bytes));
  }

  /** Accepts messages sealed with `k` too; a key already present is a no-op. */
  addKey(k: Uint8Array | string): void {
    const bytes = keyBytes(k, 'key');
    if (!this.#keys.some((r) => sameKey(r.bytes, bytes))) this.#keys.push({ bytes, key: createSecretKey(bytes) });
  }

  /** Makes a key already on the ring the primary (the one that seals). */
  useKey(k: Uint8Array | string): void {
    const bytes = keyBytes(k, 'key');
    const i = this.#keys.findIndex((r) => sameKey(r.bytes, bytes));
    if (i < 0) throw new SwimError('E_KEYRING', 'useKey: the key is not on the ring; addKey it first');
    const [r] = this.#keys.splice(i, 1);
    this.#keys.unshift(r as RingKey);
  }

  /** Stops accepting a key; the primary cannot be removed (useKey another first). */
  removeKey(k: Uint8Array | string): void {
    const bytes = keyBytes(k, 'key');
    const i = this.#keys.findIndex((r) => sameKey(r.bytes, bytes));
    if (i === 0) throw new SwimError('E_KEYRING', 'removeKey: cannot remove the primary key; useKey another first');
    if (i > 0) this.#keys.splice(i, 1);
  }

  /** @internal the primary's KeyObject. */
  sealingKey(): KeyObject {
    return (this.#keys[0] as RingKey).key;
  }

  /** @internal all KeyObjects, primary first. */
  openingKeys(): readonly KeyObject[] {
    return this.#keys.map((r) => r.key);
  }
}

// ---------------------------------------------------------------- sealing

export interface SealHeader {
  sender: string;
  bootId: bigint;
  seq: number;
}

export type Opened = ({ ok: true; body: Uint8Array } & SealHeader) | { ok: false; reason: 'decrypt' | 'malformed'; detail: string };

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function aad(kind: SealKind): Uint8Array {
  return Uint8Array.of(WIRE_VERSION, kind === 'packet' ? 0 : 1);
}

export function seal(keyring: Keyring, kind: SealKind, header: SealHeader, body: Uint8Array): Uint8Array {
  const sender = utf8.encode(header.sender);
  if (sender.length === 0 || sender.length > 255) throw new RangeError(`sender name of ${sender.length} bytes`);
  const plain = new Uint8Array(1 + sender.length + 16 + body.length);
  const view = new DataView(plain.buffer);
  plain[0] = sender.length;
  plain.set(sender, 1);
  view.setBigUint64(1 + sender.length, header.bootId);
  view.setBigUint64(1 + sender.length + 8, BigInt(header.seq));
  plain.set(body, 1 + sender.length + 16);

  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyring.sealingKey(), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(kind));
  const c1 = cipher.update(plain);
  const c2 = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(1 + NONCE_BYTES + c1.length + c2.length + TAG_BYTES);
  out[0] = WIRE_VERSION;
  out.set(nonce, 1);
  out.set(c1, 1 + NONCE_BYTES);
  out.set(c2, 1 + NONCE_BYTES + c1.length);
  out.set(tag, out.length - TAG_BYTES);
  return out;
}

/** Opens a sealed message with any key on the ring. Never throws. */
export function open(keyring: Keyring, kind: SealKind, sealed: Uint8Array): Opened {
  if (sealed.length < MIN_SEALED) return { ok: false, reason: 'malformed', detail: `${sealed.length} bytes is shorter than any sealed message` };
  if (sealed[0] !== WIRE_VERSION) return { ok: false, reason: 'malformed', detail: `unknown wire version ${sealed[0]}` };
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const ciphertext = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  let plain: Buffer | undefined;
  for (const key of keyring.openingKeys()) {
    try {
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      d.setAAD(aad(kind));
      d.setAuthTag(tag);
      plain = Buffer.concat([d.update(ciphertext), d.final()]);
      break;
    } catch {
      // Wrong key or tampered: try the next key; all failing is counted by the caller.
    }
  }
  if (plain === undefined) return { ok: false, reason: 'decrypt', detail: `no key on the ring opens it (${keyring.openingKeys().length} tried)` };

  // Authenticated, so a bad header means a peer with our key and a bug; still never trusted blindly.
  const senderLength = plain[0] ?? 0;
  if (senderLength === 0 || plain.length < 1 + senderLength + 16) return { ok: false, reason: 'malformed', detail: 'truncated header' };
  let sender: string;
  try {
    sender = strictUtf8.decode(plain.subarray(1, 1 + senderLength));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'sender is not valid UTF-8' };
  }
  const bootId = plain.readBigUInt64BE(1 + senderLength);
  const seqBig = plain.readBigUInt64BE(1 + senderLength + 8);
  if (seqBig > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'malformed', detail: 'sequence number out of range' };
  const body = new Uint8Array(plain.buffer, plain.byteOffset + 1 + senderLength + 16, plain.length - 1 - senderLength - 16);
  return { ok: true, sender, bootId, seq: Number(seqBig), body };
}

let lastBootId = 0n;

/** Start time in ms << 16 | 16 random bits, strictly increasing within this process. */
export function newBootId(): bigint {
  let id = (BigInt(Date.now()) << 16n) | BigInt(randomBytes(2).readUInt16BE(0));
  if (id <= lastBootId) id = lastBootId + 1n;
  lastBootId = id;
  return id;
}

// ---------------------------------------------------------------- replay

interface SenderWindow { bootId: bigint; top: number; bits: Uint32Array; lastHeardMs: number }

export interface ReplayGuardInit {
  /** Sequence numbers tracked behind the newest; a multiple of 32. @default 1024 */
  windowSize?: number;
  /** Senders remembered; the least recently heard is forgotten first. @default 4096 */
  maxSenders?: number;
  /**
   * An older boot id is accepted once the sender's newest boot has been silent this long. Boot
   * ids come from the wall clock, so a member restarted after its clock stepped back would
   * otherwise be refused for as long as its peers run; a replay of a long-silent sender's old
   * messages can only carry old incarnations, which the membership rules ignore.
   * @default 60000
   */
  forgetAfterMs?: number;
  /** @default performance.now */
  now?: () => number;
}

/**
 * Per sender: the newest boot id and a sliding window of seen sequence numbers. Bounded in
 * senders (least recently heard forgotten first) so a key holder inventing names cannot grow it.
 */
export class ReplayGuard {
  readonly #window: number;
  readonly #maxSenders: number;
  readonly #forgetAfterMs: number;
  readonly #now: () => number;
  readonly #senders = new Map<string, SenderWindow>();

  constructor(init: ReplayGuardInit = {}) {
    const windowSize = init.windowSize ?? 1024;
    if (windowSize <= 0 || windowSize % 32 !== 0) throw new RangeError('replay window must be a positive multiple of 32');
    this.#window = windowSize;
    this.#maxSenders = init.maxSenders ?? 4096;
    this.#forgetAfterMs = init.forgetAfterMs ?? 60_000;
    this.#now = init.now ?? (() => performance.now());
  }

  #bit(w: SenderWindow, seq: number): boolean {
    const i = seq % this.#window;
    return ((w.bits[i >>> 5] ?? 0) & (1 << (i & 31))) !== 0;
  }

  #set(w: SenderWindow, seq: number, on: boolean): void {
    const i = seq % this.#window;
    const word = w.bits[i >>> 5] ?? 0;
    w.bits[i >>> 5] = on ? word | (1 << (i & 31)) : word & ~(1 << (i & 31));
  }

  #fresh(sender: string, bootId: bigint, seq: number): true {
    const w: SenderWindow = { bootId, top: seq, bits: new Uint32Array(this.#window / 32), lastHeardMs: this.#now() };
    this.#set(w, seq, true);
    this.#remember(sender, w);
    return true;
  }

  #remember(sender: string, w: SenderWindow): void {
    this.#senders.delete(sender);
    this.#senders.set(sender, w);
    if (this.#senders.size > this.#maxSenders) {
      const oldest = this.#senders.keys().next();
      if (oldest.done !== true) this.#senders.delete(oldest.value);
    }
  }

  /** True (and remembered) if this (boot, seq) was not seen before; false for a replay. */
  accept(sender: string, bootId: bigint, seq: number): boolean {
    const w = this.#senders.get(sender);
    if (w === undefined || bootId > w.bootId) return this.#fresh(sender, bootId, seq);
    if (bootId < w.bootId) {
      if (this.#now() - w.lastHeardMs > this.#forgetAfterMs) return this.#fresh(sender, bootId, seq);
      return false;
    }
    w.lastHeardMs = this.#now();
    if (seq > w.top) {
      const gap = seq - w.top;
      if (gap >= this.#window) w.bits.fill(0);
      else for (let s = w.top + 1; s < seq; s++) this.#set(w, s, false);
      w.top = seq;
      this.#set(w, seq, true);
      this.#remember(sender, w);
      return true;
    }
    if (w.top - seq >= this.#window) return false;
    if (this.#bit(w, seq)) return false;
    this.#set(w, seq, true);
    return true;
  }
}

// ---------------------------------------------------------------- stream framing

export function encodeFrame(sealed: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_PREFIX_BYTES + sealed.length);
  new DataView(out.buffer).setUint32(0, sealed.length);
  out.set(sealed, FRAME_PREFIX_BYTES);
  return out;
}

export class FrameError extends Error {
  readonly reason: 'tooLarge' | 'malformed';

  constructor(reason: 'tooLarge' | 'malformed', message: string) {
    super(message);
    this.name = 'FrameError';
    this.reason = reason;
  }
}

/** Reassembles length-prefixed frames from stream chunks. */
export class FrameReader {
  readonly #max: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes;
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0] as Uint8Array;
      const used = Math.min(c.length, n - off);
      out.set(c.subarray(0, used), off);
      off += used;
      if (used === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(used);
    }
    this.#buffered -= n;
    return out;
  }

  #peekLength(): number {
    const head = this.#buffered >= FRAME_PREFIX_BYTES ? this.#take(FRAME_PREFIX_BYTES) : undefined;
    if (head === undefined) return -1;
    this.#chunks.unshift(head);
    this.#buffered += FRAME_PREFIX_BYTES;
    return new DataView(head.buffer).getUint32(0);
  }

  /** Feeds a chunk; returns the frames it completed. Throws FrameError for a bad length. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      const len = this.#peekLength();
      if (len < 0) break;
      if (len > this.#max) throw new FrameError('tooLarge', `frame of ${len} bytes, limit ${this.#max}`);
      if (len < MIN_SEALED) throw new FrameError('malformed', `frame of ${len} bytes is shorter than any sealed message`);
      if (this.#buffered < FRAME_PREFIX_BYTES + len) break;
      this.#take(FRAME_PREFIX_BYTES);
      frames.push(this.#take(len));
    }
    return frames;
  }
}
