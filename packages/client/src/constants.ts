/** Defaults for ShoalClientInit, each with the reason it is what it is. */
export const CLIENT_DEFAULTS = {
  /** Time one endpoint gets to answer, from connecting to the last byte of the body. */
  timeoutMs: 10_000,
  /**
   * Time to establish TCP and TLS with one endpoint. Short, because a dead node behind a
   * blackholed route would otherwise hold the call for the kernel's SYN retries (~2 min)
   * before the next endpoint is tried; a live LAN peer handshakes in milliseconds.
   */
  connectTimeoutMs: 3_000,
  /** Verify the server certificate against `ca`; turn off only to debug. */
  rejectUnauthorized: true,
  /** Sockets per endpoint; enough for a controller fanning out writes. */
  maxSockets: 64,
  /**
   * Idle keep-alive sockets are closed after this. Below shoald's 65 s keep-alive so the client
   * closes first: a request written onto a socket the server is closing is the one failure that
   * can be neither retried (it may have been processed) nor avoided. Node also honours a
   * shorter `Keep-Alive: timeout=N` hint from the server (minus 1 s).
   */
  idleSocketTimeoutMs: 30_000,
} as const;

export const USER_AGENT = 'shoal-client/0.1.0';
