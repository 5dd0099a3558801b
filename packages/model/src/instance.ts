/**
 * The instance: a virtual IP with ports, a scheduler, backends and a health check (FlexLB's
 * word; slb calls it a loadbalancer). Schemas validate what clients send; the `Instance`
 * type is what the store holds and the API returns.
 */
import { z } from 'zod';
import { canonicalIp, ipFamilyOf, parseIp } from './ip.js';
import { LabelsSchema, type Labels } from './labels.js';
import type { InstanceConflict } from './conflicts.js';

export const PROTOCOLS = ['tcp', 'udp'] as const;
/** Every scheduler IPVS ships (ip_vs_*.ko); the nftables driver maps them onto what it can do. */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'] as const;
/**
 * IPVS forwarding: nat (masquerade), dr (direct routing / gatewaying), tunnel (ipip), and
 * local (IPVS LOCALNODE: deliver to a socket on this node; slb's backend type LOCAL).
 */
export const FORWARDING_METHODS = ['nat', 'dr', 'tunnel', 'local'] as const;
export const DESIRED_STATES = ['started', 'stopped'] as const;
export const HEALTH_CHECK_TYPES = ['none', 'tcp', 'http', 'https'] as const;

export type Protocol = (typeof PROTOCOLS)[number];
export type Scheduler = (typeof SCHEDULERS)[number];
export type ForwardingMethod = (typeof FORWARDING_METHODS)[number];
export type DesiredState = (typeof DESIRED_STATES)[number];

/** RFC 1123 DNS label: names end up in interface labels, keepalived configs and log lines. */
export const DnsLabelSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit');

