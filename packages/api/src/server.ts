/**
 * Serving the app: HTTPS with mutual TLS (the main listener) or plain HTTP (the optional
 * slb-compatible listener, loopback by default). The TLS options make Node refuse, during the
 * handshake, a client with no certificate, one from another CA or an expired one: such a
 * client never reaches a handler.
 */
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { ApiEnv } from './app.js';

export interface TlsMaterial {
  /** PEM: this node's certificate (chain) and key, and the CA bundle clients must chain to. */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca: string | Buffer;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** Absent: plain HTTP. */
  readonly tls?: TlsMaterial;
  /** Idle keep-alive connections are closed after this. @default 65 s (above common LB idle timeouts) */
  readonly keepAliveTimeoutMs?: number;
}

export interface RunningServer {
  readonly server: Server;
  readonly address: AddressInfo;
  /** Stops accepting, lets in-flight requests finish, then closes idle connections. */
  close(): Promise<void>;
}

export async function listen(app: Hono<ApiEnv>, opts: ListenOptions): Promise<RunningServer> {
  const tlsOptions: HttpsServerOptions | undefined = opts.tls && {
    cert: opts.tls.cert,
    key: opts.tls.key,
    ca: opts.tls.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: opts.host,
        port: opts.port,
        ...(tlsOptions ? { createServer: createHttpsServer, serverOptions: tlsOptions } : { createServer: createHttpServer }),
      },
      () => resolve(s),
    ) as Server;
    s.once('error', reject);
  });
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 65_000;
  // The identity of a connection is read once (identity.ts); a TLS 1.2 renegotiation could
  // otherwise swap the certificate under it.
  server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  const address = server.address() as AddressInfo;
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
