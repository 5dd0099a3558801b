/**
 * What the routes add to stored objects: the conflict a merge of concurrent writes left
 * (the store decides it, identically on every node), shown under `status` next to the
 * observed backend health, so a client sees why an instance is not served or a pool allocates
 * nothing.
 */
import type { Instance, InstanceStatus, Pool, PoolStatus } from '@shoal/model';
import type { ClusterStore } from '@shoal/store';

export type InstanceView = Instance & { status?: InstanceStatus };
export type PoolView = Pool & { status?: PoolStatus };

/** `view` plus `status.conflict` for an instance in conflict (backend health kept, or `{}`). */
export function withInstanceConflict(store: ClusterStore, view: (instance: Instance) => InstanceView): (instance: Instance) => InstanceView {
  return (instance) => {
    const shown = view(instance);
    const conflict = store.instanceConflict(instance.id);
    return conflict ? { ...shown, status: { ...(shown.status ?? { backends: {} }), conflict } } : shown;
  };
}

/** The pool, with `status.conflict` when it is in conflict. */
export function poolView(store: ClusterStore, pool: Pool): PoolView {
  const conflict = store.poolConflict(pool.name);
  return conflict ? { ...pool, status: { conflict } } : pool;
}
