/**
 * The real transport: node:net TCP. Nagle is off (a KEEPALIVE is 19 bytes that must leave
 * now, not after the next ACK), the per-peer source address is bound with `localAddress`, and
 * addresses are reported canonically (an IPv4 peer on a dual-stack listener is `10.0.0.1`).
 *
 * TTL: Node has no TTL option for TCP. For an outbound connection with `ttl`, the socket is
 * created with socket(2) through syscall-napi, IP_TTL (IPv4) or IPV6_UNICAST_HOPS (IPv6) is
 * set with setsockopt(2) while it is still unconnected, and the descriptor is handed to
 * net.Socket, which binds and connects it: the SYN already carries the TTL (checked with
 * tcpdump on Node 20). An accepted connection gets the option on its descriptor after accept,
 * so only its SYN-ACK leaves with the system default. If syscall-napi is unavailable (another
 * architecture, no native build), the connection is made without the option and a warning is
 * logged once per connection.
 *
 * A peer that stops reading while it keeps the connection up (it may still send KEEPALIVEs, so
 * no Hold Timer fires) would make node:net queue our writes in memory without end; once more
 * than `maxQueuedBytes` wait, the connection is reset instead.
 */
import { Server, Socket, createServer } from 'node:net';
import type { Logger } from 'pino';
import { BgpError } from './errors.js';
import { canonicalAddress } from './prefix.js';
import type { BgpConnectOptions, BgpConnection, BgpListenOptions, BgpListener, BgpTransport } from './transport.js';

const AF_INET = 2n;
const AF_INET6 = 10n;
const SOCK_STREAM = 1n;
const SOCK_NONBLOCK = 0o4000n;
const SOCK_CLOEXEC = 0o2000000n;
const IPPROTO_IP = 0n;
const IP_TTL = 2n;
const IPPROTO_IPV6 = 41n;
const IPV6_UNICAST_HOPS = 16n;
/** How long end() waits for the peer's FIN before it resets the connection. */
const LINGER_MS = 3000;
/**
 * Bytes queued for a peer that is not reading, before its connection is reset. A full table of
 * 100 000 /32 VIPs is under 2 MB of UPDATEs and the kernel's socket buffers take megabytes
 * before anything queues here, so only a peer that stopped reading reaches 16 MiB.
 */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

export interface TcpTransportInit {
  /** For what cannot be returned to a caller: a TTL that could not be set, a listener error. */
  readonly logger?: Logger;
  /** Bytes a connection may queue for a peer that does not read before it is reset. @default 16 MiB */
  readonly maxQueuedBytes?: number;
}

/** `::ffff:10.0.0.1` -> `10.0.0.1`; IPv6 in RFC 5952 form. */
export function normalizeSocketAddress(address: string | undefined): string {
  if (address === undefined) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  return canonicalAddress(address) ?? address;
}

function errnoText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === undefined || code === '' || err.message.includes(code) ? err.message : `${err.message} (${code})`;
  }
  return String(err);
}

type Syscalls = typeof import('syscall-napi').default;
let syscalls: Promise<Syscalls | Error> | undefined;

