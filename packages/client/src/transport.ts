/**
 * The wire: one keep-alive agent per endpoint, and failover across endpoints.
 *
 * Endpoints are tried in order starting from the last one that answered (so a client sticks to
 * a live node instead of paying for a dead one on every call). An attempt that fails at the
 * connection level moves on to the next endpoint; an attempt that got any HTTP response is
 * final, whatever its status. Whether a failed attempt may be repeated elsewhere depends on how
 * far it got (see AttemptPhase) and on the method:
 * - before the connection was up (refused, unreachable, connect timeout, TLS handshake): always,
 *   since the server cannot have seen the request;
 * - after the request may have been written (reset, hang-up, timeout waiting for the answer):
 *   only for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS: RFC 9110 9.2.2), whose
 *   repetition leaves the same state (a repeated DELETE that already took effect answers 404,
 *   a repeated conditional PUT 409: both true). POST (create, start/stop, add backend) and
 *   PATCH could be applied twice (two instances, two backends), so they fail with
 *   ShoalConnectionError.mayHaveBeenProcessed set and the caller decides.
 * With TLS 1.3 "the handshake succeeded" needs care; see AcceptedTlsAgent.
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions as HttpsRequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ShoalError } from '@shoal/model';
import { CLIENT_DEFAULTS, USER_AGENT } from './constants.js';
import { ShoalConnectionError, type AttemptPhase, type EndpointFailure } from './errors.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export interface TransportOptions {
  readonly endpoints: readonly string[];
  readonly ca?: string | Buffer | undefined;
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string | undefined;
  readonly maxSockets: number;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface TransportRequest {
  readonly method: HttpMethod;
  /** Path (already percent-encoded) and query, starting with "/". */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly requestId: string;
  readonly signal?: AbortSignal | undefined;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly endpoint: string;
}

interface Endpoint {
  /** Normalised base URL, no trailing slash: what errors and `endpoints` show. */
  readonly base: string;
  readonly url: URL;
  readonly agent: HttpAgent;
  readonly send: typeof httpRequest;
}

/** Thrown inside one attempt; carries how far it got. */
class AttemptError extends Error {
  readonly phase: AttemptPhase;
  readonly code: string;
  constructor(phase: AttemptPhase, code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.phase = phase;
    this.code = code;
  }
}

/**
 * Errors raised by the TLS layer: certificate verification on our side, or an alert from the
 * peer refusing our certificate. With TLS 1.3 that alert can arrive after our request was
 * written, yet the server's HTTP layer never saw it, so the attempt still counts as `tls`.
 */
const TLS_ERROR = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH)/;

/** Set on errors raised while a connection was being set up: how far it got. */
const kSetupPhase = Symbol('shoal.setupPhase');
type SetupError = Error & { code?: string; [kSetupPhase]?: AttemptPhase };

function setupError(phase: AttemptPhase, err: unknown): SetupError {
  const e: SetupError = err instanceof Error ? err : new Error(String(err));
  e[kSetupPhase] = phase;
  return e;
}

/**
 * Bounds the wait for the server's post-handshake flight (below). Node and OpenSSL servers send
 * it at once; a server configured to send no TLS 1.3 tickets costs each new connection this
 * long, after which the request goes out anyway.
 */
const TICKET_WAIT_MS = 500;

/**
 * An https.Agent that hands a new connection to a request only once the server has accepted
 * our client certificate, so a refusal is a `tls` failure that is safe to fail over from.
 *
 * With TLS 1.2 that is the end of the handshake. With TLS 1.3 the client finishes its side
 * first and the server judges the certificate afterwards: a refusal arrives as an alert (often
 * lost to a TCP reset) after Node would already have written the request, indistinguishable from
 * a server that crashed while processing it. OpenSSL servers send their session tickets right
 * after accepting the client's certificate, so the first ticket is the acceptance signal; we
 * wait for it (half a round trip, once per connection) before releasing the socket.
 */
class AcceptedTlsAgent extends HttpsAgent {
  readonly #setupTimeoutMs: number;

  constructor(options: HttpsAgentOptions, setupTimeoutMs: number) {
    super(options);
    this.#setupTimeoutMs = setupTimeoutMs;
  }

