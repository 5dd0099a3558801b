/**
 * The socket layer: one AF_NETLINK socket (node-netlink), one request at a time, replies
 * collected until the ACK or NLMSG_DONE, NLMSG_ERROR turned into a NetlinkError.
 *
 * Why one at a time: node-netlink 0.0.4 keeps pending replies in a map that its multipart
 * path rebuilds from the current seq only (`requested = { [seq]: ... }`), so two requests in
 * flight on one socket can lose each other's resolver. Serialising costs nothing for a
 * control plane that programs the kernel from one reconcile loop.
 *
 * Not here: event subscriptions. node-netlink filters "seq 0" by comparing a BigInt with the
 * number 0, so multicast notifications reach its request matcher and are dropped with a
 * console warning. Link/address/IPVS events need a socket layer of our own (a later change).
 */
import type { Logger } from 'pino';
import { NetlinkError, NetlinkTransportError } from './errors.js';
import type { NetlinkMessage, NetlinkRequest } from './messages.js';

export interface NetlinkConnection {
  /** Sends one request and resolves with the replies (without the ACK / NLMSG_DONE). */
  request(req: NetlinkRequest, options?: { readonly timeoutMs?: number }): Promise<NetlinkMessage[]>;
  close(): Promise<void>;
}

export interface NetlinkConnectionInit {
  readonly logger?: Logger;
  /**
   * How long one request may wait for its last reply.
   * @default 10000 (a 10k-service IPVS dump under TCG takes ~1 s; anything slower is a hang)
   */
  readonly timeoutMs?: number;
}

export const NETLINK_DEFAULTS = { timeoutMs: 10_000 } as const;

/** Opens a netlink socket of `protocol` (NETLINK_ROUTE, NETLINK_GENERIC, ...). */
export async function openNetlink(protocol: number, init: NetlinkConnectionInit = {}): Promise<NetlinkConnection> {
  const log = init.logger?.child({ component: 'netlink', protocol });
  const defaultTimeoutMs = init.timeoutMs ?? NETLINK_DEFAULTS.timeoutMs;
  const { default: netlink } = await import('node-netlink');
  let sock: Awaited<ReturnType<typeof netlink.open>>;
  try {
    sock = await netlink.open({ family: protocol });
  } catch (err) {
    throw new NetlinkTransportError(`cannot open a netlink socket (protocol ${protocol})`, err);
  }
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function reopen(cause: unknown): Promise<void> {
    const old = sock;
    try {
      sock = await netlink.open({ family: protocol });
      log?.warn({ err: cause instanceof Error ? cause.message : String(cause) }, 'netlink request failed; socket reopened');
    } catch (err) {
      log?.error({ err }, 'netlink request failed and the socket cannot be reopened; keeping the old one');
      return;
    }
    await old.close().catch((err: unknown) => log?.debug({ err }, 'closing the old netlink socket failed'));
  }

  async function send(req: NetlinkRequest, timeoutMs: number): Promise<NetlinkMessage[]> {
    if (closed) throw new NetlinkTransportError(`${req.describe}: socket closed`);
    const started = performance.now();
    let answer: Awaited<ReturnType<typeof sock.tryTalk>>;
    try {
      answer = await sock.tryTalk({ header: { nlmsg_type: BigInt(req.type), nlmsg_flags: BigInt(req.flags) }, payload: req.payload }, { timeout: timeoutMs });
    } catch (err) {
      // After a timed-out request node-netlink's reply matching can stay broken for every later
      // request on the socket (seen in the BGP bench: one RTM_GETLINK dump timed out, then every
      // one after it, for minutes). Start over on a fresh socket; this request still fails, and
      // the caller's next attempt gets the new socket.
      await reopen(err);
      throw new NetlinkTransportError(`${req.describe}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    log?.debug({ request: req.describe, replies: answer.packets.length, errno: answer.errorCode, ms: Math.round(performance.now() - started) }, 'netlink request');
    if (answer.errorCode !== 0) throw new NetlinkError(answer.errorCode, req.describe);
    return answer.packets.map((p) => ({
      header: { type: Number(p.header.nlmsg_type), flags: Number(p.header.nlmsg_flags), seq: Number(p.header.nlmsg_seq), pid: Number(p.header.nlmsg_pid) },
      payload: p.payload,
    }));
  }

  return {
    request(req, options) {
      const run = chain.then(() => send(req, options?.timeoutMs ?? defaultTimeoutMs));
      chain = run.catch(() => undefined);
      return run;
    },
    async close() {
      if (closed) return;
      closed = true;
      await chain;
      await sock.close();
    },
  };
}
