/**
 * The address events stream: RTM_NEWADDR / RTM_DELADDR multicast on NETLINK_ROUTE, so a VIP
 * removed by hand (or by another tool) is noticed at once rather than at the next resync.
 *
 * node-netlink 0.0.4 cannot be used for this: its reply matcher compares a BigInt sequence
 * number with the number 0, so every multicast message is taken for an unknown reply and
 * logged as an error. The socket here comes from po6-socket (the layer node-netlink itself
 * is built on), bound to the address groups; parsing reuses this package's pure codecs.
 */
import po6socket from 'po6-socket';
import type { Logger } from 'pino';
import { AF_NETLINK, NETLINK_ROUTE, RTM_DELADDR, RTM_NEWADDR } from './constants.js';
import { decodeNlMsgs, parseAddress, type InterfaceAddress } from './messages.js';

/** rtnetlink multicast groups (linux/rtnetlink.h, the legacy bitmask form). */
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV6_IFADDR = 0x100;

export interface AddressEvent {
  readonly kind: 'added' | 'removed';
  readonly address: InterfaceAddress;
}

/** struct sockaddr_nl: u16 family, u16 pad, u32 pid (0: the kernel assigns), u32 groups. */
export function encodeSockaddrNl(groups: number, pid = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  b.writeUInt32LE(pid, 4);
  b.writeUInt32LE(groups >>> 0, 8);
  return b;
}

/** The address events in one datagram; anything else (or a malformed message) is skipped. */
export function decodeAddressEvents(datagram: Buffer, onMalformed?: (err: unknown) => void): AddressEvent[] {
  const out: AddressEvent[] = [];
  let messages;
  try {
    messages = decodeNlMsgs(datagram);
  } catch (err) {
    onMalformed?.(err);
    return out;
  }
  for (const m of messages) {
    if (m.header.type !== RTM_NEWADDR && m.header.type !== RTM_DELADDR) continue;
    try {
      out.push({ kind: m.header.type === RTM_NEWADDR ? 'added' : 'removed', address: parseAddress(m.payload) });
    } catch (err) {
      onMalformed?.(err);
    }
  }
  return out;
}

export interface AddressWatch {
  close(): Promise<void>;
}

/** Calls `onEvent` for every IPv4/IPv6 address added or removed in this network namespace. */
export async function watchAddresses(onEvent: (event: AddressEvent) => void, opts: { logger?: Logger } = {}): Promise<AddressWatch> {
  const log = opts.logger?.child({ component: 'netlink-events' });
  const sock = await po6socket.create({ domain: BigInt(AF_NETLINK), type: 2n /* SOCK_DGRAM */, protocol: BigInt(NETLINK_ROUTE) });
  await sock.bind({ sockaddr: encodeSockaddrNl(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR) });
  sock.on('message', ({ data }) => {
    for (const e of decodeAddressEvents(data, (err) => log?.warn({ err }, 'malformed address event skipped'))) {
      try {
        onEvent(e);
      } catch (err) {
        log?.error({ err }, 'address event listener threw');
      }
    }
  });
  return { close: () => sock.close() };
}
