/**
 * The HTTP API as a hono app: the native /v1 routes, the slb/vippy-compatible routes, health
 * and status. No sockets here: shoald (or a test via app.request) serves it, and passes in
 * how to read the caller's identity, so the same app runs behind mutual TLS and in-process.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { ShoalError, ValidationError, WRITE_CONCERN_HEADER, parseWriteConcern, roleAllows, type ClientIdentity, type Instance, type InstanceStatus, type Permission, type WriteConcern } from '@shoal/model';
import type { ClusterStore } from '@shoal/store';
import { errorResponse, toShoalError } from './http-errors.js';
import { registerClusterRoutes, type ClusterSurface } from './routes/cluster.js';
import { registerInstanceRoutes } from './routes/instances.js';
import { registerPoolRoutes } from './routes/pools.js';
import { registerSlbRoutes } from './routes/slb.js';

export interface ApiVariables {
  requestId: string;
  identity: ClientIdentity | undefined;
  log: Logger;
}

export interface ApiEnv {
  // @hono/node-server passes the raw request; tests leave it out.
  Bindings: { incoming?: { socket?: unknown } };
  Variables: ApiVariables;
}

export type ApiContext = Context<ApiEnv>;

/** What identifying a caller may look at: the raw connection and the request headers. */
export interface IdentifyInput {
  readonly env: ApiEnv['Bindings'];
  readonly req: { header(name: string): string | undefined };
}

export interface NodeInfo {
  readonly name: string;
  readonly version: string;
  readonly startedAt: Date;
}

export interface ApiComponents {
  readonly store: ClusterStore;
  readonly logger: Logger;
  readonly node: NodeInfo;
  /** Reads the caller's identity (from the TLS peer certificate in production). */
  readonly identify: (request: IdentifyInput) => ClientIdentity | { error: string };
  /** False while starting or shutting down: /readyz answers 503 and writes are refused. */
  readonly isReady?: () => boolean;
  /** Observed state of an instance (backend health...), added to responses as `status`. */
  readonly instanceStatus?: (instance: Instance) => InstanceStatus;
  /** More sections for /v1/status (data plane, cluster...) from the composition root. */
  readonly statusSections?: () => Record<string, unknown>;
  /**
   * Membership, replication and write concern. Absent on a single node: every write is done
   * once it is durable here, and a write concern above 1 is refused.
   */
  readonly cluster?: ClusterSurface;
}

export interface ApiInit {
  /** Largest request body accepted. @default 1 MiB (a 10,000-backend instance fits) */
  readonly maxBodyBytes?: number;
  /** Serve slb/vippy's routes (/loadbalancer...). @default true */
  readonly slbCompat?: boolean;
}

export const API_DEFAULTS = {
  maxBodyBytes: 1024 * 1024,
  slbCompat: true,
} as const;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApiApp(components: ApiComponents, init: ApiInit = {}): Hono<ApiEnv> {
  const maxBodyBytes = init.maxBodyBytes ?? API_DEFAULTS.maxBodyBytes;
  const log = components.logger.child({ component: 'api' });
  const app = new Hono<ApiEnv>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    const given = c.req.header('x-request-id');
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    const who = components.identify(c);
    const identity = 'error' in who ? undefined : who;
    c.set('identity', identity);
    const reqLog = log.child({ requestId });
    c.set('log', reqLog);
    c.header('x-request-id', requestId);
    try {
      await next();
    } finally {
      reqLog.info(
        {
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          client: identity ? `${identity.name}/${identity.role}` : 'error' in who ? who.error : undefined,
          latencyMs: Math.round((performance.now() - started) * 100) / 100,
        },
        'request',
      );
    }
  });

  app.onError((err, c) => {
    const se = toShoalError(err);
    if (se.code === 'E_INTERNAL') c.get('log').error({ err }, 'unhandled error');
    const { status, body } = errorResponse(se, c.get('requestId'));
    return c.json(body, status as 400);
  });
  app.notFound((c) => {
    const { status, body } = errorResponse(new ShoalError('E_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), c.get('requestId'));
    return c.json(body, status as 404);
  });

  const isReady = components.isReady ?? (() => true);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => (isReady() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503)));

  const instanceStatus = components.instanceStatus;
  const ctx: RouteContext = {
    store: components.store,
    view: instanceStatus ? (inst) => ({ ...inst, status: instanceStatus(inst) }) : (inst) => inst,
    maxBodyBytes,
    allow: (permission) => requirePermission(permission, isReady, components.cluster),
  };

  app.get('/v1/status', ctx.allow('read'), (c) => {
    const { node } = components;
    return c.json({
      node: {
        name: node.name,
        version: node.version,
        startedAt: node.startedAt.toISOString(),
        uptimeS: Math.round((Date.now() - node.startedAt.getTime()) / 1000),
        pid: process.pid,
      },
      ready: isReady(),
      store: components.store.stats(),
      ...(components.statusSections?.() ?? {}),
    });
  });

  registerInstanceRoutes(app, ctx);
  registerPoolRoutes(app, ctx);
  registerClusterRoutes(app, ctx, components.cluster, components.node.name);
  if (init.slbCompat ?? API_DEFAULTS.slbCompat) registerSlbRoutes(app, ctx);
  return app;
}

