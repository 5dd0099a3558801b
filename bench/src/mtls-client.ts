/**
 * The load generator's HTTP client: bare node:https over one keep-alive Agent, so what the
 * figures measure is shoald, not an SDK.
 */
import { Agent, request } from 'node:https';

export interface ClientTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

export interface MtlsClientInit {
  readonly host: string;
  readonly port: number;
  readonly tls: ClientTls;
  /** Open connections at most; one per closed-loop client, so no client waits for a socket. */
  readonly maxSockets: number;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: Buffer;
}

export interface MtlsClient {
  request(method: string, path: string, body?: Buffer): Promise<ApiResponse>;
  /** Closes the pooled connections. */
  close(): void;
}

export function createMtlsClient(init: MtlsClientInit): MtlsClient {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: init.maxSockets,
    // Keep every socket of the pool, so a phase never pays a handshake after warm-up.
    maxFreeSockets: init.maxSockets,
    cert: init.tls.cert,
    key: init.tls.key,
    ca: init.tls.ca,
  });
  return {
    request: (method, path, body) =>
      new Promise<ApiResponse>((resolve, reject) => {
        const headers: Record<string, string | number> = { accept: 'application/json' };
        if (body !== undefined) {
          headers['content-type'] = 'application/json';
          headers['content-length'] = body.byteLength;
        }
        const req = request({ host: init.host, port: init.port, method, path, agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.once('error', reject);
        });
        req.once('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}
