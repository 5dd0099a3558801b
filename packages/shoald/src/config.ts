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
import { parseCommunity, parseLargeCommunity } from './bgp-routes.js';
import { DnsLabelSchema, PoolSpecSchema, ROLES, ShoalError, ipFamilyOf, zodIssuesToFieldIssues, describeIssues } from '@shoal/model';

const PortSchema = z.int().min(0).max(65535);

/** `host:port`, `[v6]:port`. */
const HostPortSchema = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port (IPv6 as [addr]:port)');

const WriteConcernSchema = z.union([z.enum(['majority', 'all']), z.int().min(1).max(1000)]);


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
  /**
   * Joining other shoald nodes into one cluster: SWIM gossip for membership (UDP and TCP on
   * bind.port, every packet AES-256-GCM with the cluster key) and replication of the store to
   * every live peer over the mutual-TLS API. Off: a single node, every write done once durable here.
   */
  cluster: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** Gossip listen address (UDP and TCP). Default 0.0.0.0:7946, memberlist's port. */
      bind: z.strictObject({ host: z.string().min(1).default('0.0.0.0'), port: PortSchema.default(7946) }).default({ host: '0.0.0.0', port: 7946 }),
      /** Gossip address peers should use. Default: bind.host, or the first non-loopback IPv4 address when bind.host is a wildcard. */
      advertise: z.strictObject({ host: z.string().min(1).optional(), port: PortSchema.optional() }).optional(),
      /** How peers reach this node's API for replication, host:port. Default: the advertised gossip host with api.port. */
      apiAdvertise: HostPortSchema.optional(),
      /** Gossip addresses (host:port) of nodes to join at start. Default none: the first node of a cluster. */
      seeds: z.array(HostPortSchema).default([]),
      /**
       * File with the gossip keys, one base64 32-byte key per line, the first the primary (the one
       * that encrypts); the others are still accepted, so keys rotate without downtime. Relative
       * to the config file. `openssl rand -base64 32` makes one. One of keyFile or keys is required.
       */
      keyFile: z.string().min(1).optional(),
      /** The keys inline (tests, demos); keyFile keeps them out of the config. */
      keys: z.array(z.string().min(1)).min(1).optional(),
      /** SWIM timing profile: lan (memberlist's LAN: 1 s probes) or local (loopback and tests: faster detection). Default lan. */
      profile: z.enum(['lan', 'local']).default('lan'),
      /** Overrides of single SWIM timers, in milliseconds; each documented in packages/swim. */
      swim: z
        .strictObject({
          probeIntervalMs: z.int().min(10).max(60_000).optional(),
          probeTimeoutMs: z.int().min(5).max(60_000).optional(),
          gossipIntervalMs: z.int().min(5).max(60_000).optional(),
          pushPullIntervalMs: z.int().min(0).max(3_600_000).optional(),
          suspicionMult: z.int().min(1).max(100).optional(),
        })
        .optional(),
      /**
       * Default write concern: how many nodes hold a write before the API answers. Default
       * majority: an acknowledged write survives the loss of any minority of nodes. A request
       * may ask for another with the Shoal-Write-Concern header (or ?writeConcern=).
       */
      writeConcern: WriteConcernSchema.default('majority'),
      /** A write that has not reached its concern after this fails with E_QUORUM. Default 5 s. */
      writeTimeoutMs: z.int().min(100).max(600_000).default(5_000),
      /** A random peer's state is compared (Yjs state vectors) this often, repairing anything a push missed. Default 5 s. */
      antiEntropyIntervalMs: z.int().min(100).max(3_600_000).default(5_000),
      /** Extra membership metadata (string values), shown in /v1/members. Default none. */
      meta: z.record(z.string().regex(/^[a-z][a-zA-Z0-9_.-]{0,31}$/), z.string().max(128)).default({}),
    })
    .default(() => ({ enabled: false, bind: { host: '0.0.0.0', port: 7946 }, seeds: [], profile: 'lan' as const, writeConcern: 'majority' as const, writeTimeoutMs: 5_000, antiEntropyIntervalMs: 5_000, meta: {} }))
    .superRefine((c, ctx) => {
      if (c.enabled && c.keyFile === undefined && c.keys === undefined) {
        ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'a cluster needs its gossip key: set keyFile (or keys)' });
      }
    }),
  /**
   * Which node holds each VIP. internal: every node elects from live membership (priority, then
   * rendezvous hashing), holds the VIPs it wins on the interface whose subnet contains them and
   * announces them (gratuitous ARP / unsolicited NA). none: Shoal never adds a VIP to an
   * interface (another system does, or tests on a shared host). keepalived: VRRP decides.
   */
  /**
   * The management VIP: the cluster API as an instance balancing every node's API port, kept in
   * step with membership (FlexLB's cluster endpoint). Off unless vip is set.
   */
  management: z
    .strictObject({
      /** The VIP clients, shoalctl and the SDK use for the whole cluster. Default none. */
      vip: z.string().min(1).optional(),
      /** Port the VIP serves the API on. Default 8443, the API's own port. */
      port: PortSchema.default(8443),
      /** Name of the instance that carries it. Default shoal-api. */
      instanceName: DnsLabelSchema.default('shoal-api'),
    })
    .default({ port: 8443, instanceName: 'shoal-api' })
    .superRefine((m, ctx) => {
      if (m.vip !== undefined && ipFamilyOf(m.vip) === null) ctx.addIssue({ code: 'custom', path: ['vip'], message: 'must be an IP address' });
    }),
  ownership: z
    .strictObject({
      /** Default internal: the node elects and announces by itself. */
      mode: z.enum(['internal', 'keepalived', 'none']).default('internal'),
      /** Higher wins a VIP it is eligible for; equal priorities spread VIPs by hashing. Default 100. */
      priority: z.int().min(0).max(255).default(100),
      /** Extra networks (CIDRs) this node may hold VIPs in, besides its interfaces' subnets. Default none. */
      networks: z.array(z.string().min(1)).default([]),
      /** Put VIPs on this interface rather than the one whose subnet holds them. Default: by subnet. */
      interface: z.string().min(1).max(15).optional(),
      /** Claim VIPs only while this many members are seen alive (self included). Default majority: a partition's minority holds nothing. */
      quorum: z.union([z.literal('majority'), z.int().min(1).max(1000)]).default('majority'),
      /** Announce every held VIP again this often (stale ARP caches); 0 disables. Default 10 s. */
      reannounceIntervalMs: z.int().min(0).max(3_600_000).default(10_000),
      /** After start, claim no VIP for this long while other members are alive (they may still hold it). Default 5 s. */
      claimDelayMs: z.int().min(0).max(600_000).default(5_000),
      /**
       * On SIGTERM, keep the VIPs this long after leaving the cluster, so the successors have
       * claimed them before we let go (make-before-break). Default 250 ms: a successor claims
       * 15-21 ms after the leave on an idle LAN (bench), with room for a loaded host.
       */
      handoverGraceMs: z.int().min(0).max(10_000).default(250),
    })
    .default({ mode: 'internal', priority: 100, networks: [], quorum: 'majority', reannounceIntervalMs: 10_000, claimDelayMs: 5_000, handoverGraceMs: 250 }),
  /** ownership.mode keepalived: where Shoal writes keepalived.conf and how it renders it. */
  keepalived: z
    .strictObject({
      /** The file keepalived reads; written atomically after `keepalived -t` accepts it. Default /etc/keepalived/keepalived.conf, Debian's. */
      configPath: z.string().min(1).default('/etc/keepalived/keepalived.conf'),
      /** keepalived's pid file; the reload signal (SIGHUP) goes there. Default /run/keepalived.pid, keepalived's own. */
      pidFile: z.string().min(1).default('/run/keepalived.pid'),
      /** keepalived binary. Default: keepalived from PATH. */
      bin: z.string().min(1).optional(),
      /** Seconds between VRRP adverts; sub-second allowed (VRRPv3). Default 1, keepalived's. */
      advertIntervalS: z.number().min(0.01).max(40.95).default(1),
      /** Virtual router ids Shoal hands out, unique cluster-wide. Default 1..255, all of them. */
      vridRange: z.strictObject({ min: z.int().min(1).max(255), max: z.int().min(1).max(255) }).default({ min: 1, max: 255 }),
      /** VRRPv2 PASS authentication (forces VRRPv2: whole-second adverts, IPv4). Default none. */
      authPassword: z.string().min(1).max(8).optional(),
      /** An operator's Handlebars template instead of deploy/keepalived/keepalived.conf.hbs (relative to the config file). Default: Shoal's. */
      template: z.string().min(1).optional(),
    })
    .default({ configPath: '/etc/keepalived/keepalived.conf', pidFile: '/run/keepalived.pid', advertIntervalS: 1, vridRange: { min: 1, max: 255 } }),
  /** Layer 3: announce VIPs to routers by BGP (packages/bgp). */
  bgp: z
    .strictObject({
      /** Default false: layer 3 is opt-in (layer 2 needs no router configuration). */
      enabled: z.boolean().default(false),
      /** This node's AS; 4-octet allowed (RFC 6793). Required when enabled. */
      asn: z.int().min(1).max(4_294_967_295).optional(),
      /** BGP identifier, a dotted quad unique among the routers' peers. Default: the cluster's advertised IPv4, else the first non-loopback IPv4. */
      routerId: z.ipv4().optional(),
      /**
       * ecmp: every node with a healthy backend announces every VIP, the routers spread flows
       * over all (MetalLB's BGP mode). owner: only the node holding the VIP announces it (needs
       * ownership.mode internal, and ownership.networks covering the VIPs). Default ecmp.
       */
      mode: z.enum(['ecmp', 'owner']).default('ecmp'),
      /**
       * Put each announced VIP on this interface (as a /32 or /128) so the kernel accepts its
       * traffic (IPVS needs a local address; nftables does not). Default lo. Empty: leave addresses alone.
       */
      vipInterface: z.string().max(15).default('lo'),
      /** Accept sessions on this port. Default 179, and connect-only with a warning if that port is taken (unless a peer is passive). */
      listenPort: PortSchema.optional(),
      /** Addresses to listen on. Default: every address. */
      listenAddresses: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
      peers: z
        .array(
          z.strictObject({
            address: z.union([z.ipv4(), z.ipv6()]),
            asn: z.int().min(1).max(4_294_967_295),
            /** Default 179. */
            port: z.int().min(1).max(65535).default(179),
            /** Source address of the session (and default next hop). Default: the kernel's choice. */
            localAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
            /** Proposed hold time; 0 (no keepalives) or 3-65535. Default 90, RFC 4271's suggestion. */
            holdTimeS: z.int().min(0).max(65535).refine((v) => v === 0 || v >= 3, 'must be 0 or at least 3').default(90),
            /** First reconnect delay; doubles up to 60 s. Default 5 s. */
            connectRetryS: z.number().min(0.1).max(3600).default(5),
            /** Wait for the router to connect; never connect out. Default false. */
            passive: z.boolean().default(false),
            /** IP TTL of the session's packets: 1 for a directly connected eBGP router, more for multihop. Default: the kernel's (64). */
            ttl: z.int().min(1).max(255).optional(),
            /** Families to negotiate and announce. Default: the session's own (IPv6 over an IPv4 session needs nextHopIpv6). */
            families: z.array(z.enum(['ipv4-unicast', 'ipv6-unicast'])).min(1).optional(),
            /** Next hop for IPv4 VIPs. Default: the session's local address when it is IPv4. */
            nextHopIpv4: z.ipv4().optional(),
            /** Global next hop for IPv6 VIPs. Default: the session's local address when it is IPv6. */
            nextHopIpv6: z.ipv6().optional(),
            description: z.string().max(200).optional(),
          }),
        )
        .default([]),
      gracefulRestart: z
        .strictObject({
          /**
           * Advertise graceful restart (RFC 4724): when shoald crashes or restarts, the routers keep
           * its routes for restartTimeS while the kernel, which shoald leaves as it is, keeps
           * forwarding. The price: routers (BIRD measured here) also keep a dead HOST's routes for
           * restartTimeS after its hold timer expires, so part of the traffic goes to a dead node
           * meanwhile. Default false: for a load balancer a dead host must leave at the hold timer;
           * turn it on (with a short restartTimeS) where shoald restarts matter more.
           */
          enabled: z.boolean().default(false),
          /** How long routers keep our routes while shoald restarts. Default 30 s: a restart takes 1-2 s; short, so a shoald that never returns is not trusted long. */
          restartTimeS: z.int().min(1).max(4095).default(30),
        })
        .default({ enabled: false, restartTimeS: 30 }),
      /**
       * Which VIPs BGP announces, and extra attributes per instance, pool or prefix (MetalLB's
       * BGPAdvertisement). Every matching rule applies; a VIP no rule selects stays with layer 2.
       * Default one rule selecting every VIP.
       */
      advertisements: z
        .array(
          z.strictObject({
            instances: z.array(z.string().min(1)).optional(),
            pools: z.array(z.string().min(1)).optional(),
            prefixes: z.array(z.string().min(1)).optional(),
            /** "AS:value" or a well-known name (no-export, no-advertise, no-peer, blackhole, graceful-shutdown). */
            communities: z.array(z.string().refine((c) => parseCommunity(c) !== null, 'must be AS:value (16-bit each) or a well-known community name')).optional(),
            /** "global:local1:local2" (RFC 8092, 32-bit each). */
            largeCommunities: z.array(z.string().refine((c) => parseLargeCommunity(c) !== null, 'must be three 32-bit numbers, global:local1:local2')).optional(),
            med: z.int().min(0).max(4_294_967_295).optional(),
            localPref: z.int().min(0).max(4_294_967_295).optional(),
            asPathPrepend: z.int().min(0).max(16).optional(),
          }),
        )
        .default([{}]),
    })
    .default({ enabled: false, mode: 'ecmp', vipInterface: 'lo', listenAddresses: [], peers: [], gracefulRestart: { enabled: false, restartTimeS: 30 }, advertisements: [{}] })
    .superRefine((b, ctx) => {
      if (b.enabled && b.asn === undefined) ctx.addIssue({ code: 'custom', path: ['asn'], message: 'is required when bgp.enabled is true' });
      b.advertisements.forEach((a, i) => {
        for (const [j, cidr] of (a.prefixes ?? []).entries()) {
          if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(cidr) || ipFamilyOf(cidr.split('/')[0] ?? '') === null) ctx.addIssue({ code: 'custom', path: ['advertisements', i, 'prefixes', j], message: 'must be a CIDR' });
        }
      });
    }),
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
  if (cfg.bgp.enabled && cfg.bgp.mode === 'owner' && cfg.ownership.mode !== 'internal') {
    throw new ConfigError('invalid configuration: bgp.mode: owner needs ownership.mode internal (the election decides who announces)', [{ path: 'bgp.mode', message: 'owner needs ownership.mode internal' }]);
  }
  const abs = (p: string): string => resolve(baseDir, p);
  return {
    ...cfg,
    node: { name: cfg.node.name ?? defaultNodeName() },
    dataDir: abs(cfg.dataDir),
    api: { ...cfg.api, tls: { cert: abs(cfg.api.tls.cert), key: abs(cfg.api.tls.key), ca: abs(cfg.api.tls.ca) } },
    cluster: cfg.cluster.keyFile === undefined ? cfg.cluster : { ...cfg.cluster, keyFile: abs(cfg.cluster.keyFile) },
    keepalived: { ...cfg.keepalived, configPath: abs(cfg.keepalived.configPath), pidFile: abs(cfg.keepalived.pidFile), ...(cfg.keepalived.template === undefined ? {} : { template: abs(cfg.keepalived.template) }) },
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
