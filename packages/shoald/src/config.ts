/**
 * shoald's configuration: one zod schema, every default in it with the reason for it. The
 * annotated example in deploy/shoald.example.yaml mirrors this file; a test keeps them in sync.
 * A bad config fails at startup with the dotted path of every bad field.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DnsLabelSchema, PoolSpecSchema, ROLES, ShoalError, zodIssuesToFieldIssues, describeIssues } from '@shoal/model';

const PortSchema = z.int().min(0).max(65535);

export const ShoaldConfigSchema = z.strictObject({
  node: z
    .strictObject({
      /** This node's name in logs, status and (later) membership. Default: the host name, lowercased. */
      name: DnsLabelSchema.optional(),
    })
    .default({}),
  /** Where the store keeps its snapshot and update log. Default: the FHS place for daemon state. */
  dataDir: z.string().min(1).default('/var/lib/shoal'),
  api: z.strictObject({
    /** Listen address of the mutual-TLS API. Default: every address, as peers and the management VIP need. */
    host: z.string().min(1).default('0.0.0.0'),
    /** Default 8443: an unprivileged HTTPS port, clear of slb's 10001. */
    port: PortSchema.default(8443),
    /** PEM files; paths are relative to the config file. Required: the API never runs without mTLS. */
    tls: z.strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      ca: z.string().min(1),
    }),
    /** Largest request body. Default 1 MiB: a 10,000-backend instance fits. */
    maxBodyBytes: z.int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Idle keep-alive connections close after this. Default 65 s: longer than common client idle timeouts, so the client closes first. */
    keepAliveTimeoutMs: z.int().min(1000).max(3_600_000).default(65_000),
  }),
  /** slb/vippy's API on plain HTTP, for tools that cannot do mTLS. Off unless enabled. */
  slbCompat: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** Default loopback only: plain HTTP must not be reachable from the network unless asked for. */
      host: z.string().min(1).default('127.0.0.1'),
      /** Default 10001: slb's port, so its curl lines work unchanged. */
      port: PortSchema.default(10001),
      /** Role granted to callers of this listener (they present no certificate). Default operator: instances but not pools. */
      role: z.enum(ROLES).default('operator'),
    })
    .default({ enabled: false, host: '127.0.0.1', port: 10001, role: 'operator' }),
  /** Pools created at startup when absent (slb's --ipamRange). Existing pools are left as they are. */
  pools: z.array(PoolSpecSchema).default([]),
  dataplane: z
    .strictObject({
      /**
       * Which kernel facility programs the VIPs. Default auto: IPVS when the kernel has it (the
       * faster, connection-aware one), else nftables (minimal and container kernels), else none
       * with a warning. `none` keeps the store and API only (tests, a control-plane-only node).
       */
      driver: z.enum(['auto', 'ipvs', 'nftables', 'none']).default('auto'),
      /** Full resync period: hand-made kernel edits are undone within this. Default 10 s. */
      resyncIntervalMs: z.int().min(1000).max(3_600_000).default(10_000),
      /** The nftables table Shoal owns (and replaces atomically). Default shoal. */
      nftablesTable: z
        .string()
        .regex(/^[a-z][a-z0-9_-]{0,30}$/, 'lowercase letters, digits, "_" and "-", at most 31')
        .default('shoal'),
      /** Turn on IPv4/IPv6 forwarding and IPVS connection tracking at start, as slb does. Default true. */
      sysctls: z.boolean().default(true),
    })
    .default({ driver: 'auto', resyncIntervalMs: 10_000, nftablesTable: 'shoal', sysctls: true }),
  health: z
    .strictObject({
      /** Probe backends as their instances' health checks say. Default true: a dead backend must stop getting traffic. */
      enabled: z.boolean().default(true),
    })
    .default({ enabled: true }),
  store: z
    .strictObject({
      /** Compact the update log into a snapshot past this size. Default 64 MiB: a few seconds of replay at most. */
      compactAfterBytes: z.int().min(64 * 1024).default(64 * 1024 * 1024),
    })
    .default({ compactAfterBytes: 64 * 1024 * 1024 }),
  logging: z
    .strictObject({
      /** pino level. Default info: one line per API request and every state change. */
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
  shutdown: z
    .strictObject({
      /** On SIGTERM, in-flight requests get this long to finish. Default 10 s: below systemd's 90 s stop timeout. */
      graceMs: z.int().min(0).max(600_000).default(10_000),
    })
    .default({ graceMs: 10_000 }),
});

/** The config after defaults and path resolution: what the daemon runs with. */
export type ShoaldConfig = Omit<z.output<typeof ShoaldConfigSchema>, 'node'> & { readonly node: { readonly name: string } };
export type ShoaldConfigInput = z.input<typeof ShoaldConfigSchema>;

export class ConfigError extends ShoalError {
  constructor(message: string, issues?: { path: string; message: string }[]) {
    super('E_CONFIG', message, issues === undefined ? undefined : { issues });
    this.name = 'ConfigError';
  }
}

/** Validates a parsed config object; `baseDir` resolves relative paths. */
export function parseConfig(raw: unknown, baseDir: string): ShoaldConfig {
  const r = ShoaldConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issues = zodIssuesToFieldIssues(r.error.issues);
    throw new ConfigError(`invalid configuration: ${describeIssues(issues)}`, issues);
  }
  const cfg = r.data;
  const names = new Set<string>();
  cfg.pools.forEach((p, i) => {
    if (names.has(p.name)) throw new ConfigError(`invalid configuration: pools.${i}.name: duplicate pool "${p.name}"`, [{ path: `pools.${i}.name`, message: 'duplicate' }]);
    names.add(p.name);
  });
  const abs = (p: string): string => resolve(baseDir, p);
  return {
    ...cfg,
    node: { name: cfg.node.name ?? defaultNodeName() },
    dataDir: abs(cfg.dataDir),
    api: { ...cfg.api, tls: { cert: abs(cfg.api.tls.cert), key: abs(cfg.api.tls.key), ca: abs(cfg.api.tls.ca) } },
  };
}

function defaultNodeName(): string {
  const h = hostname().toLowerCase().split('.')[0] ?? 'node';
  return DnsLabelSchema.safeParse(h).success ? h : 'node';
}

export function loadConfigFile(path: string): ShoaldConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, dirname(resolve(path)));
}
