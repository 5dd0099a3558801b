/**
 * The wire (memberlist net.go): turns encoded messages into sealed packets and frames and back,
 * and is where everything a peer sends is checked before the protocol sees it: size, key,
 * replay, sender. Every refusal is counted by reason and logged at debug; nothing throws.
 */
import type { Logger } from 'pino';
import type { Clock } from '@shoal/model';
import { encodePacketBody } from './codec.js';
import type { SwimConfig } from './config.js';
import { ReplayGuard, encodeFrame, newBootId, open, seal, type Keyring, type SealKind } from './security.js';
import type { Endpoint, Transport } from './transport.js';

export type DropReason = 'decrypt' | 'malformed' | 'replay' | 'tooLarge';

export interface WireCounters {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  streamsOpened: number;
  streamsAccepted: number;
  dropped: Record<DropReason, number>;
}

export interface WireComponents {
  name: string;
  config: SwimConfig;
  keyring: Keyring;
  transport: Transport;
  logger: Logger;
  clock: Clock;
  counters: WireCounters;
}

export interface Inbound {
  sender: string;
  body: Uint8Array;
}

export class Wire {
  readonly bootId = newBootId();
  readonly #c: WireComponents;
  readonly #replay: ReplayGuard;
  #seq = 0;

  constructor(c: WireComponents) {
    this.#c = c;
    this.#replay = new ReplayGuard({ windowSize: c.config.replayWindow, now: () => c.clock.now() });
  }

  #seal(kind: SealKind, body: Uint8Array): Uint8Array {
    this.#seq++;
    return seal(this.#c.keyring, kind, { sender: this.#c.name, bootId: this.bootId, seq: this.#seq }, body);
  }

  sendPacket(to: Endpoint, parts: Uint8Array[]): void {
    const packet = this.#seal('packet', encodePacketBody(parts));
    this.#c.counters.packetsSent++;
    this.#c.counters.bytesSent += packet.length;
    this.#c.transport.sendPacket(to, packet);
  }

  /** A length-prefixed sealed frame for a stream. */
  frame(body: Uint8Array): Uint8Array {
    const f = encodeFrame(this.#seal('stream', body));
    this.#c.counters.bytesSent += f.length;
    return f;
  }

  drop(reason: DropReason, from: Endpoint, detail: string): void {
    this.#c.counters.dropped[reason]++;
    this.#c.logger.debug({ reason, from: `${from.address}:${from.port}`, detail }, 'swim: dropped inbound message');
  }

  /** A UDP packet's body, or undefined (counted) if it must be dropped. */
  openPacket(data: Uint8Array, from: Endpoint): Inbound | undefined {
    this.#c.counters.packetsReceived++;
    this.#c.counters.bytesReceived += data.length;
    if (data.length > this.#c.config.udpBufferSize) {
      this.drop('tooLarge', from, `${data.length} byte packet, udpBufferSize ${this.#c.config.udpBufferSize}`);
      return undefined;
    }
    return this.#open('packet', data, from);
  }

  /** A stream frame's body (the length prefix already stripped), or undefined (counted). */
  openFrame(sealed: Uint8Array, from: Endpoint): Inbound | undefined {
    this.#c.counters.bytesReceived += sealed.length + 4;
    return this.#open('stream', sealed, from);
  }

  #open(kind: SealKind, sealed: Uint8Array, from: Endpoint): Inbound | undefined {
    const opened = open(this.#c.keyring, kind, sealed);
    if (!opened.ok) {
      this.drop(opened.reason, from, opened.detail);
      return undefined;
    }
    // Our own message coming back can only be a reflection: nobody else has our name.
    if (opened.sender === this.#c.name) {
      this.drop('replay', from, 'message from ourselves');
      return undefined;
    }
    if (!this.#replay.accept(opened.sender, opened.bootId, opened.seq)) {
      this.drop('replay', from, `seen before: ${opened.sender} boot ${opened.bootId} seq ${opened.seq}`);
      return undefined;
    }
    return { sender: opened.sender, body: opened.body };
  }
}
