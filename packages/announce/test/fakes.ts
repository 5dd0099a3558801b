// Test doubles for the announcer's drivers: a packet socket that records frames, and a link
// table lookup.
import { AnnounceError, type LinkInfo, type LinkLookup, type PacketSocket } from '../src/index.js';

export interface SentFrame {
  readonly ifindex: number;
  readonly ethertype: number;
  readonly frame: Buffer;
  /** performance.now() when send() was called. */
  readonly atMs: number;
}

export interface RecordingSocket extends PacketSocket {
  readonly sent: SentFrame[];
  readonly closed: boolean;
  /** The n-th send (0-based, counted from now) rejects with `error`. */
  failSend(n: number, error: Error): void;
  /** Called after each recorded send (before it resolves). */
  onSend?: (frame: SentFrame) => void;
}

export function recordingSocket(): RecordingSocket {
  const sent: SentFrame[] = [];
  let closed = false;
  let failure: { at: number; error: Error } | undefined;
  const socket: RecordingSocket = {
    sent,
    get closed() {
      return closed;
    },
    failSend(n, error) {
      failure = { at: sent.length + n, error };
    },
    send(ifindex, ethertype, frame) {
      if (closed) return Promise.reject(new AnnounceError('E_ANNOUNCE_CLOSED', 'socket closed'));
      if (failure !== undefined && failure.at === sent.length) {
        const e = failure.error;
        failure = undefined;
        return Promise.reject(e);
      }
      const s = { ifindex, ethertype, frame: Buffer.from(frame), atMs: performance.now() };
      sent.push(s);
      socket.onSend?.(s);
      return Promise.resolve();
    },
    close() {
      closed = true;
    },
  };
  return socket;
}

export function linkTable(links: Readonly<Record<string, LinkInfo>>): LinkLookup {
  return (ifname) => {
    const link = links[ifname];
    return link === undefined ? Promise.reject(new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: no such interface`)) : Promise.resolve(link);
  };
}
