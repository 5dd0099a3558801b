/**
 * The typed SDK over the HTTP API: one method per route, bodies typed by @shoal/model, errors
 * rebuilt into ShoalApiError. Wire concerns (agents, failover, timeouts) live in transport.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { WRITE_CONCERN_HEADER, type Backend, type BackendPatch, type BgpStatusView, type BackendSpec, type Instance, type InstancePatchInput, type InstanceSpecInput, type MemberView, type Pool, type PoolSpecInput, type WriteConcern } from '@shoal/model';
import { CLIENT_DEFAULTS } from './constants.js';
import { apiErrorFromResponse, ShoalApiError } from './errors.js';
import { FailoverTransport, type HttpMethod } from './transport.js';

/** How to reach and authenticate to a Shoal cluster. */
export interface ShoalClientInit {
  /**
   * Base URLs of the cluster's nodes, e.g. `https://10.0.0.1:7443`. Tried in order, starting
   * from the last one that answered. `http://` is accepted for the slb-compatible plain listener.
   */
  readonly endpoints: readonly string[];
  /** PEM CA bundle the server certificate must chain to. @default Node's built-in public CAs */
  readonly ca?: string | Buffer;
  /** PEM client certificate (its OU is the role the server grants). @default none */
  readonly cert?: string | Buffer;
  /** PEM private key of `cert`. @default none */
  readonly key?: string | Buffer;
  /** Time one endpoint gets to answer, from connecting to the last byte of the body. @default 10000 */
  readonly timeoutMs?: number;
  /** Time to establish TCP + TLS with one endpoint before trying the next. @default 3000 */
  readonly connectTimeoutMs?: number;
  /** Verify the server certificate; turn off only to debug. @default true */
  readonly rejectUnauthorized?: boolean;
  /** Name the server certificate must carry (and SNI), when the endpoints are IPs it lacks. @default the endpoint's host */
  readonly servername?: string;
  /** Concurrent sockets per endpoint. @default 64 */
  readonly maxSockets?: number;
  /**
   * Nodes that must hold a write before the server answers (Shoal-Write-Concern header on every
   * write): `majority`, `all` or a count. @default the server's configured concern (majority)
   */
  readonly writeConcern?: WriteConcern | undefined;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call, including any remaining failover attempts. */
  readonly signal?: AbortSignal;
  /** Sent as X-Request-Id; the server logs it and returns it in errors. @default a random UUID per call */
  readonly requestId?: string;
  /** Write concern of this call (writes only); overrides the client's. */
  readonly writeConcern?: WriteConcern;
}

/** One cluster member, as GET /v1/members shows it. */
export type Member = MemberView;

/** A node's BGP speaker as GET /v1/status shows it under `bgp`. */
export type BgpStatus = BgpStatusView | { readonly enabled: false };

/** Options of writes that support optimistic concurrency. */
export interface WriteOptions extends CallOptions {
  /**
   * Sent as `If-Match: "<generation>"`: the write fails with E_GENERATION_MISMATCH (409) unless
   * the instance (or pool) is still at this generation. @default none (unconditional)
   */
  readonly ifGeneration?: number;
}

export interface ListInstancesOptions extends CallOptions {
  /** Label selector terms, Kubernetes syntax: `env=prod`, `env!=dev`, `tier`, `!canary`. @default all instances */
  readonly labels?: readonly string[];
}

/** GET /v1/status. Known fields are typed; the rest varies with the node's components. */
export interface ShoalStatus {
  readonly node: { readonly name: string; readonly version: string; readonly startedAt: string; readonly uptimeS: number };
  readonly [section: string]: unknown;
}

export interface ReadyStatus {
  /** False when the node answered 503 (starting, shutting down, store closed). */
  readonly ready: boolean;
  readonly status: string;
}

/** slb backend types: MASQ is IPVS masquerading (Shoal's nat), LOCAL is IPVS local node. */
export type SlbBackendType = 'MASQ' | 'LOCAL';

export interface SlbBackend {
  readonly uuid: string;
  readonly ip: string;
  readonly port: number;
  readonly type: string;
}

export interface SlbLoadBalancer {
  readonly uuid: string;
  readonly name: string;
  readonly eip: string;
  readonly port: number;
  /** slb answers null, not [], for a load balancer without backends. */
  readonly backends: readonly SlbBackend[] | null;
}

