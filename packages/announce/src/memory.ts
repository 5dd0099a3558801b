/**
 * An in-memory Announcer for tests of the ownership logic: it records every call and answers
 * like the real one (same VIP validation, frame counts from the same config, E_ANNOUNCE_LINK for
 * an interface it does not know, E_ANNOUNCE_CLOSED after close), without sockets or root.
 */
import { formatMac, macBytes, vipFamily } from './address.js';
import type { AnnounceResult, Announcer } from './announcer.js';
import { announceConfig, type AnnounceInit } from './config.js';
import { AnnounceError } from './errors.js';
import type { LinkInfo } from './links.js';

export interface AnnounceCall {
  readonly vip: string;
  readonly ifname: string;
  /** The result, or the error the call rejected with. */
  readonly outcome: { readonly ok: true; readonly result: AnnounceResult } | { readonly ok: false; readonly error: Error };
}

export interface MemoryAnnouncer extends Announcer {
  /** Every announce() call in order, failed ones included. */
  readonly calls: readonly AnnounceCall[];
  /** The VIPs announced successfully on `ifname` (any interface when omitted), in call order. */
  announced(ifname?: string): string[];
  /** Makes the next announce() reject once with `error`, as a failing send would. */
  failNext(error: Error): void;
  readonly closed: boolean;
}

export interface MemoryAnnouncerInit {
  readonly config?: AnnounceInit;
  /**
   * The interfaces it knows.
   * @default any name is accepted, as ifindex 1 with MAC 02:00:00:00:00:01.
   */
  readonly links?: Readonly<Record<string, LinkInfo>>;
}

const ANY_LINK: LinkInfo = { ifindex: 1, mac: '02:00:00:00:00:01' };

export function createMemoryAnnouncer(init: MemoryAnnouncerInit = {}): MemoryAnnouncer {
  const config = announceConfig(init.config);
  const calls: AnnounceCall[] = [];
  let nextFailure: Error | undefined;
  let closed = false;

  function attempt(vip: string, ifname: string): AnnounceResult {
    const family = vipFamily(vip);
    if (closed) throw new AnnounceError('E_ANNOUNCE_CLOSED', `announce ${vip} on ${ifname}: the announcer is closed`);
    const link = init.links === undefined ? ANY_LINK : init.links[ifname];
    if (link === undefined) throw new AnnounceError('E_ANNOUNCE_LINK', `link ${ifname}: no such interface`, { errno: 'ENODEV' });
    if (nextFailure !== undefined) {
      const e = nextFailure;
      nextFailure = undefined;
      throw e;
    }
    const frames = config.repeat * (family === 4 ? config.arpOps.length : 1);
    return { vip, family, ifname, ifindex: link.ifindex, mac: formatMac(macBytes(link.mac)), frames, firstFrameMs: 0, durationMs: 0 };
  }

  return {
    calls,
    announced: (ifname) => calls.flatMap((c) => (c.outcome.ok && (ifname === undefined || c.ifname === ifname) ? [c.vip] : [])),
    failNext(error) {
      nextFailure = error;
    },
    get closed() {
      return closed;
    },
    announce(vip, ifname) {
      try {
        const result = attempt(vip, ifname);
        calls.push({ vip, ifname, outcome: { ok: true, result } });
        return Promise.resolve(result);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        calls.push({ vip, ifname, outcome: { ok: false, error } });
        return Promise.reject(error);
      }
    },
    close() {
      closed = true;
    },
  };
}
