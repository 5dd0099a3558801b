/**
 * Roles come from the client certificate's OU. What each may do is one table here so the
 * API, the docs and the CLI agree.
 */
export const ROLES = ['admin', 'operator', 'viewer', 'node'] as const;
export type Role = (typeof ROLES)[number];

/** `replicate` (pushing raw state between replicas) belongs to peers alone: no person holds it. */
export type Permission = 'read' | 'write' | 'pool-write' | 'cluster' | 'replicate';

const PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  /** Everything, pools included. */
  admin: ['read', 'write', 'pool-write', 'cluster'],
  /** Instances and backends; not pools, which carve up the network. */
  operator: ['read', 'write'],
  /** Read only. */
  viewer: ['read'],
  /** Peers: replication and cluster routes, and read. */
  node: ['read', 'cluster', 'replicate'],
};

export function roleAllows(role: Role, permission: Permission): boolean {
  return PERMISSIONS[role].includes(permission);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Who made a request, from the verified client certificate. */
export interface ClientIdentity {
  /** Subject CN. */
  readonly name: string;
  readonly role: Role;
  /** Certificate serial (hex), for audit logs. */
  readonly serial?: string;
}