/** An IPv4 or IPv6 address, normalised to its canonical text form. */
export const IpAddressSchema = z.string().transform((s, ctx) => {
  const c = canonicalIp(s);
  if (c === null) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not an IPv4 or IPv6 address` });
    return z.NEVER;
  }
  return c;
});

export const PortNumberSchema = z.int('must be an integer').min(1, 'must be 1..65535').max(65535, 'must be 1..65535');

export const PortSpecSchema = z.strictObject({
  port: PortNumberSchema,
  protocol: z.enum(PROTOCOLS).default('tcp'),
});
export type PortSpec = z.output<typeof PortSpecSchema>;

export const BackendSpecSchema = z.strictObject({
  /** Stable id; assigned by the store when absent. */
  id: z.uuid().optional(),
  name: DnsLabelSchema.optional(),
  ip: IpAddressSchema,
  /** Port on the backend; absent means the same port as the VIP port it serves. */
  port: PortNumberSchema.optional(),
  /** IPVS weight; 0 quiesces (no new connections, existing ones drain). */
  weight: z.int().min(0).max(65535).default(1),
  /** A disabled backend stays defined but gets no traffic. */
  enabled: z.boolean().default(true),
  /** Overrides the instance's forwarding method for this backend. */
  forwarding: z.enum(FORWARDING_METHODS).optional(),
});
export type BackendSpec = z.input<typeof BackendSpecSchema>;

export interface Backend {
  readonly id: string;
  readonly name?: string;
  readonly ip: string;
  readonly port?: number;
  readonly weight: number;
  readonly enabled: boolean;
  readonly forwarding?: ForwardingMethod;
}

const healthTiming = {
  /** Time between two checks of one backend (keepalived's delay_loop). */
  intervalMs: z.int().min(100).max(3_600_000).default(2000),
  /** A check not answered within this counts as failed (keepalived's connect_timeout). */
  timeoutMs: z.int().min(50).max(600_000).default(1000),
  /** Consecutive successes before a down backend is up again. */
  rise: z.int().min(1).max(100).default(2),
  /** Consecutive failures before an up backend is down. */
  fall: z.int().min(1).max(100).default(3),
  /** Port to check; absent means the backend's serving port. */
  port: PortNumberSchema.optional(),
};

const httpFields = {
  path: z.string().startsWith('/', 'must start with "/"').max(2048).default('/'),
  expectedStatus: z.array(z.int().min(100).max(599)).min(1).max(32).default([200]),
  host: z.string().min(1).max(253).optional(),
};

export const HealthCheckSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({ type: z.literal('tcp'), ...healthTiming }),
    z.strictObject({ type: z.literal('http'), ...healthTiming, ...httpFields }),
    z.strictObject({
      type: z.literal('https'),
      ...healthTiming,
      ...httpFields,
      /** Backends usually present self-signed certificates; verification is opt-in. */
      tlsVerify: z.boolean().default(false),
    }),
  ])
  .superRefine((hc, ctx) => {
    if (hc.type !== 'none' && hc.timeoutMs > hc.intervalMs) {
      ctx.addIssue({ code: 'custom', path: ['timeoutMs'], message: 'must not exceed intervalMs' });
    }
  });
export type HealthCheck = z.output<typeof HealthCheckSchema>;
export type HealthCheckType = HealthCheck['type'];

/** The default health check: TCP connect, keepalived-like timing. */
export const DEFAULT_TCP_HEALTH_CHECK: HealthCheck = { type: 'tcp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 };

export const SharingKeySchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'letters, digits, "-", "_", "."');

/** Fields every instance spec carries, before cross-field checks. */
const instanceFields = {
  name: DnsLabelSchema,
  /** Free text; slb's loadbalancer names (which may hold spaces) live here. */
  description: z.string().max(256).optional(),
  /** The virtual IP; allocated from `pool` (or the default pool) when absent. */
  vip: IpAddressSchema.optional(),
  /** The pool the VIP comes from (and returns to on delete). */
  pool: DnsLabelSchema.optional(),
  /** Instances with the same key may share one VIP on different ports (MetalLB's allow-shared-ip). */
  sharingKey: SharingKeySchema.optional(),
  ports: z.array(PortSpecSchema).min(1, 'at least one port').max(100),
  scheduler: z.enum(SCHEDULERS).default('rr'),
  forwarding: z.enum(FORWARDING_METHODS).default('nat'),
  /** Client affinity: 0 is off; otherwise seconds a client sticks to its backend (ipvsadm -p). */
  persistenceTimeoutS: z.int().min(0).max(31_536_000).default(0),
  /** Prefix length grouping clients for persistence (ipvsadm -M); absent is /32 or /128. */
  persistenceNetmask: z.int().min(0).max(128).optional(),
  backends: z.array(BackendSpecSchema).max(10_000).default([]),
  /** Absent: TCP connect when any port is TCP, none for UDP-only instances. */
  healthCheck: HealthCheckSchema.optional(),
  state: z.enum(DESIRED_STATES).default('started'),
  labels: LabelsSchema.default({}),
};

interface CrossFieldInput {
  vip?: string | undefined;
  ports?: readonly PortSpec[] | undefined;
  forwarding?: ForwardingMethod | undefined;
  persistenceNetmask?: number | undefined;
  backends?: readonly { ip: string; port?: number | undefined; forwarding?: ForwardingMethod | undefined }[] | undefined;
}

/**
 * Checks that need several fields. Run on full specs at parse time and again by the store on
 * the merged result of a partial update, since a patch alone cannot see the whole instance.
 */
export function crossFieldIssues(spec: CrossFieldInput): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const ports = spec.ports ?? [];
  const seenPorts = new Set<string>();
  ports.forEach((p, i) => {
    const key = `${p.protocol}/${p.port}`;
    if (seenPorts.has(key)) issues.push({ path: ['ports', i], message: `duplicate port ${key}` });
    seenPorts.add(key);
  });
  const vipFamily = spec.vip === undefined ? null : ipFamilyOf(spec.vip);
  if (spec.persistenceNetmask !== undefined && vipFamily === 4 && spec.persistenceNetmask > 32) {
    issues.push({ path: ['persistenceNetmask'], message: 'must be 0..32 for an IPv4 VIP' });
  }
  const seenBackends = new Set<string>();
  (spec.backends ?? []).forEach((b, i) => {
    const key = `${b.ip}|${b.port ?? '*'}`;
    if (seenBackends.has(key)) issues.push({ path: ['backends', i], message: `duplicate backend ${b.ip}${b.port === undefined ? '' : `:${b.port}`}` });
    seenBackends.add(key);
    const method = b.forwarding ?? spec.forwarding ?? 'nat';
    const family = parseIp(b.ip)?.family;
    // IPVS only tunnels across families (kernel >= 5.3); NAT and DR need one family end to end.
    if (vipFamily !== null && family !== vipFamily && method !== 'tunnel') {
      issues.push({ path: ['backends', i, 'ip'], message: `IPv${family} backend for an IPv${vipFamily} VIP needs forwarding "tunnel"` });
    }
    // DR and tunnelling deliver the packet unchanged: the backend port is the VIP port.
    if (method !== 'nat' && b.port !== undefined && ports.some((p) => p.port !== b.port)) {
      issues.push({ path: ['backends', i, 'port'], message: `forwarding "${method}" cannot change the port; omit it or use the VIP port` });
    }
  });
  return issues;
}

function addCrossFieldIssues(spec: CrossFieldInput, ctx: z.RefinementCtx): void {
  for (const issue of crossFieldIssues(spec)) ctx.addIssue({ code: 'custom', ...issue });
}

/** What a client sends to create an instance (and to replace one with PUT). */
export const InstanceSpecSchema = z.strictObject(instanceFields).superRefine(addCrossFieldIssues);
export type InstanceSpecInput = z.input<typeof InstanceSpecSchema>;
export type InstanceSpec = z.output<typeof InstanceSpecSchema>;

/** A partial update (PATCH): any subset of the spec's fields; `null` clears an optional one. */
export const InstancePatchSchema = z.strictObject({
  name: instanceFields.name.optional(),
  description: instanceFields.description.nullable(),
  vip: IpAddressSchema.optional(),
  pool: instanceFields.pool.nullable(),
  sharingKey: instanceFields.sharingKey.nullable(),
  ports: instanceFields.ports.optional(),
  scheduler: z.enum(SCHEDULERS).optional(),
  forwarding: z.enum(FORWARDING_METHODS).optional(),
  persistenceTimeoutS: z.int().min(0).max(31_536_000).optional(),
  persistenceNetmask: instanceFields.persistenceNetmask.nullable(),
  backends: z.array(BackendSpecSchema).max(10_000).optional(),
  healthCheck: HealthCheckSchema.optional(),
  state: z.enum(DESIRED_STATES).optional(),
  labels: LabelsSchema.optional(),
});
export type InstancePatchInput = z.input<typeof InstancePatchSchema>;
export type InstancePatch = z.output<typeof InstancePatchSchema>;

/** An update to one backend (PATCH /backends/{id}). */
export const BackendPatchSchema = z.strictObject({
  name: DnsLabelSchema.nullable().optional(),
  weight: z.int().min(0).max(65535).optional(),
  enabled: z.boolean().optional(),
  forwarding: z.enum(FORWARDING_METHODS).nullable().optional(),
  port: PortNumberSchema.nullable().optional(),
});
export type BackendPatch = z.output<typeof BackendPatchSchema>;

/** Fields the server owns: accepted on PUT (so GET-edit-PUT works) and ignored. */
export const SERVER_OWNED_FIELDS = ['id', 'createdAt', 'updatedAt', 'generation', 'status'] as const;

export function withoutServerOwnedFields(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const owned: readonly string[] = SERVER_OWNED_FIELDS;
  return Object.fromEntries(Object.entries(body).filter(([k]) => !owned.includes(k)));
}

/** An instance as stored and returned. */
export interface Instance {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly vip: string;
  readonly pool?: string;
  readonly sharingKey?: string;
  readonly ports: readonly PortSpec[];
  readonly scheduler: Scheduler;
  readonly forwarding: ForwardingMethod;
  readonly persistenceTimeoutS: number;
  readonly persistenceNetmask?: number;
  readonly backends: readonly Backend[];
  readonly healthCheck: HealthCheck;
  readonly state: DesiredState;
  readonly labels: Readonly<Labels>;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Bumped by every write to the instance; the ETag and If-Match value. */
  readonly generation: number;
}

/** What a backend's health check says: `unchecked` when the instance has no check. */
export type BackendHealthState = 'up' | 'down' | 'unknown' | 'unchecked';

export interface BackendStatus {
  readonly health: BackendHealthState;
  /** Why it is in that state (last probe error, status code...). */
  readonly reason?: string;
  /** When it entered that state (ISO 8601). */
  readonly since?: string;
}

/** Observed state the API adds to an instance; never stored, never accepted on writes. */
export interface InstanceStatus {
  /** Per backend id. */
  readonly backends: Readonly<Record<string, BackendStatus>>;
  /** Set when a merge of concurrent writes left an older instance with this name or VIP and port: not served. */
  readonly conflict?: InstanceConflict;
}

export function defaultHealthCheckFor(ports: readonly PortSpec[]): HealthCheck {
  return ports.some((p) => p.protocol === 'tcp') ? DEFAULT_TCP_HEALTH_CHECK : { type: 'none' };
}

export function backendKey(b: { ip: string; port?: number | undefined }): string {
  return `${b.ip}|${b.port ?? '*'}`;
}
