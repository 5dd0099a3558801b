/**
 * The real PeerLink: HTTPS with mutual TLS between nodes, each presenting its own node
 * certificate (OU=node). A peer's certificate must chain to the cluster CA, carry OU=node and
 * name the member we meant to reach (CN = node name): addresses come from gossip, so the name
 * in the certificate, not the IP, is what proves who answered.
 */
import { Agent, request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { ShoalError } from '@shoal/model';
import type { PeerLink, ReplicaPeer } from './replicator.js';

export interface HttpsPeerLinkInit {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  /** Largest answer accepted (a full-state sync of a big cluster). @default 256 MiB */
  readonly maxAnswerBytes?: number;
}

export const CLUSTER_PATH_PREFIX = '/v1/cluster/';

function firstOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function createHttpsPeerLink(init: HttpsPeerLinkInit): PeerLink {
  const maxAnswerBytes = init.maxAnswerBytes ?? 256 * 1024 * 1024;
  // keepAlive: a push per write must not pay a TLS handshake each time (about 2 ms of CPU).
  const agent = new Agent({ keepAlive: true, maxSockets: 4, cert: init.cert, key: init.key, ca: init.ca });
  return {
    exchange(peer: ReplicaPeer, kind: 'push' | 'sync', body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
      return new Promise<Uint8Array>((resolve, reject) => {
        const url = new URL(`${CLUSTER_PATH_PREFIX}${kind}`, peer.url);
        const req = request(
          url,
          {
            method: 'POST',
            agent,
            timeout: timeoutMs,
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength) },
            checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
              const ou = firstOf(cert.subject.OU);
              const cn = firstOf(cert.subject.CN);
              if (ou !== 'node') return new Error(`peer certificate OU is ${ou ?? 'absent'}, not node`);
              if (cn !== peer.name) return new Error(`peer certificate names ${cn ?? 'nobody'}, expected ${peer.name}`);
              return undefined;
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size > maxAnswerBytes) {
                req.destroy(new Error(`answer from ${peer.name} exceeds ${maxAnswerBytes} bytes`));
                return;
              }
              chunks.push(chunk);
            });
            res.on('end', () => {
              const data = Buffer.concat(chunks);
              if (res.statusCode === 200) {
                resolve(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
                return;
              }
              let message = data.toString('utf8').slice(0, 500);
              try {
                message = (JSON.parse(message) as { error: { message: string } }).error.message;
              } catch {
                // not our JSON error body: keep the text
              }
              reject(new ShoalError('E_UNAVAILABLE', `${kind} to ${peer.name} answered ${res.statusCode ?? '?'}: ${message}`));
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`${kind} to ${peer.name} timed out after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}
