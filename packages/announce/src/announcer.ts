/**
 * The layer-2 announcer: tells the link that a VIP now lives at this node's MAC, so neighbours
 * that hold an entry for the VIP (the clients that talk to it) move it from the old owner.
 * IPv4: gratuitous ARP; IPv6: unsolicited neighbour advertisements with Override.
 *
 * One call is one burst. Whether and when to announce again (periodic refresh, as keepalived's
 * garp_master_refresh) is the ownership loop's decision: it knows what this node owns.
 * A GARP/NA only updates existing entries (Linux: arp_accept=0, accept_untracked_na=0 by
 * default), which is what failover needs; a client that never talked to the VIP simply asks.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { formatMac, macBytes, vipFamily } from './address.js';
import { announceConfig, type AnnounceConfig, type AnnounceInit } from './config.js';
import { AnnounceError } from './errors.js';
import { ETH_P_ARP, ETH_P_IPV6, gratuitousArp, unsolicitedNeighborAdvertisement } from './frames.js';
import { createNetlinkLinkLookup, type LinkInfo, type LinkLookup, type NetlinkLinkLookup } from './links.js';
import { openPacketSocket, type PacketSocket } from './packet-socket.js';

export interface AnnounceResult {
  /** The VIP as given. */
  readonly vip: string;
  readonly family: 4 | 6;
  readonly ifname: string;
  readonly ifindex: number;
  /** The MAC the VIP was announced at (the interface's own). */
  readonly mac: string;
  /** Frames the kernel took: repeat x arpOps.length for IPv4, repeat for IPv6. */
  readonly frames: number;
  /** From the call until the kernel took the first frame (the link lookup is most of it). */
  readonly firstFrameMs: number;
  /** From the call to the last frame sent, link lookup and pauses between rounds included. */
  readonly durationMs: number;
}

export interface Announcer {
  /**
   * Sends one burst announcing `vip` at `ifname`'s MAC. The caller must already hold the VIP
   * (the address is on an interface of this node). Rejects with AnnounceError:
   * E_ANNOUNCE_ADDRESS, E_ANNOUNCE_LINK, E_ANNOUNCE_SEND, E_ANNOUNCE_PERMISSION, E_ANNOUNCE_CLOSED.
   * A failed send ends the burst; the next announcement (the caller's refresh) starts afresh.
   */
  announce(vip: string, ifname: string): Promise<AnnounceResult>;
  /** Stops bursts in progress (they reject with E_ANNOUNCE_CLOSED) and releases what it opened. */
  close(): void;
}

export interface L2AnnouncerInit {
  /** A child `{ component: 'announce' }` is used. */
  readonly logger: Logger;
  readonly config?: AnnounceInit;
  /**
   * The packet socket; the caller keeps ownership (close() leaves it open).
   * @default openPacketSocket(), opened at once (a missing CAP_NET_RAW fails here, at startup).
   */
  readonly socket?: PacketSocket;
  /**
   * Interface name -> ifindex and MAC.
   * @default rtnetlink RTM_GETLINK over one socket, opened now and held until close() (see
   * links.ts for why rtnetlink; opened now so the first failover does not pay for it).
   */
  readonly links?: LinkLookup;
}

function closedError(vip: string, ifname: string): AnnounceError {
  return new AnnounceError('E_ANNOUNCE_CLOSED', `announce ${vip} on ${ifname}: the announcer is closed`);
}

/** Throws AnnounceError E_ANNOUNCE_CONFIG, E_ANNOUNCE_PERMISSION or E_ANNOUNCE_SOCKET. */
export function createL2Announcer(init: L2AnnouncerInit): Announcer {
  const log = init.logger.child({ component: 'announce' });
  const config: AnnounceConfig = announceConfig(init.config);
  const ownSocket = init.socket === undefined;
  const socket = init.socket ?? openPacketSocket({ logger: log });
  let netlinkLinks: NetlinkLinkLookup | undefined;
  let lookup: LinkLookup;
  if (init.links === undefined) {
    netlinkLinks = createNetlinkLinkLookup({ logger: init.logger, eager: true });
    lookup = netlinkLinks.lookup;
  } else {
    lookup = init.links;
  }
  const stop = new AbortController();
  // A function, not the property inline: close() may flip it during any await of a burst.
  const closed = (): boolean => stop.signal.aborted;

  async function resolveLink(vip: string, ifname: string): Promise<LinkInfo> {
    try {
      return await lookup(ifname);
    } catch (err) {
      if (closed()) throw closedError(vip, ifname); // the lookup's socket went with close()
      if (err instanceof AnnounceError) throw err;
      throw new AnnounceError('E_ANNOUNCE_LINK', `announce ${vip} on ${ifname}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  return {
    async announce(vip, ifname) {
      const started = performance.now();
      const family = vipFamily(vip);
      if (closed()) throw closedError(vip, ifname);
      const link = await resolveLink(vip, ifname);
      const mac = macBytes(link.mac);
      const [ethertype, round] =
        family === 4
          ? [ETH_P_ARP, config.arpOps.map((op) => ({ op, frame: gratuitousArp(op, mac, vip) }))]
          : [ETH_P_IPV6, [{ op: 'na' as const, frame: unsolicitedNeighborAdvertisement(mac, vip) }]];
      let frames = 0;
      let firstFrameMs = 0;
      try {
        for (let r = 0; r < config.repeat; r++) {
          if (r > 0 && config.intervalMs > 0) await sleep(config.intervalMs, undefined, { signal: stop.signal });
          for (const { op, frame } of round) {
            if (closed()) throw closedError(vip, ifname);
            await socket.send(link.ifindex, ethertype, frame);
            if (frames === 0) firstFrameMs = performance.now() - started;
            frames++;
            log.debug({ vip, ifname, round: r, op }, 'announcement frame sent');
          }
        }
      } catch (err) {
        const error = closed() ? closedError(vip, ifname) : err;
        log.warn({ vip, ifname, framesSent: frames, err: error }, 'announcement burst ended early');
        throw error;
      }
      const result: AnnounceResult = { vip, family, ifname, ifindex: link.ifindex, mac: formatMac(mac), frames, firstFrameMs, durationMs: performance.now() - started };
      log.info({ vip, ifname, family, mac: result.mac, frames, firstFrameMs: Math.round(firstFrameMs * 100) / 100, durationMs: Math.round(result.durationMs * 10) / 10 }, 'VIP announced');
      return result;
    },
    close() {
      if (closed()) return;
      stop.abort();
      if (ownSocket) socket.close();
      netlinkLinks?.close().catch((err: unknown) => {
        log.warn({ err }, 'closing the link lookup failed');
      });
    },
  };
}