export interface RouteContext {
  readonly store: ClusterStore;
  /** An instance as the API shows it: stored fields plus observed `status`. */
  readonly view: (instance: Instance) => Instance & { status?: InstanceStatus };
  readonly maxBodyBytes: number;
  readonly allow: (permission: Permission) => MiddlewareHandler<ApiEnv>;
}

function requirePermission(permission: Permission, isReady: () => boolean, cluster: ClusterSurface | undefined): MiddlewareHandler<ApiEnv> {
  const isWrite = permission === 'write' || permission === 'pool-write';
  return async (c, next) => {
    const identity = c.get('identity');
    if (!identity) throw new ShoalError('E_UNAUTHENTICATED', 'a client certificate naming a Shoal role (OU) is required');
    if (!roleAllows(identity.role, permission)) {
      throw new ShoalError('E_FORBIDDEN', `${identity.name} (role ${identity.role}) may not ${permission === 'read' ? 'read' : permission === 'pool-write' ? 'change pools' : permission === 'write' ? 'write' : 'use cluster routes'}`);
    }
    if (permission !== 'read' && !isReady()) throw new ShoalError('E_UNAVAILABLE', 'node is not ready for writes');
    if (!isWrite) {
      await next();
      return;
    }
    // Write concern: refuse up front what cannot be met (nothing is written), then answer only
    // once the write is on enough nodes. A write that misses its concern is durable here and
    // may still spread, but the caller hears E_QUORUM, never success.
    const concern = requestedWriteConcern(c);
    const required = cluster ? cluster.requiredNodes(concern) : requiredOnSingleNode(concern);
    cluster?.assertReachable(required);
    await next();
    if (!cluster || required <= 1 || c.res.status >= 300) return;
    try {
      await cluster.awaitReplicated(required);
    } catch (err) {
      const se = toShoalError(err);
      c.get('log').warn({ err: se.message, required }, 'write missed its write concern');
      const { status, body } = errorResponse(se, c.get('requestId'));
      c.res = new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
      for (const h of ['etag', 'location']) c.res.headers.delete(h);
    }
  };
}

/** From the Shoal-Write-Concern header or the writeConcern query parameter; undefined when neither. */
function requestedWriteConcern(c: Context<ApiEnv>): WriteConcern | undefined {
  const header = c.req.header(WRITE_CONCERN_HEADER);
  const query = c.req.query('writeConcern');
  const [raw, field] = header !== undefined ? [header, 'Shoal-Write-Concern'] : query !== undefined ? [query, 'writeConcern'] : [undefined, ''];
  if (raw === undefined) return undefined;
  const concern = parseWriteConcern(raw);
  if (concern === null) throw new ValidationError([{ path: field, message: 'must be "majority", "all" or a node count (1, 2, ...)' }]);
  return concern;
}

function requiredOnSingleNode(concern: WriteConcern | undefined): number {
  if (typeof concern === 'number' && concern > 1) throw new ValidationError([{ path: 'writeConcern', message: `asks for ${concern} nodes but this node runs without a cluster` }]);
  return 1;
}
