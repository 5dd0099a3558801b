/**
 * TCP behind an interface, so the session logic runs unchanged over real sockets
 * (tcp-transport.ts) and over an in-memory network in tests (memory-transport.ts). A transport
 * moves bytes only: framing, the codec and every timer belong to the session.
 */

export interface BgpConnectOptions {
  readonly remoteAddress: string;
  /** 179 for a real peer (RFC 4271 8.2.1). */
  readonly remotePort: number;
  /** Source address to bind (the per-peer `localAddress`): it also becomes the default NEXT_HOP. */
  readonly localAddress?: string;
  /** IP TTL / IPv6 hop limit for every segment, the SYN included (multihop eBGP, GTSM). */
  readonly ttl?: number;
  /** Abandons the attempt (the ConnectRetryTimer expired, or the session stopped). */
  readonly signal?: AbortSignal;
}

export interface BgpListenOptions {
  readonly port: number;
  /** Addresses to bind; empty or absent: every address, IPv4 and IPv6. */
  readonly addresses?: readonly string[];
}

/**
 * One established TCP connection. Addresses are canonical text (an IPv4 peer reached over a
 * dual-stack socket shows as `10.0.0.1`, never `::ffff:10.0.0.1`).
 */
export interface BgpConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Queues bytes; ignored once the connection is closed. */
  write(bytes: Uint8Array): void;
  /** Sends what is queued (a NOTIFICATION), then closes. */
  end(): void;
  /** Closes at once, dropping anything queued. */
  destroy(): void;
  /** The one data listener; bytes that arrived before it was set are delivered to it. */
  onData(listener: (chunk: Uint8Array) => void): void;
  /** Called once when the connection is closed by either side or fails; `error` says why when it failed. */
  onClose(listener: (error?: Error) => void): void;
  /** Sets the TTL / hop limit of an accepted connection; false when the transport cannot. */
  setTtl?(ttl: number): boolean;
}

export interface BgpListener {
  /** The port actually bound (0 asked for resolved). */
  readonly port: number;
  /** Stops accepting; connections already accepted stay open. */
  close(): Promise<void>;
}

export interface BgpTransport {
  /** Opens a connection; rejects with BgpError E_BGP_SOCKET (errno in the message) or when aborted. */
  connect(opts: BgpConnectOptions): Promise<BgpConnection>;
  /** Accepts connections on `port`; rejects with BgpError E_BGP_SOCKET when it cannot bind. */
  listen(opts: BgpListenOptions, onConnection: (connection: BgpConnection) => void): Promise<BgpListener>;
}