  override createConnection(options: HttpsRequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options) as TLSSocket;
    if (!callback) return socket;
    let phase: AttemptPhase = 'connect';
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const settle = (err: SetupError | null): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) {
        socket.destroy();
        callback(err, socket);
      } else callback(null, socket);
    };
    // A server that refuses our certificate (or CA) usually just drops the connection.
    const refusedHint = 'the server closed the connection during the TLS handshake (is the client certificate from the cluster CA, unexpired, with a Shoal role?)';
    const onError = (err: Error & { code?: string }): void => {
      if (phase === 'tls' && err.code === 'ECONNRESET') err.message = refusedHint;
      settle(setupError(phase, err));
    };
    const onClose = (): void => {
      settle(setupError(phase, Object.assign(new Error(phase === 'tls' ? refusedHint : 'connection closed before it was established'), { code: 'ECONNRESET' })));
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      phase = 'tls';
    });
    socket.once('secureConnect', () => {
      if (socket.getProtocol() !== 'TLSv1.3') {
        settle(null);
        return;
      }
      // 'session' is emitted from inside OpenSSL's read of the ticket; a request written
      // from there (even on nextTick, which drains before the native call returns) is lost.
      socket.once('session', () => setImmediate(() => settle(null)));
      timers.push(setTimeout(() => settle(null), TICKET_WAIT_MS));
    });
    timers.push(
      setTimeout(() => {
        const what = phase === 'tls' ? 'TLS handshake' : 'connection';
        settle(setupError(phase, Object.assign(new Error(`no ${what} within ${this.#setupTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
      }, this.#setupTimeoutMs),
    );
    return undefined;
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

export function parseEndpoint(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ShoalError('E_CONFIG', `endpoint "${text}" is not a URL`, { issues: [{ path: 'endpoints', message: `"${text}" is not a URL` }] });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ShoalError('E_CONFIG', `endpoint "${text}" must be an https:// (or http://) URL`, { issues: [{ path: 'endpoints', message: `"${text}" is not http(s)` }] });
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ShoalError('E_CONFIG', `endpoint "${text}" must not carry credentials, a query or a fragment`, { issues: [{ path: 'endpoints', message: `"${text}" has extra parts` }] });
  }
  return url;
}

export class FailoverTransport {
  readonly endpoints: readonly string[];
  readonly #endpoints: readonly Endpoint[];
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  /** Index of the endpoint that answered last; the next call starts there. */
  #preferred = 0;
  #closed = false;

  constructor(opts: TransportOptions) {
    if (opts.endpoints.length === 0) {
      throw new ShoalError('E_CONFIG', 'at least one endpoint is required', { issues: [{ path: 'endpoints', message: 'must not be empty' }] });
    }
    this.#timeoutMs = opts.timeoutMs;
    this.#connectTimeoutMs = opts.connectTimeoutMs;
    this.#endpoints = opts.endpoints.map((text): Endpoint => {
      const url = parseEndpoint(text);
      const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
      const common = { keepAlive: true, maxSockets: opts.maxSockets, timeout: CLIENT_DEFAULTS.idleSocketTimeoutMs };
      if (url.protocol === 'http:') return { base, url, agent: new HttpAgent(common), send: httpRequest };
      const agent = new AcceptedTlsAgent(
        {
          ...common,
          rejectUnauthorized: opts.rejectUnauthorized,
          minVersion: 'TLSv1.2',
          ...(opts.ca === undefined ? {} : { ca: opts.ca }),
          ...(opts.cert === undefined ? {} : { cert: opts.cert }),
          ...(opts.key === undefined ? {} : { key: opts.key }),
          ...(opts.servername === undefined ? {} : { servername: opts.servername }),
        },
        opts.connectTimeoutMs,
      );
      return { base, url, agent, send: httpsRequest };
    });
    this.endpoints = this.#endpoints.map((e) => e.base);
  }

  async send(req: TransportRequest): Promise<TransportResponse> {
    if (this.#closed) throw new ShoalError('E_UNAVAILABLE', 'the client is closed');
    const failures: EndpointFailure[] = [];
    const start = this.#preferred;
    const n = this.#endpoints.length;
    for (let i = 0; i < n; i++) {
      req.signal?.throwIfAborted();
      const index = (start + i) % n;
      const endpoint = this.#endpoints[index];
      if (endpoint === undefined) continue;
      try {
        const res = await this.#attempt(endpoint, req);
        this.#preferred = index;
        return res;
      } catch (err) {
        if (!(err instanceof AttemptError)) throw err;
        // An abort is the caller's decision, not an endpoint's failure: stop here.
        if (req.signal?.aborted === true) throw req.signal.reason;
        failures.push({ endpoint: endpoint.base, phase: err.phase, code: err.code, message: err.message });
        const retryable = err.phase === 'connect' || err.phase === 'tls' || (err.phase === 'request' && IDEMPOTENT.has(req.method));
        if (!retryable) {
          if (err.phase === 'response') this.#preferred = index;
          throw new ShoalConnectionError(
            `${req.method} ${req.path}: ${endpoint.base} failed after the request was sent (${err.code}: ${err.message}); ` +
              (err.phase === 'response' ? 'the response was cut off' : 'not retried on another endpoint because it may have been applied'),
            failures,
            req.requestId,
            true,
          );
        }
      }
    }
    const last = failures.at(-1);
    throw new ShoalConnectionError(
      `${req.method} ${req.path}: no endpoint answered (${failures.map((f) => `${f.endpoint}: ${f.code}`).join('; ')})`,
      failures,
      req.requestId,
      last?.phase === 'request',
    );
  }

  #attempt(endpoint: Endpoint, req: TransportRequest): Promise<TransportResponse> {
    return new Promise<TransportResponse>((resolve, reject) => {
      const tls = endpoint.url.protocol === 'https:';
      let phase: AttemptPhase = 'connect';
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = (err: AttemptError | null, res?: TransportResponse): void => {
        if (settled) return;
        settled = true;
        for (const t of timers) clearTimeout(t);
        req.signal?.removeEventListener('abort', onAbort);
        if (err) {
          // Destroying is what frees the socket (and its agent slot) after a failure.
          if (!cr.destroyed) cr.destroy();
          reject(err);
        } else if (res) resolve(res);
      };
      const fail = (phaseAt: AttemptPhase, err: unknown): void => {
        const code = errorCode(err);
        const setup = (err as SetupError | null)?.[kSetupPhase];
        const effective: AttemptPhase = setup ?? (phaseAt !== 'response' && TLS_ERROR.test(code) ? 'tls' : phaseAt);
        finish(new AttemptError(effective, code, (err as Error).message || code, err));
      };
      const connected = (): void => {
        if (phase === 'connect' || phase === 'tls') phase = 'request';
        clearTimeout(connectTimer);
      };

      const cr: ClientRequest = endpoint.send({
        protocol: endpoint.url.protocol,
        hostname: endpoint.url.hostname.replace(/^\[|\]$/g, ''),
        port: endpoint.url.port === '' ? (tls ? 443 : 80) : Number(endpoint.url.port),
        path: `${endpoint.url.pathname.replace(/\/+$/, '')}${req.path}`,
        method: req.method,
        agent: endpoint.agent,
        headers: {
          accept: 'application/json',
          'user-agent': USER_AGENT,
          'x-request-id': req.requestId,
          ...req.headers,
          ...(req.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(req.body)) }),
        },
      });

      // AcceptedTlsAgent bounds TLS connection setup itself (it can tell TCP from TLS); plain
      // HTTP is bounded here.
      const connectTimer = tls
        ? undefined
        : setTimeout(() => fail('connect', Object.assign(new Error(`no connection within ${this.#connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.#connectTimeoutMs);
      if (connectTimer) timers.push(connectTimer);
      timers.push(
        setTimeout(() => {
          fail(phase, Object.assign(new Error(`no complete response within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' }));
        }, this.#timeoutMs),
      );

      const onAbort = (): void => fail(phase, Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
      req.signal?.addEventListener('abort', onAbort, { once: true });

      cr.on('socket', (socket: Socket) => {
        // TLS sockets arrive from AcceptedTlsAgent ready; kept-alive ones are ready too.
        if (tls || cr.reusedSocket || !socket.connecting) connected();
        else socket.once('connect', connected);
      });
      cr.on('error', (err) => fail(phase, err));
      cr.on('response', (res: IncomingMessage) => {
        phase = 'response';
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail('response', err));
        res.on('close', () => {
          // 'close' without 'end' (res.complete false) means the body was cut off.
          if (!res.complete) fail('response', Object.assign(new Error('response body cut off'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          finish(null, { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), endpoint: endpoint.base });
        });
      });
      cr.end(req.body);
    });
  }

  /** Closes every socket; later calls fail. */
  close(): void {
    this.#closed = true;
    for (const e of this.#endpoints) e.agent.destroy();
  }
}
