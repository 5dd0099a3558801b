/**
 * The management VIP (FlexLB's cluster endpoint): the cluster's own API as an instance, a VIP
 * balancing the API port of every node, so clients, the CLI and the SDK use one address that
 * survives any node's death. It is an ordinary instance (replicated, elected, programmed and
 * health-checked like any other), kept in step with membership by one node at a time.
 *
 * Who writes it: the alive member with the lowest name, and only while it sees a quorum, so
 * concurrent bootstraps on several nodes and a partition's minority do not fight over it (and
 * if two nodes did write it at once, the conflict rules keep the older one).
 */
import type { Logger } from 'pino';
import { InstanceSpecSchema, ipFamilyOf, parseOrThrow, type Instance, type InstanceSpec } from '@shoal/model';
import type { ClusterStore } from '@shoal/store';

export interface ManagementConfig {
  /** The management VIP. */
  readonly vip: string;
  /** Port the VIP serves the API on. */
  readonly port: number;
  /** Instance name. */
  readonly instanceName: string;
}

export interface ApiEndpoint {
  readonly node: string;
  readonly ip: string;
  readonly port: number;
}

/** host:port (IPv6 as [addr]:port) -> endpoint; null unless the host is an IP address. */
export function parseApiAddress(node: string, text: string): ApiEndpoint | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m?.[1] || !m[2]) return null;
  if (ipFamilyOf(m[1]) === null) return null;
  return { node, ip: m[1], port: Number(m[2]) };
}

/** The instance the management VIP should be: one backend per node's API (pure). */
export function managementSpec(cfg: ManagementConfig, endpoints: readonly ApiEndpoint[]): InstanceSpec {
  const family = ipFamilyOf(cfg.vip);
  const backends = [...endpoints]
    .filter((e) => ipFamilyOf(e.ip) === family)
    .sort((a, b) => (a.node < b.node ? -1 : 1))
    .map((e) => ({ name: e.node, ip: e.ip, port: e.port }));
  return parseOrThrow(InstanceSpecSchema, {
    name: cfg.instanceName,
    description: 'the cluster API (management VIP), kept by shoald',
    vip: cfg.vip,
    ports: [{ port: cfg.port, protocol: 'tcp' }],
    scheduler: 'rr',
    backends,
    labels: { 'shoal.io/role': 'management' },
    // A node whose API stops answering leaves the rotation within about 3 s.
    healthCheck: { type: 'tcp', intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2 },
  });
}

/** Whether the stored instance already is what `spec` asks for (so nothing is written). */
export function sameManagement(inst: Instance, spec: InstanceSpec): boolean {
  const key = (bs: readonly { ip: string; port?: number | undefined; name?: string | undefined }[]): string =>
    bs
      .map((b) => `${b.name ?? ''}@${b.ip}:${b.port ?? ''}`)
      .sort()
      .join(',');
  return (
    inst.vip === spec.vip &&
    inst.state === 'started' &&
    JSON.stringify(inst.ports) === JSON.stringify(spec.ports) &&
    key(inst.backends) === key(spec.backends) &&
    JSON.stringify(inst.healthCheck) === JSON.stringify(spec.healthCheck)
  );
}

export interface ManagementKeeper {
  trigger(reason: string): void;
  stop(): void;
}

export function createManagementKeeper(init: {
  readonly config: ManagementConfig;
  readonly store: ClusterStore;
  readonly logger: Logger;
  /** API endpoints of every member that has not left. */
  readonly endpoints: () => readonly ApiEndpoint[];
  /** True while this node is the one that keeps the instance. */
  readonly isKeeper: () => boolean;
}): ManagementKeeper {
  const log = init.logger.child({ component: 'management-vip' });
  let running = false;
  let again = false;
  let stopped = false;
  const sync = async (): Promise<void> => {
    if (!init.isKeeper()) return;
    const spec = managementSpec(init.config, init.endpoints());
    const existing = init.store.getInstance(init.config.instanceName);
    if (existing && sameManagement(existing, spec)) return;
    if (existing) await init.store.replaceInstance(existing.id, spec);
    else await init.store.createInstance(spec);
    log.info({ vip: spec.vip, port: init.config.port, backends: spec.backends.map((b) => `${b.ip}:${b.port ?? ''}`) }, existing ? 'management VIP updated' : 'management VIP created');
  };
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    sync()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot update the management VIP; retrying on the next change'))
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const timer = setInterval(run, 5_000);
  timer.unref();
  return {
    trigger() {
      run();
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