/** slb/vippy's API, for tools written against it. */
export interface SlbClient {
  createLoadBalancer(lb: { name: string; port: number }, options?: CallOptions): Promise<SlbLoadBalancer>;
  listLoadBalancers(options?: CallOptions): Promise<SlbLoadBalancer[]>;
  getLoadBalancer(uuid: string, options?: CallOptions): Promise<SlbLoadBalancer>;
  deleteLoadBalancer(uuid: string, options?: CallOptions): Promise<SlbLoadBalancer>;
  addBackend(uuid: string, backend: { ip: string; port: number; type?: SlbBackendType }, options?: CallOptions): Promise<SlbBackend>;
  removeBackend(uuid: string, backendUuid: string, options?: CallOptions): Promise<SlbBackend>;
}

/** A raw call's answer, for routes the typed methods do not cover. */
export interface ShoalResponse<T> {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: T;
  readonly endpoint: string;
  readonly requestId: string;
  /** The generation from the ETag header (instance writes and reads carry it). */
  readonly generation: number | undefined;
}

export interface RawRequestOptions extends WriteOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Query parameters; an array value repeats the parameter. */
  readonly query?: Readonly<Record<string, string | readonly string[]>>;
  /** Statuses besides 2xx that are answers rather than errors. @default none */
  readonly acceptStatuses?: readonly number[];
}

export interface ShoalClient {
  /** The normalised endpoint URLs, in failover order. */
  readonly endpoints: readonly string[];
  readonly slb: SlbClient;

  healthz(options?: CallOptions): Promise<{ status: string }>;
  /** Readiness; a 503 answer is `{ ready: false }`, not an error. */
  readyz(options?: CallOptions): Promise<ReadyStatus>;
  status(options?: CallOptions): Promise<ShoalStatus>;
  /** Cluster membership as the answering node sees it. */
  members(options?: CallOptions): Promise<Member[]>;
  /** The answering node's BGP speaker: sessions and announced routes (`{ enabled: false }` without BGP). */
  bgp(options?: CallOptions): Promise<BgpStatus>;

  listInstances(options?: ListInstancesOptions): Promise<Instance[]>;
  getInstance(name: string, options?: CallOptions): Promise<Instance>;
  createInstance(spec: InstanceSpecInput, options?: CallOptions): Promise<Instance>;
  /** Full replace (PUT). */
  replaceInstance(name: string, spec: InstanceSpecInput, options?: WriteOptions): Promise<Instance>;
  /** Partial update (PATCH); `null` clears an optional field. */
  patchInstance(name: string, patch: InstancePatchInput, options?: WriteOptions): Promise<Instance>;
  /** Deletes and returns the instance as it was. */
  deleteInstance(name: string, options?: WriteOptions): Promise<Instance>;
  startInstance(name: string, options?: WriteOptions): Promise<Instance>;
  stopInstance(name: string, options?: WriteOptions): Promise<Instance>;

  listBackends(instance: string, options?: CallOptions): Promise<Backend[]>;
  addBackend(instance: string, backend: BackendSpec, options?: WriteOptions): Promise<Backend>;
  updateBackend(instance: string, backendId: string, patch: BackendPatch, options?: WriteOptions): Promise<Backend>;
  removeBackend(instance: string, backendId: string, options?: WriteOptions): Promise<Backend>;

  listPools(options?: CallOptions): Promise<Pool[]>;
  getPool(name: string, options?: CallOptions): Promise<Pool>;
  createPool(spec: PoolSpecInput, options?: CallOptions): Promise<Pool>;
  replacePool(name: string, spec: PoolSpecInput, options?: WriteOptions): Promise<Pool>;
  deletePool(name: string, options?: WriteOptions): Promise<Pool>;

  /** Any route, with failover, If-Match and error mapping; the body is the parsed JSON. */
  request<T>(method: HttpMethod, path: string, options?: RawRequestOptions): Promise<ShoalResponse<T>>;
  /** Closes every kept-alive connection; calls after this fail. */
  close(): void;
}

const seg = encodeURIComponent;

