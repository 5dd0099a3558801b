/**
 * Cluster routes: membership for people (/v1/members) and the replication exchanges between
 * nodes (/v1/cluster/push, /v1/cluster/sync; binary Yjs sync-protocol bodies, node
 * certificates only).
 */
import type { Hono } from 'hono';
import { ShoalError, type MemberView, type WriteConcern } from '@shoal/model';
import type { ApiContext, ApiEnv, RouteContext } from '../app.js';

export type { MemberView };

/** What the API needs of the cluster (shoald wires SWIM and replication behind it). */
export interface ClusterSurface {
  members(): readonly MemberView[];
  /** Nodes a write must reach: `concern` from the request, or the configured default. Validates. */
  requiredNodes(concern: WriteConcern | undefined): number;
  /** E_QUORUM before anything is written when too few nodes are alive. */
  assertReachable(required: number): void;
  /** Resolves once `required` nodes hold every write made here so far; E_QUORUM on timeout. */
  awaitReplicated(required: number): Promise<void>;
  receivePush(body: Uint8Array, from: string): Promise<Uint8Array>;
  answerSync(body: Uint8Array, from: string): Promise<Uint8Array>;
  /** Largest replication body accepted (a full-state sync). */
  readonly maxReplicationBodyBytes: number;
}

async function readBinaryBody(c: ApiContext, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > maxBytes) throw new ShoalError('E_PAYLOAD_TOO_LARGE', `replication body of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.byteLength > maxBytes) throw new ShoalError('E_PAYLOAD_TOO_LARGE', `replication body exceeds the ${maxBytes}-byte limit`);
  return body;
}

function binary(c: ApiContext, bytes: Uint8Array): Response {
  return c.body(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, 200, { 'content-type': 'application/octet-stream' });
}

export function registerClusterRoutes(app: Hono<ApiEnv>, ctx: RouteContext, cluster: ClusterSurface | undefined, self: string): void {
  app.get('/v1/members', ctx.allow('read'), (c) => {
    const items = cluster?.members() ?? [{ name: self, state: 'alive', address: '', incarnation: 0, meta: {}, self: true, sinceMs: 0 } satisfies MemberView];
    return c.json({ items });
  });
  if (!cluster) return;
  const replicate = ctx.allow('replicate');
  const from = (c: ApiContext): string => c.get('identity')?.name ?? 'unknown';
  app.post('/v1/cluster/push', replicate, async (c) => binary(c, await cluster.receivePush(await readBinaryBody(c, cluster.maxReplicationBodyBytes), from(c))));
  app.post('/v1/cluster/sync', replicate, async (c) => binary(c, await cluster.answerSync(await readBinaryBody(c, cluster.maxReplicationBodyBytes), from(c))));
}
