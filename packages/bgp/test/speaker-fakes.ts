/**
 * Test support for the session and speaker tests: a hand-driven clock, a silent logger, and a
 * scripted peer (a BGP router played by the test on the memory network, speaking through the
 * real codec).
 */
import { pino, type Logger } from 'pino';
import type { Clock } from '@shoal/model';
import { decodeMessage, encodeMessage } from '../src/codec.js';
import { MessageFramer } from '../src/framer.js';
import type { MemoryHost, MemoryNetwork } from '../src/memory-transport.js';
import type { BgpMessage, Capability, CodecContext, NotificationMessage, OpenMessage, Prefix, UpdateMessage } from '../src/messages.js';
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST } from '../src/messages.js';
import type { BgpConnection } from '../src/transport.js';

/** One real event-loop turn: every microtask (memory-network delivery) and promise chain runs out. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface PendingTimer {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Time moves only in advance(); timers due at the same moment run in the order they were set. */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: PendingTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t: PendingTimer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return t;
  }

  clearTimeout(handle: unknown): void {
    if (handle !== null && typeof handle === 'object' && 'cancelled' in handle) (handle as PendingTimer).cancelled = true;
  }

  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Runs every timer due within `ms`, in order (letting each one's consequences settle), then sets now + ms. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await flush();
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: PendingTimer | undefined;
      for (const t of this.#timers) if (t.due <= end && (next === undefined || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      next.cancelled = true;
      this.#now = Math.max(this.#now, next.due);
      next.fn();
      await flush();
    }
    this.#now = end;
    await flush();
  }

  /** Advances in steps until `done()` or `maxMs`; returns whether it became true. */
  async until(done: () => boolean, maxMs: number, stepMs = 100): Promise<boolean> {
    const end = this.#now + maxMs;
    await flush();
    while (!done() && this.#now < end) await this.advance(Math.min(stepMs, end - this.#now));
    return done();
  }
}

/** Silent unless BGP_TEST_LOG=debug (or another pino level) is set. */
export function testLogger(): Logger {
  return pino({ level: process.env.BGP_TEST_LOG ?? 'silent' });
}

/** One pino line as logged (level as a number: 20 debug, 30 info, 40 warn). */
export type LogLine = Record<string, unknown> & { readonly level: number; readonly msg: string };

/** A logger that keeps every line (debug and up) for the test to read. */
export function capturingLogger(): { readonly logger: Logger; readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

export const FOUR_OCTET: CodecContext = { fourOctetAs: true };

export function prefix(text: string): Prefix {
  const [address = '', length = ''] = text.split('/');
  return { family: address.includes(':') ? 'ipv6' : 'ipv4', address, length: Number(length) };
}

export interface ScriptedPeerInit {
  readonly asn: number;
  readonly bgpId: string;
  readonly holdTimeS?: number;
  /** The OPEN's capabilities. @default 4-octet AS, route refresh, IPv4 + IPv6 unicast */
  readonly capabilities?: readonly Capability[];
  /**
   * Answer like a router: an OPEN for every connection, a KEEPALIVE for the speaker's OPEN, and
   * a KEEPALIVE back for each KEEPALIVE (which keeps the speaker's hold timer running).
   * @default true
   */
  readonly autoAnswer?: boolean;
}

export interface ReceivedMessage {
  readonly connection: number;
  readonly message: BgpMessage;
}

/** A router played by the test: listens (or connects) on the memory network and records every message. */
export class ScriptedPeer {
  readonly host: MemoryHost;
  readonly init: ScriptedPeerInit;
  readonly received: ReceivedMessage[] = [];
  readonly connections: BgpConnection[] = [];
  /** Connection index -> closed. */
  readonly closed = new Set<number>();
  autoAnswer: boolean;

  constructor(network: MemoryNetwork, address: string | readonly string[], init: ScriptedPeerInit) {
    this.host = network.host(address);
    this.init = init;
    this.autoAnswer = init.autoAnswer ?? true;
  }

  static defaultCapabilities(asn: number): Capability[] {
    return [
      { kind: 'multiprotocol', afi: AFI_IPV4, safi: SAFI_UNICAST },
      { kind: 'multiprotocol', afi: AFI_IPV6, safi: SAFI_UNICAST },
      { kind: 'route-refresh' },
      { kind: 'four-octet-as', asn },
    ];
  }

  openMessage(overrides: Partial<OpenMessage> = {}): OpenMessage {
    return {
      type: 'open',
      version: 4,
      asn: this.init.asn,
      holdTimeS: this.init.holdTimeS ?? 90,
      bgpId: this.init.bgpId,
      capabilities: this.init.capabilities ?? ScriptedPeer.defaultCapabilities(this.init.asn),
      ...overrides,
    };
  }

  async listen(port = 179): Promise<void> {
    await this.host.listen({ port }, (connection) => {
      this.#adopt(connection);
    });
  }

  async connect(remoteAddress: string, port = 179): Promise<number> {
    const connection = await this.host.connect({ remoteAddress, remotePort: port });
    return this.#adopt(connection);
  }

  #adopt(connection: BgpConnection): number {
    const index = this.connections.length;
    this.connections.push(connection);
    const framer = new MessageFramer();
    // The OPEN goes first: onData below may deliver bytes that are already waiting at once.
    let openSent = this.autoAnswer;
    if (openSent) this.sendOn(index, this.openMessage());
    connection.onData((chunk) => {
      for (const frame of framer.push(chunk)) {
        const message = decodeMessage(frame, FOUR_OCTET);
        this.received.push({ connection: index, message });
        if (!this.autoAnswer) continue;
        if (message.type === 'open') {
          if (!openSent) this.sendOn(index, this.openMessage());
          openSent = true;
          this.sendOn(index, { type: 'keepalive' });
        } else if (message.type === 'keepalive') {
          this.sendOn(index, { type: 'keepalive' });
        }
      }
    });
    connection.onClose(() => {
      this.closed.add(index);
    });
    return index;
  }

  get last(): BgpConnection | undefined {
    return this.connections[this.connections.length - 1];
  }

  get lastIndex(): number {
    return this.connections.length - 1;
  }

  sendOn(index: number, message: BgpMessage): void {
    this.connections[index]?.write(encodeMessage(message, FOUR_OCTET));
  }

  send(message: BgpMessage): void {
    this.sendOn(this.lastIndex, message);
  }

  messages(type?: BgpMessage['type'], connection?: number): BgpMessage[] {
    return this.received.filter((r) => (connection === undefined || r.connection === connection) && (type === undefined || r.message.type === type)).map((r) => r.message);
  }

  updates(connection?: number): UpdateMessage[] {
    return this.messages('update', connection) as UpdateMessage[];
  }

  notifications(connection?: number): NotificationMessage[] {
    return this.messages('notification', connection) as NotificationMessage[];
  }

  opens(connection?: number): OpenMessage[] {
    return this.messages('open', connection) as OpenMessage[];
  }

  clear(): void {
    this.received.length = 0;
  }
}

/** Every prefix an UPDATE list announces (classic NLRI and MP_REACH_NLRI), as text. */
export function announced(updates: readonly UpdateMessage[]): string[] {
  return updates.flatMap((u) => [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]).map((p) => `${p.address}/${p.length}`);
}

/** Every prefix an UPDATE list withdraws (Withdrawn Routes and MP_UNREACH_NLRI), as text. */
export function withdrawn(updates: readonly UpdateMessage[]): string[] {
  return updates.flatMap((u) => [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])]).map((p) => `${p.address}/${p.length}`);
}