function etagGeneration(etag: string | undefined): number | undefined {
  const m = etag === undefined ? null : /^(?:W\/)?"(\d+)"$/.exec(etag.trim());
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

class HttpShoalClient implements ShoalClient {
  readonly #transport: FailoverTransport;
  readonly #writeConcern: WriteConcern | undefined;
  readonly endpoints: readonly string[];
  readonly slb: SlbClient;

  constructor(init: ShoalClientInit) {
    this.#transport = new FailoverTransport({
      endpoints: init.endpoints,
      ca: init.ca,
      cert: init.cert,
      key: init.key,
      servername: init.servername,
      rejectUnauthorized: init.rejectUnauthorized ?? CLIENT_DEFAULTS.rejectUnauthorized,
      maxSockets: positiveInt('maxSockets', init.maxSockets ?? CLIENT_DEFAULTS.maxSockets),
      timeoutMs: positiveInt('timeoutMs', init.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs),
      connectTimeoutMs: positiveInt('connectTimeoutMs', init.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs),
    });
    this.endpoints = this.#transport.endpoints;
    this.#writeConcern = init.writeConcern;
    const body = <T>(method: HttpMethod, path: string, options?: RawRequestOptions): Promise<T> => this.#body<T>(method, path, options);
    this.slb = {
      createLoadBalancer: (lb, o) => body('POST', '/loadbalancer', { ...o, body: lb }),
      listLoadBalancers: (o) => body('GET', '/loadbalancers', o),
      getLoadBalancer: (uuid, o) => body('GET', `/loadbalancer/${seg(uuid)}`, o),
      deleteLoadBalancer: (uuid, o) => body('DELETE', `/loadbalancer/${seg(uuid)}`, o),
      addBackend: (uuid, b, o) => body('POST', `/loadbalancer/${seg(uuid)}/backend`, { ...o, body: b }),
      removeBackend: (uuid, b, o) => body('DELETE', `/loadbalancer/${seg(uuid)}/backend/${seg(b)}`, o),
    };
  }

  async request<T>(method: HttpMethod, path: string, options: RawRequestOptions = {}): Promise<ShoalResponse<T>> {
    const requestId = options.requestId ?? randomUUID();
    let target = path;
    if (options.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(options.query)) for (const one of typeof v === 'string' ? [v] : v) q.append(k, one);
      const qs = q.toString();
      if (qs !== '') target += `${path.includes('?') ? '&' : '?'}${qs}`;
    }
    const headers: Record<string, string> = {};
    if (options.ifGeneration !== undefined) {
      if (!Number.isSafeInteger(options.ifGeneration) || options.ifGeneration < 0) throw new RangeError(`ifGeneration must be a non-negative integer, got ${options.ifGeneration}`);
      headers['if-match'] = `"${options.ifGeneration}"`;
    }
    const concern = options.writeConcern ?? this.#writeConcern;
    if (concern !== undefined && method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') headers[WRITE_CONCERN_HEADER] = String(concern);
    const res = await this.#transport.send({
      method,
      path: target,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      requestId,
      signal: options.signal,
    });
    const headerRequestId = typeof res.headers['x-request-id'] === 'string' ? res.headers['x-request-id'] : undefined;
    const ok = (res.status >= 200 && res.status < 300) || (options.acceptStatuses?.includes(res.status) ?? false);
    if (!ok) throw apiErrorFromResponse(res.status, res.text, res.endpoint, headerRequestId ?? requestId);
    let parsed: unknown;
    try {
      parsed = res.text === '' ? undefined : JSON.parse(res.text);
    } catch (err) {
      throw new ShoalApiError({
        code: 'E_INTERNAL',
        message: `${method} ${path}: ${res.endpoint} answered ${res.status} with a body that is not JSON (${(err as Error).message})`,
        status: res.status,
        body: res.text,
        endpoint: res.endpoint,
        requestId: headerRequestId ?? requestId,
      });
    }
    return {
      status: res.status,
      headers: res.headers,
      // The server's answer is the contract; the SDK does not re-validate what it sends back.
      body: parsed as T,
      endpoint: res.endpoint,
      requestId: headerRequestId ?? requestId,
      generation: etagGeneration(res.headers.etag),
    };
  }

  async #body<T>(method: HttpMethod, path: string, options?: RawRequestOptions): Promise<T> {
    return (await this.request<T>(method, path, options)).body;
  }

  async #items<T>(path: string, options?: RawRequestOptions): Promise<T[]> {
    return (await this.#body<{ items: T[] }>('GET', path, options)).items;
  }

  healthz(o?: CallOptions): Promise<{ status: string }> {
    return this.#body('GET', '/healthz', o);
  }

  async readyz(o?: CallOptions): Promise<ReadyStatus> {
    const res = await this.request<{ status?: unknown } | undefined>('GET', '/readyz', { ...o, acceptStatuses: [503] });
    const status = typeof res.body?.status === 'string' ? res.body.status : res.status === 503 ? 'not ready' : 'ready';
    return { ready: res.status >= 200 && res.status < 300, status };
  }

  status(o?: CallOptions): Promise<ShoalStatus> {
    return this.#body('GET', '/v1/status', o);
  }

  members(o?: CallOptions): Promise<Member[]> {
    return this.#items('/v1/members', o);
  }

  async bgp(o?: CallOptions): Promise<BgpStatus> {
    const status = await this.status(o);
    const section = status['bgp'] as BgpStatus | undefined;
    // A node of a version before BGP has no section: the same as BGP off.
    return section ?? { enabled: false };
  }

  listInstances(o: ListInstancesOptions = {}): Promise<Instance[]> {
    return this.#items('/v1/instances', { ...o, ...(o.labels && o.labels.length > 0 ? { query: { label: o.labels } } : {}) });
  }
  getInstance(name: string, o?: CallOptions): Promise<Instance> {
    return this.#body('GET', `/v1/instances/${seg(name)}`, o);
  }
  createInstance(spec: InstanceSpecInput, o?: CallOptions): Promise<Instance> {
    return this.#body('POST', '/v1/instances', { ...o, body: spec });
  }
  replaceInstance(name: string, spec: InstanceSpecInput, o?: WriteOptions): Promise<Instance> {
    return this.#body('PUT', `/v1/instances/${seg(name)}`, { ...o, body: spec });
  }
  patchInstance(name: string, patch: InstancePatchInput, o?: WriteOptions): Promise<Instance> {
    return this.#body('PATCH', `/v1/instances/${seg(name)}`, { ...o, body: patch });
  }
  deleteInstance(name: string, o?: WriteOptions): Promise<Instance> {
    return this.#body('DELETE', `/v1/instances/${seg(name)}`, o);
  }
  startInstance(name: string, o?: WriteOptions): Promise<Instance> {
    return this.#body('POST', `/v1/instances/${seg(name)}/start`, o);
  }
  stopInstance(name: string, o?: WriteOptions): Promise<Instance> {
    return this.#body('POST', `/v1/instances/${seg(name)}/stop`, o);
  }

  listBackends(instance: string, o?: CallOptions): Promise<Backend[]> {
    return this.#items(`/v1/instances/${seg(instance)}/backends`, o);
  }
  addBackend(instance: string, backend: BackendSpec, o?: WriteOptions): Promise<Backend> {
    return this.#body('POST', `/v1/instances/${seg(instance)}/backends`, { ...o, body: backend });
  }
  updateBackend(instance: string, backendId: string, patch: BackendPatch, o?: WriteOptions): Promise<Backend> {
    return this.#body('PATCH', `/v1/instances/${seg(instance)}/backends/${seg(backendId)}`, { ...o, body: patch });
  }
  removeBackend(instance: string, backendId: string, o?: WriteOptions): Promise<Backend> {
    return this.#body('DELETE', `/v1/instances/${seg(instance)}/backends/${seg(backendId)}`, o);
  }

  listPools(o?: CallOptions): Promise<Pool[]> {
    return this.#items('/v1/pools', o);
  }
  getPool(name: string, o?: CallOptions): Promise<Pool> {
    return this.#body('GET', `/v1/pools/${seg(name)}`, o);
  }
  createPool(spec: PoolSpecInput, o?: CallOptions): Promise<Pool> {
    return this.#body('POST', '/v1/pools', { ...o, body: spec });
  }
  replacePool(name: string, spec: PoolSpecInput, o?: WriteOptions): Promise<Pool> {
    return this.#body('PUT', `/v1/pools/${seg(name)}`, { ...o, body: spec });
  }
  deletePool(name: string, o?: WriteOptions): Promise<Pool> {
    return this.#body('DELETE', `/v1/pools/${seg(name)}`, o);
  }

  close(): void {
    this.#transport.close();
  }
}

/**
 * Creates a client for a Shoal cluster. Connections are kept alive per endpoint (idle ones do
 * not hold the process open); `close()` releases them at once.
 */
export function createShoalClient(init: ShoalClientInit): ShoalClient {
  return new HttpShoalClient(init);
}
