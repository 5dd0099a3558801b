/**
 * The wire format between replicas: the Yjs sync protocol's messages (y-protocols/sync:
 * step 1 carries a state vector, step 2 the update a peer lacks, update a fresh local write),
 * each `varUint type, varUint8Array payload`, several to a body. Two exchanges use them:
 *
 *   push:  [update | step2]            -> [step1(receiver's state vector, after it is durable)]
 *   sync:  [step1(sender's vector)]    -> [step2(what the sender lacks), step1(receiver's vector)]
 *
 * The receiver's state vector in every answer is the acknowledgement: a write is on a peer once
 * that peer's vector covers the writer's clock (see store.localClock).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { ShoalError } from '@shoal/model';

// y-protocols/sync message types.
export const MESSAGE_SYNC_STEP1 = 0;
export const MESSAGE_SYNC_STEP2 = 1;
export const MESSAGE_UPDATE = 2;

export type SyncMessage =
  | { readonly type: typeof MESSAGE_SYNC_STEP1; readonly stateVector: Uint8Array }
  | { readonly type: typeof MESSAGE_SYNC_STEP2 | typeof MESSAGE_UPDATE; readonly update: Uint8Array };

/** A peer sent bytes that are not a well-formed message sequence. */
export class ReplicationProtocolError extends ShoalError {
  constructor(message: string, cause?: unknown) {
    super('E_BAD_REQUEST', `replication: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'ReplicationProtocolError';
  }
}

export function encodeMessages(messages: readonly SyncMessage[]): Uint8Array {
  const enc = encoding.createEncoder();
  for (const m of messages) {
    encoding.writeVarUint(enc, m.type);
    encoding.writeVarUint8Array(enc, m.type === MESSAGE_SYNC_STEP1 ? m.stateVector : m.update);
  }
  return encoding.toUint8Array(enc);
}

/** Decodes a body defensively: anything malformed is a ReplicationProtocolError, nothing else escapes. */
export function decodeMessages(body: Uint8Array): SyncMessage[] {
  const out: SyncMessage[] = [];
  const dec = decoding.createDecoder(body);
  try {
    while (decoding.hasContent(dec)) {
      const type = decoding.readVarUint(dec);
      const payload = decoding.readVarUint8Array(dec);
      if (type === MESSAGE_SYNC_STEP1) {
        decodeVector(payload); // validate now, so a bad vector fails here and not deep in Yjs
        out.push({ type, stateVector: payload });
      } else if (type === MESSAGE_SYNC_STEP2 || type === MESSAGE_UPDATE) {
        out.push({ type, update: payload });
      } else {
        throw new ReplicationProtocolError(`unknown message type ${type}`);
      }
    }
  } catch (err) {
    if (err instanceof ReplicationProtocolError) throw err;
    throw new ReplicationProtocolError('truncated or malformed message', err);
  }
  return out;
}

/** A state vector as client id -> clock. */
export function decodeVector(stateVector: Uint8Array): Map<number, number> {
  try {
    return Y.decodeStateVector(stateVector);
  } catch (err) {
    throw new ReplicationProtocolError('malformed state vector', err);
  }
}

/** True when `ours` holds some struct `theirs` lacks. */
export function vectorAhead(ours: ReadonlyMap<number, number>, theirs: ReadonlyMap<number, number>): boolean {
  for (const [client, clock] of ours) if (clock > (theirs.get(client) ?? 0)) return true;
  return false;
}