function loadSyscalls(): Promise<Syscalls | Error> {
  syscalls ??= import('syscall-napi').then(
    (m) => m.default,
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
  return syscalls;
}

function setsockoptInt(sys: Syscalls, fd: bigint, level: bigint, name: bigint, value: number): void {
  const nr = sys.__NR_setsockopt;
  if (nr === undefined) throw new Error(`syscall-napi has no setsockopt for ${process.arch}`);
  const buf = Buffer.alloc(4);
  buf.writeInt32LE(value); // int in host order (x86_64, arm64 and arm are little-endian)
  sys.syscall.sync(nr, fd, level, name, buf, 4n);
}

/** IP_TTL for IPv4; for IPv6 the hop limit, plus IP_TTL for IPv4-mapped traffic on a dual-stack socket. */
function setTtlOnFd(sys: Syscalls, fd: bigint, ipv6: boolean, ttl: number): void {
  if (!ipv6) {
    setsockoptInt(sys, fd, IPPROTO_IP, IP_TTL, ttl);
    return;
  }
  setsockoptInt(sys, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
  try {
    setsockoptInt(sys, fd, IPPROTO_IP, IP_TTL, ttl);
  } catch {
    // Only IPv4-mapped peers would need it; a pure IPv6 socket may refuse, which is fine.
  }
}

/** A fresh, unconnected TCP socket with the TTL already set, wrapped by net.Socket. */
function socketWithTtl(sys: Syscalls, ipv6: boolean, ttl: number): Socket {
  const nrSocket = sys.__NR_socket;
  const nrClose = sys.__NR_close;
  if (nrSocket === undefined || nrClose === undefined) throw new Error(`syscall-napi has no socket/close for ${process.arch}`);
  const fd = sys.syscall.sync(nrSocket, ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0n);
  try {
    setTtlOnFd(sys, fd, ipv6, ttl);
    return new Socket({ fd: Number(fd), readable: true, writable: true });
  } catch (err) {
    try {
      sys.syscall.sync(nrClose, fd);
    } catch {
      // The descriptor is lost either way; the original error is what matters.
    }
    throw err;
  }
}

function fdOf(socket: Socket): number | undefined {
  // Node keeps the descriptor on its internal handle; there is no public accessor.
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

class TcpConnection implements BgpConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #socket: Socket;
  readonly #logger: Logger | undefined;
  readonly #maxQueuedBytes: number;
  #dataListener: ((chunk: Uint8Array) => void) | undefined;
  #pending: Uint8Array[] = [];
  #closeListener: ((error?: Error) => void) | undefined;
  #closed: { error?: Error } | undefined;
  #closeReported = false;
  #error: Error | undefined;

  constructor(socket: Socket, logger: Logger | undefined, maxQueuedBytes: number) {
    this.#socket = socket;
    this.#logger = logger;
    this.#maxQueuedBytes = maxQueuedBytes;
    this.localAddress = normalizeSocketAddress(socket.localAddress);
    this.localPort = socket.localPort ?? 0;
    this.remoteAddress = normalizeSocketAddress(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.#dataListener === undefined) this.#pending.push(chunk);
      else this.#dataListener(chunk);
    });
    socket.on('error', (err) => {
      // Reported with the close that always follows.
      this.#error ??= err;
    });
    socket.on('close', () => {
      this.#closed = this.#error === undefined ? {} : { error: new BgpError('E_BGP_SOCKET', errnoText(this.#error), { cause: this.#error }) };
      this.#reportClose();
    });
  }

  write(bytes: Uint8Array): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    this.#socket.write(bytes);
    const queued = this.#socket.writableLength;
    if (queued > this.#maxQueuedBytes) {
      // Reported through onClose with this error, like any other socket failure.
      this.#socket.destroy(new Error(`the peer is not reading: ${queued} bytes queued (more than ${this.#maxQueuedBytes})`));
    }
  }

  end(): void {
    if (this.#socket.destroyed) return;
    this.#socket.end();
    // A peer that never closes its half must not keep the descriptor forever.
    setTimeout(() => this.#socket.destroy(), LINGER_MS).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  setTtl(ttl: number): boolean {
    const fd = fdOf(this.#socket);
    if (fd === undefined) return false;
    // Loaded by connect or listen long before any accepted connection asks.
    const sys = loadedSyscalls;
    if (sys === undefined) return false;
    try {
      setTtlOnFd(sys, BigInt(fd), (this.#socket.localAddress ?? '').includes(':'), ttl);
      return true;
    } catch (err) {
      this.#logger?.warn({ err, remoteAddress: this.remoteAddress, ttl }, 'setting the TTL of an accepted BGP connection failed');
      return false;
    }
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.#dataListener = listener;
    const pending = this.#pending;
    this.#pending = [];
    for (const chunk of pending) listener(chunk);
  }

  onClose(listener: (error?: Error) => void): void {
    this.#closeListener = listener;
    this.#reportClose();
  }

  #reportClose(): void {
    if (this.#closeReported || this.#closeListener === undefined || this.#closed === undefined) return;
    this.#closeReported = true;
    const { error } = this.#closed;
    if (error === undefined) this.#closeListener();
    else this.#closeListener(error);
  }
}

let loadedSyscalls: Syscalls | undefined;

async function syscallsOrWarn(logger: Logger | undefined, what: string): Promise<Syscalls | undefined> {
  const sys = await loadSyscalls();
  if (sys instanceof Error) {
    logger?.warn({ err: sys }, `syscall-napi could not be loaded: ${what} without a TTL`);
    return undefined;
  }
  loadedSyscalls = sys;
  return sys;
}

export function createTcpTransport(init: TcpTransportInit = {}): BgpTransport {
  const logger = init.logger;
  const maxQueuedBytes = init.maxQueuedBytes ?? MAX_QUEUED_BYTES;

  async function connect(opts: BgpConnectOptions): Promise<BgpConnection> {
    const what = `connect ${opts.remoteAddress} port ${opts.remotePort}${opts.localAddress === undefined ? '' : ` from ${opts.localAddress}`}`;
    if (opts.signal?.aborted === true) throw new BgpError('E_BGP_SOCKET', `${what}: aborted`);
    const ipv6 = opts.remoteAddress.includes(':');
    let socket: Socket;
    if (opts.ttl === undefined) {
      socket = new Socket();
    } else {
      const sys = await syscallsOrWarn(logger, what);
      if (sys === undefined) {
        socket = new Socket();
      } else {
        try {
          socket = socketWithTtl(sys, ipv6, opts.ttl);
        } catch (err) {
          logger?.warn({ err, ttl: opts.ttl }, `${what}: could not set the TTL, connecting without it`);
          socket = new Socket();
        }
      }
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        socket.destroy();
        reject(new BgpError('E_BGP_SOCKET', `${what}: aborted`));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      // on, not once: a second 'error' without a listener would crash the process.
      socket.on('error', (err) => {
        opts.signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(new BgpError('E_BGP_SOCKET', `${what}: ${errnoText(err)}`, { cause: err }));
      });
      socket.once('connect', () => {
        opts.signal?.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        resolve(new TcpConnection(socket, logger, maxQueuedBytes));
      });
      try {
        socket.connect({ host: opts.remoteAddress, port: opts.remotePort, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
      } catch (err) {
        opts.signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(new BgpError('E_BGP_SOCKET', `${what}: ${errnoText(err)}`, { cause: err }));
      }
    });
  }

  function listenOne(host: string, port: number, onSocket: (s: Socket) => void): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, onSocket);
      const onError = (err: Error): void => {
        reject(err);
      };
      server.once('error', onError);
      server.listen({ host, port, ...(host === '::' ? { ipv6Only: false } : {}) }, () => {
        server.off('error', onError);
        server.on('error', (err) => logger?.error({ err, host, port }, 'BGP listener error'));
        resolve(server);
      });
    });
  }

  async function listen(opts: BgpListenOptions, onConnection: (c: BgpConnection) => void): Promise<BgpListener> {
    // Accepted connections may ask for a TTL: load syscall-napi now (its absence only costs that).
    const sys = await loadSyscalls();
    if (sys instanceof Error) logger?.debug({ err: sys }, 'syscall-napi unavailable: accepted BGP connections keep the default TTL');
    else loadedSyscalls = sys;
    const onSocket = (socket: Socket): void => {
      try {
        onConnection(new TcpConnection(socket, logger, maxQueuedBytes));
      } catch (err) {
        logger?.error({ err }, 'handling an accepted BGP connection failed');
        socket.destroy();
      }
    };
    const servers: Server[] = [];
    const closeAll = (): Promise<void> =>
      Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
    let port = opts.port;
    const hosts = opts.addresses === undefined || opts.addresses.length === 0 ? undefined : opts.addresses;
    try {
      if (hosts === undefined) {
        try {
          servers.push(await listenOne('::', port, onSocket));
        } catch (err) {
          // No IPv6 on this host: every IPv4 address instead.
          if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
          servers.push(await listenOne('0.0.0.0', port, onSocket));
        }
      } else {
        for (const host of hosts) {
          const server = await listenOne(host, port, onSocket);
          servers.push(server);
          const address = server.address();
          // Port 0: every further address on the port the first one got.
          if (port === 0 && address !== null && typeof address === 'object') port = address.port;
        }
      }
    } catch (err) {
      await closeAll();
      throw new BgpError('E_BGP_SOCKET', `listen on ${hosts?.join(', ') ?? 'all addresses'} port ${opts.port}: ${errnoText(err)}`, { cause: err });
    }
    const first = servers[0]?.address();
    const bound = first !== null && typeof first === 'object' ? first.port : port;
    return { port: bound, close: closeAll };
  }

  return { connect, listen };
}
