/**
 * Push-pull (memberlist pushPullNode / handleConn): a full state exchange over a stream, one
 * sealed frame each way. Periodically with one random live member (anti-entropy: repairs what
 * lossy gossip missed, SWIM's dissemination being only probabilistic), with a dead member now
 * and then (so a healed partition finds itself again), and with every seed on join.
 *
 * Dialer: send our state, read theirs, merge. Acceptor: read theirs, merge, send ours (merged
 * first, unlike memberlist, so any refutation the merge caused is already in the reply), close.
 */
import type { Logger } from 'pino';
import type { TimerSet } from '@shoal/model';
import { DecodeError, decodeMessage, encodeMessage, type PushPullMessage } from './codec.js';
import type { SwimConfig } from './config.js';
import type { Wire } from './net.js';
import { FrameError, FrameReader } from './security.js';
import type { Endpoint, Stream, Transport } from './transport.js';

export interface PushPullComponents {
  config: SwimConfig;
  timers: TimerSet;
  logger: Logger;
  transport: Transport;
  wire: Wire;
  counters: { streamsOpened: number; streamsAccepted: number };
  localState(join: boolean): PushPullMessage;
  merge(remote: PushPullMessage): void;
}

/** Why a push-pull failed; only used in logs and join's error cause. */
export class PushPullError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PushPullError';
  }
}

/** Reads exactly one frame, within `timeoutMs`. Bad frames are counted as drops by the caller. */
function readFrame(stream: Stream, c: PushPullComponents, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(c.config.maxStreamFrameBytes);
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      cancel();
      fn();
    };
    const cancel = c.timers.after(timeoutMs, () => {
      settle(() => {
        reject(new PushPullError(`no whole frame within ${timeoutMs} ms`));
      });
    });
    stream.onData((chunk) => {
      if (settled) return;
      try {
        const [frame] = reader.push(chunk);
        if (frame !== undefined) {
          settle(() => {
            resolve(frame);
          });
        }
      } catch (err) {
        settle(() => {
          reject(err instanceof Error ? err : new PushPullError('bad frame', { cause: err }));
        });
      }
    });
    stream.onClose(() => {
      settle(() => {
        reject(new PushPullError('stream closed before a whole frame arrived'));
      });
    });
  });
}

/** Reads, opens and decodes the peer's push-pull; counts the drop and throws if it is not one. */
async function receiveState(stream: Stream, c: PushPullComponents): Promise<PushPullMessage> {
  let frame: Uint8Array;
  try {
    frame = await readFrame(stream, c, c.config.tcpTimeoutMs);
  } catch (err) {
    if (err instanceof FrameError) c.wire.drop(err.reason, stream.remote, err.message);
    throw err;
  }
  const inbound = c.wire.openFrame(frame, stream.remote);
  if (inbound === undefined) throw new PushPullError('frame refused (see dropped counters)');
  let m;
  try {
    m = decodeMessage(inbound.body);
  } catch (err) {
    if (err instanceof DecodeError) {
      c.wire.drop('malformed', stream.remote, err.message);
      throw new PushPullError(`undecodable push-pull from ${inbound.sender}`, { cause: err });
    }
    throw err;
  }
  if (m.type !== 'push-pull') {
    c.wire.drop('malformed', stream.remote, `${m.type} message on a stream`);
    throw new PushPullError(`${m.type} message on a stream from ${inbound.sender}`);
  }
  return m;
}

/** Dials `to`, exchanges state, merges. Rejects with the reason it failed. */
export async function pushPullWith(c: PushPullComponents, to: Endpoint, join: boolean): Promise<void> {
  const stream = await c.transport.dialStream(to, c.config.tcpTimeoutMs);
  c.counters.streamsOpened++;
  try {
    stream.write(c.wire.frame(encodeMessage(c.localState(join))));
    const remote = await receiveState(stream, c);
    c.merge(remote);
  } finally {
    stream.end();
  }
}

/** Serves one inbound stream. Never rejects: failures are logged and the stream closed. */
export async function acceptPushPull(c: PushPullComponents, stream: Stream): Promise<void> {
  c.counters.streamsAccepted++;
  try {
    const remote = await receiveState(stream, c);
    c.merge(remote);
    stream.write(c.wire.frame(encodeMessage(c.localState(false))));
    stream.end();
  } catch (err) {
    c.logger.debug({ from: `${stream.remote.address}:${stream.remote.port}`, err }, 'swim: inbound push-pull failed');
    stream.destroy();
  }
}
