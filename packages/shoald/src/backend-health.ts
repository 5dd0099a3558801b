/**
 * Backend health as shoald sees it: the checker's verdicts plus when and why each changed,
 * for the reconciler (weights) and the API (`status`).
 */
import type { Logger } from 'pino';
import type { BackendStatus, Instance, InstanceStatus } from '@shoal/model';
import { createHealthChecker, type HealthChecker, type HealthState } from '@shoal/health';

export interface BackendHealthView {
  /** For desiredServices(): up, down or unknown. */
  state(instanceId: string, backendId: string): HealthState;
  /** For the API. */
  instanceStatus(instance: Instance): InstanceStatus;
  setTargets(instances: readonly Instance[]): void;
  onChange(listener: () => void): void;
  close(): Promise<void>;
}

export function createBackendHealthView(opts: { enabled: boolean; logger: Logger }): BackendHealthView {
  const log = opts.logger.child({ component: 'health' });
  const checker: HealthChecker | undefined = opts.enabled ? createHealthChecker({ logger: opts.logger }) : undefined;
  const changes = new Map<string, { reason: string; since: string }>();
  const listeners: (() => void)[] = [];
  checker?.onChange((c) => {
    changes.set(`${c.instanceId}/${c.backendId}`, { reason: c.reason, since: new Date().toISOString() });
    if (c.from !== 'unknown' || c.to === 'down') log.info({ instanceId: c.instanceId, backendId: c.backendId, from: c.from, to: c.to, reason: c.reason }, 'backend health changed');
    for (const l of listeners) l();
  });
  return {
    state: (instanceId, backendId) => (checker ? checker.state(instanceId, backendId) : 'up'),
    instanceStatus(instance) {
      const backends: Record<string, BackendStatus> = {};
      for (const b of instance.backends) {
        if (!checker || instance.healthCheck.type === 'none') {
          backends[b.id] = { health: 'unchecked' };
          continue;
        }
        const seen = changes.get(`${instance.id}/${b.id}`);
        backends[b.id] = { health: checker.state(instance.id, b.id), ...(seen ?? {}) };
      }
      return { backends };
    },
    setTargets: (instances) => checker?.setTargets(instances),
    onChange: (l) => listeners.push(l),
    close: async () => {
      await checker?.close();
    },
  };
}
