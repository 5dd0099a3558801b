/**
 * Desired state → health targets: which backends get checked, where, and how. Pure, so the
 * scheduler's `setTargets` is a diff of two lists and nothing else.
 */
import type { HealthCheck, Instance } from '@shoal/model';

/** A health check that actually probes something. */
export type ActiveHealthCheck = Exclude<HealthCheck, { type: 'none' }>;

export interface HealthTarget {
  /** `instanceId|backendId`: a backend is judged per instance, as each has its own check. */
  readonly key: string;
  readonly instanceId: string;
  readonly backendId: string;
  readonly ip: string;
  readonly port: number;
  readonly check: HealthCheck;
}

export function targetKey(instanceId: string, backendId: string): string {
  return `${instanceId}|${backendId}`;
}

/**
 * Every backend that should be judged now. Stopped instances and disabled backends get no
 * traffic, so probing them would only add load; they are left out (and read `unknown`).
 * Port: the check's own, else the backend's, else the instance's first VIP port (a backend
 * without a port serves each VIP port on the same number; the first stands for all of them).
 */
export function healthTargetsOf(instances: readonly Instance[]): HealthTarget[] {
  const targets: HealthTarget[] = [];
  for (const instance of instances) {
    if (instance.state === 'stopped') continue;
    const check = instance.healthCheck;
    for (const backend of instance.backends) {
      if (!backend.enabled) continue;
      const port = (check.type === 'none' ? undefined : check.port) ?? backend.port ?? instance.ports[0]?.port;
      // The model requires at least one port; an instance without one has nothing to serve.
      if (port === undefined) continue;
      targets.push({ key: targetKey(instance.id, backend.id), instanceId: instance.id, backendId: backend.id, ip: backend.ip, port, check });
    }
  }
  return targets;
}

/**
 * Identity of a check's parameters, independent of key order in the stored object: equal
 * strings mean the running probe loop can go on untouched.
 */
export function checkSignature(check: HealthCheck): string {
  switch (check.type) {
    case 'none':
      return 'none';
    case 'tcp':
      return JSON.stringify([check.type, check.intervalMs, check.timeoutMs, check.rise, check.fall, check.port ?? null]);
    case 'http':
      return JSON.stringify([check.type, check.intervalMs, check.timeoutMs, check.rise, check.fall, check.port ?? null, check.path, check.expectedStatus, check.host ?? null]);
    case 'https':
      return JSON.stringify([check.type, check.intervalMs, check.timeoutMs, check.rise, check.fall, check.port ?? null, check.path, check.expectedStatus, check.host ?? null, check.tlsVerify]);
  }
}
