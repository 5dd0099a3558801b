/**
 * The network behind an interface (memberlist transport.go): unreliable packets for probes and
 * gossip, reliable streams for push-pull. The real one is UDP + TCP on one port; memory.ts is an
 * in-memory network for tests. Transports move bytes only: sealing, framing and limits are the
 * protocol's job, so both implementations are exercised by the same protocol code.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';

export interface Endpoint {
  address: string;
  port: number;
}

/** One reliable, ordered byte stream (a TCP connection). */
export interface Stream {
  readonly remote: Endpoint;
  /** Queues bytes; ignored once closed. */
  write(data: Uint8Array): void;
  /** Closes after queued bytes are sent. */
  end(): void;
  /** Closes at once, dropping anything queued. */
  destroy(): void;
  /** The one data listener; bytes that arrived before it was set are delivered to it. */
  onData(listener: (chunk: Uint8Array) => void): void;
  /** Called once when the stream is closed by either side or fails. */
  onClose(listener: () => void): void;
}

export interface Transport {
  /** The address and port actually bound (a requested port 0 resolved). */
  readonly address: string;
  readonly port: number;
  /** Best effort, like UDP: no error for a packet that is lost; local send errors go to onError. */
  sendPacket(to: Endpoint, data: Uint8Array): void;
  /** The one packet listener (a later call replaces it). */
  onPacket(listener: (data: Uint8Array, from: Endpoint) => void): void;
  /** Opens a stream; rejects if it cannot connect within `timeoutMs`. */
  dialStream(to: Endpoint, timeoutMs: number): Promise<Stream>;
  /** The one listener for inbound streams (a later call replaces it). */
  onStream(listener: (stream: Stream) => void): void;
  /** Errors the transport cannot return to a caller (a failed send, a socket error). */
  onError(listener: (err: Error) => void): void;
  /** Stops listening and closes every stream. */
  close(): Promise<void>;
}

export interface UdpTcpTransportInit {
  /** IP address to bind both sockets to (0.0.0.0 or :: for all). */
  bindAddress: string;
  /** Port for both UDP and TCP; 0 picks a free one (the same for both). */
  bindPort: number;
}

class TcpStream implements Stream {
  readonly remote: Endpoint;
  readonly #socket: TcpSocket;
  #closed = false;
  #closeListener: (() => void) | undefined;

  constructor(socket: TcpSocket) {
    this.#socket = socket;
    this.remote = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    socket.setNoDelay(true);
    socket.on('error', () => {
      // Surfaces as 'close'; the protocol treats any failed stream the same way.
    });
    socket.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#closeListener?.();
    });
  }

  write(data: Uint8Array): void {
    if (this.#closed || this.#socket.destroyed) return;
    this.#socket.write(data);
  }

  end(): void {
    if (this.#closed) return;
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.#socket.on('data', (chunk: Buffer) => {
      listener(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }

  onClose(listener: () => void): void {
    if (this.#closed) queueMicrotask(listener);
    else this.#closeListener = listener;
  }
}

class UdpTcpTransport implements Transport {
  readonly address: string;
  readonly port: number;
  readonly #udp: UdpSocket;
  readonly #tcp: Server;
  readonly #sockets = new Set<TcpSocket>();
  #packetListener: (data: Uint8Array, from: Endpoint) => void = () => undefined;
  #streamListener: (stream: Stream) => void = (s) => {
    s.destroy();
  };
  #errorListener: (err: Error) => void = () => undefined;
  #closed = false;

  constructor(address: string, port: number, udp: UdpSocket, tcp: Server) {
    this.address = address;
    this.port = port;
    this.#udp = udp;
    this.#tcp = tcp;
    udp.on('message', (msg, rinfo) => {
      this.#packetListener(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address: rinfo.address, port: rinfo.port });
    });
    udp.on('error', (err) => {
      this.#errorListener(err);
    });
    tcp.on('connection', (socket) => {
      if (this.#closed) {
        socket.destroy();
        return;
      }
      this.#track(socket);
      this.#streamListener(new TcpStream(socket));
    });
    tcp.on('error', (err) => {
      this.#errorListener(err);
    });
  }

  #track(socket: TcpSocket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  sendPacket(to: Endpoint, data: Uint8Array): void {
    if (this.#closed) return;
    this.#udp.send(data, to.port, to.address, (err) => {
      if (err !== null) this.#errorListener(err);
    });
  }

  onPacket(listener: (data: Uint8Array, from: Endpoint) => void): void {
    this.#packetListener = listener;
  }

  onStream(listener: (stream: Stream) => void): void {
    this.#streamListener = listener;
  }

  onError(listener: (err: Error) => void): void {
    this.#errorListener = listener;
  }

  dialStream(to: Endpoint, timeoutMs: number): Promise<Stream> {
    if (this.#closed) return Promise.reject(new Error('transport closed'));
    return new Promise((resolve, reject) => {
      const socket = connect({ host: to.address, port: to.port });
      this.#track(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${to.address}:${to.port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TcpStream(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#sockets) s.destroy();
    const tcpClosed = new Promise<void>((resolve) => {
      this.#tcp.close(() => {
        resolve();
      });
    });
    const udpClosed = new Promise<void>((resolve) => {
      this.#udp.close(() => {
        resolve();
      });
    });
    await Promise.all([tcpClosed, udpClosed]);
  }
}

async function bindUdp(address: string, port: number): Promise<UdpSocket> {
  const udp = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
  const failed = once(udp, 'error');
  udp.bind(port, address);
  const result = await Promise.race([once(udp, 'listening').then(() => undefined), failed.then(([err]) => err as Error)]);
  if (result instanceof Error) {
    udp.close();
    throw result;
  }
  return udp;
}

async function listenTcp(address: string, port: number): Promise<Server> {
  const tcp = createServer({ pauseOnConnect: false });
  const failed = once(tcp, 'error');
  tcp.listen({ host: address, port, exclusive: true });
  const result = await Promise.race([once(tcp, 'listening').then(() => undefined), failed.then(([err]) => err as Error)]);
  if (result instanceof Error) {
    tcp.close();
    throw result;
  }
  return tcp;
}

/**
 * UDP and TCP bound to the same address and port. With port 0, UDP picks a free port and TCP
 * takes the same one, retrying with another if TCP finds it taken (memberlist does the same).
 */
export async function createUdpTcpTransport(opts: UdpTcpTransportInit): Promise<Transport> {
  const attempts = opts.bindPort === 0 ? 10 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const udp = await bindUdp(opts.bindAddress, opts.bindPort);
    const port = udp.address().port;
    try {
      const tcp = await listenTcp(opts.bindAddress, port);
      return new UdpTcpTransport(opts.bindAddress, port, udp, tcp);
    } catch (err) {
      lastError = err;
      await new Promise<void>((resolve) => {
        udp.close(() => {
          resolve();
        });
      });
    }
  }
  throw lastError instanceof Error ? lastError : new Error(`could not bind ${opts.bindAddress}:${opts.bindPort}`);
}
