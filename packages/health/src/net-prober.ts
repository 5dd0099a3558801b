/**
 * The real prober: TCP connect, HTTP and HTTPS GET, one fresh connection per probe and no
 * keep-alive (as keepalived does), so a probe proves the backend accepts new connections,
 * which is what the load balancer will send it, not that an old socket still works.
 */
import { connect, isIP } from 'node:net';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Prober, ProbeResult, ProbeTarget } from './prober.js';
import type { ActiveHealthCheck } from './targets.js';

export interface NetProberInit {
  /** @default 'shoal-health/0.1.0' (backends' access logs can tell probes from clients) */
  readonly userAgent?: string;
}

const DEFAULT_USER_AGENT = 'shoal-health/0.1.0';

export function createNetProber(init: NetProberInit = {}): Prober {
  const userAgent = init.userAgent ?? DEFAULT_USER_AGENT;
  return {
    probe(target, signal) {
      const check = target.check;
      return check.type === 'tcp' ? probeTcp(target, signal) : probeHttp(target, check, signal, userAgent);
    },
  };
}

/**
 * Runs one probe under one deadline that covers everything (connect, TLS, response headers)
 * and settles exactly once; whatever way it ends, `release` destroys the socket.
 */
function runProbe(timeoutMs: number, signal: AbortSignal, start: (settle: (r: ProbeResult) => void) => () => void): Promise<ProbeResult> {
  if (signal.aborted) return Promise.resolve({ ok: false, detail: 'aborted' });
  return new Promise<ProbeResult>((resolve) => {
    const probe = { settled: false, release: (): void => undefined };
    const settle = (result: ProbeResult): void => {
      if (probe.settled) return;
      probe.settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      probe.release();
      resolve(result);
    };
    const onAbort = (): void => { settle({ ok: false, detail: 'aborted' }); };
    const timer = setTimeout(() => { settle({ ok: false, detail: `timeout after ${timeoutMs} ms` }); }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      probe.release = start(settle);
    } catch (err) {
      // Bad options (an invalid address, say) throw synchronously; still just a failed probe.
      settle({ ok: false, detail: describeError(err) });
    }
    // A settle() from inside start() ran before its release was known.
    if (probe.settled) probe.release();
  });
}

function probeTcp(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
  return runProbe(target.check.timeoutMs, signal, (settle) => {
    const socket = connect({ host: target.ip, port: target.port });
    socket.once('connect', () => { settle({ ok: true, detail: 'connected' }); });
    // `on`, not `once`: a late second error on a socket we dropped must not go unhandled.
    socket.on('error', (err) => { settle({ ok: false, detail: `connect ${describeError(err)}` }); });
    return () => socket.destroy();
  });
}

type HttpCheck = Extract<ActiveHealthCheck, { type: 'http' | 'https' }>;

function probeHttp(target: ProbeTarget, check: HttpCheck, signal: AbortSignal, userAgent: string): Promise<ProbeResult> {
  const https = check.type === 'https';
  const headers = { Host: check.host ?? defaultHost(target.ip, target.port, https), 'User-Agent': userAgent, Accept: '*/*', Connection: 'close' };
  return runProbe(check.timeoutMs, signal, (settle) => {
    const options = { host: target.ip, port: target.port, method: 'GET', path: check.path, headers, agent: false } as const;
    const req = https
      ? httpsRequest({ ...options, rejectUnauthorized: check.tlsVerify, ...sniFor(check.host) })
      : httpRequest(options);
    req.on('response', (res: IncomingMessage) => {
      // The status line decides; the body is never read. Destroying the request (in release)
      // closes the socket, which the response then reports as an error nobody needs.
      res.on('error', () => undefined);
      const status = res.statusCode ?? 0;
      settle({ ok: check.expectedStatus.includes(status), detail: `HTTP ${status}` });
    });
    req.on('error', (err) => { settle({ ok: false, detail: describeError(err) }); });
    req.end();
    return () => req.destroy();
  });
}

/** RFC 9110 7.2: Host is host[:port], the port omitted when it is the scheme's default. */
function defaultHost(ip: string, port: number, https: boolean): string {
  const host = isIP(ip) === 6 ? `[${ip}]` : ip;
  return port === (https ? 443 : 80) ? host : `${host}:${port}`;
}

/** RFC 6066 3: SNI carries a DNS name, never an address; the port in a Host value is not part of it. */
function sniFor(host: string | undefined): { servername?: string } {
  if (host === undefined) return {};
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return isIP(name) === 0 ? { servername: name } : {};
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ?? err.message;
  }
  return String(err);
}
