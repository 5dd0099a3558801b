/**
 * The driver that puts frames on a link: one AF_PACKET SOCK_RAW socket, send-only, through
 * syscall-napi's raw socket(2)/sendto(2) (recipe l2-vrrp-garp.md: no system library, sends in
 * well under a millisecond; Node's dgram has no raw sockets). Needs CAP_NET_RAW.
 *
 * Protocol 0 on purpose: a packet socket bound to htons(ETH_P_ARP) or ETH_P_ALL would have every
 * matching frame on the host queued to it, and nobody reads this one. With 0 it receives
 * nothing, and sendto() still takes the ethertype per frame from sockaddr_ll.
 */
import sys from 'syscall-napi';
import type { Logger } from 'pino';
import { AnnounceError, errnoFromStrerror, syscallMessage } from './errors.js';

const AF_PACKET = 17;
const SOCK_RAW = 3n;
const SOCK_CLOEXEC = 0o2000000n;
/** struct sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16, pkttype u8, halen u8, addr[8]. */
export const SOCKADDR_LL_BYTES = 20;

export interface PacketSocket {
  /**
   * Sends one complete Ethernet frame (header included) out of interface `ifindex`;
   * `ethertype` goes into sockaddr_ll's protocol. Resolves when the kernel has taken the whole
   * frame; rejects with AnnounceError E_ANNOUNCE_SEND / E_ANNOUNCE_PERMISSION / E_ANNOUNCE_CLOSED.
   */
  send(ifindex: number, ethertype: number, frame: Uint8Array): Promise<void>;
  /** Closes the socket once the sends in flight are done; later sends fail. Idempotent. */
  close(): void;
}

export interface PacketSocketInit {
  /** Only for the one thing that cannot be reported to a caller: a failing close(2). */
  readonly logger?: Logger;
}

/** The sockaddr_ll sendto() needs for a SOCK_RAW packet socket: the rest may stay zero. */
export function encodeSockaddrLl(ifindex: number, ethertype: number): Buffer {
  const sa = Buffer.alloc(SOCKADDR_LL_BYTES);
  sa.writeUInt16LE(AF_PACKET, 0); // host order (x86_64, arm64 and arm are little-endian)
  sa.writeUInt16BE(ethertype, 2); // network order
  sa.writeInt32LE(ifindex, 4);
  return sa;
}

function syscallNumber(name: '__NR_socket' | '__NR_sendto' | '__NR_close'): bigint {
  const n = sys[name];
  if (n === undefined) throw new AnnounceError('E_ANNOUNCE_SOCKET', `syscall-napi has no ${name} for ${process.arch}: packet sockets need x64, arm64 or arm`);
  return n;
}

function errorFor(operation: string, err: unknown): AnnounceError {
  const text = syscallMessage(err);
  const errno = errnoFromStrerror(text);
  const permission = errno === 'EPERM' || errno === 'EACCES';
  const hint = permission ? ' (needs CAP_NET_RAW)' : '';
  const code = permission ? 'E_ANNOUNCE_PERMISSION' : operation.startsWith('socket') ? 'E_ANNOUNCE_SOCKET' : 'E_ANNOUNCE_SEND';
  return new AnnounceError(code, `${operation}: ${text}${errno === undefined ? '' : ` (${errno})`}${hint}`, { ...(errno === undefined ? {} : { errno }), cause: err });
}

/**
 * Opens the socket now (synchronously), so a missing CAP_NET_RAW shows at startup rather than
 * at the first failover. Throws AnnounceError E_ANNOUNCE_PERMISSION or E_ANNOUNCE_SOCKET.
 */
export function openPacketSocket(init: PacketSocketInit = {}): PacketSocket {
  const nrSendto = syscallNumber('__NR_sendto');
  const nrClose = syscallNumber('__NR_close');
  let fd: bigint;
  try {
    fd = sys.syscall.sync(syscallNumber('__NR_socket'), BigInt(AF_PACKET), SOCK_RAW | SOCK_CLOEXEC, 0n);
  } catch (err) {
    throw errorFor('socket(AF_PACKET, SOCK_RAW, 0)', err);
  }
  let closing = false;
  let inFlight = 0;
  let released = false;

  // The descriptor is closed only when no send holds it, so a number reused by a later open()
  // can never receive a frame meant for this socket.
  function release(): void {
    if (released || !closing || inFlight > 0) return;
    released = true;
    try {
      sys.syscall.sync(nrClose, fd);
    } catch (err) {
      init.logger?.warn({ err, fd: Number(fd) }, 'closing the packet socket failed');
    }
  }

  return {
    async send(ifindex, ethertype, frame) {
      const what = `sendto(ifindex ${ifindex}, ethertype 0x${ethertype.toString(16).padStart(4, '0')}, ${frame.length} bytes)`;
      if (closing) throw new AnnounceError('E_ANNOUNCE_CLOSED', `${what}: the packet socket is closed`);
      if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0x7fff_ffff) throw new AnnounceError('E_ANNOUNCE_SEND', `${what}: ifindex must be a positive 32-bit integer`);
      if (!Number.isInteger(ethertype) || ethertype < 0 || ethertype > 0xffff) throw new AnnounceError('E_ANNOUNCE_SEND', `${what}: ethertype must be a 16-bit integer`);
      if (frame.length < 14) throw new AnnounceError('E_ANNOUNCE_SEND', `${what}: shorter than an Ethernet header`);
      const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
      inFlight++;
      let sent: bigint;
      try {
        sent = await sys.syscall(nrSendto, fd, buf, BigInt(buf.length), 0n, encodeSockaddrLl(ifindex, ethertype), BigInt(SOCKADDR_LL_BYTES));
      } catch (err) {
        throw errorFor(what, err);
      } finally {
        inFlight--;
        release();
      }
      if (sent !== BigInt(buf.length)) throw new AnnounceError('E_ANNOUNCE_SEND', `${what}: the kernel took ${sent} bytes`);
    },
    close() {
      closing = true;
      release();
    },
  };
}
