/**
 * IPVS's errnos, explained per command (net/netfilter/ipvs/ip_vs_ctl.c): the same number
 * means different things for a service and a destination (ENOENT is "no such scheduler" for
 * NEW_SERVICE but "no such real server" for SET_DEST/DEL_DEST).
 */
import { NetlinkError, errnoName } from '@shoal/netlink';
import type { ErrorCode } from '@shoal/model';

export type IpvsOperation = 'add-service' | 'update-service' | 'delete-service' | 'add-server' | 'update-server' | 'delete-server' | 'dump' | 'flush' | 'resolve-family';

const EXPLANATIONS: Readonly<Partial<Record<IpvsOperation, Readonly<Record<string, string>>>>> = {
  'add-service': { EEXIST: 'the service exists', ENOENT: 'the scheduler is not available in this kernel (ip_vs_<name> module)', EINVAL: 'invalid service attributes' },
  'update-service': { ESRCH: 'no such service', ENOENT: 'the scheduler is not available in this kernel (ip_vs_<name> module)' },
  'delete-service': { ESRCH: 'no such service' },
  'add-server': { EEXIST: 'the real server exists in this service', ESRCH: 'no such service', EINVAL: 'invalid real server (weight, or an address that is not unicast: is lo up in this namespace?)' },
  'update-server': { ENOENT: 'no such real server in this service', ESRCH: 'no such service' },
  'delete-server': { ENOENT: 'no such real server in this service', ESRCH: 'no such service' },
  'resolve-family': { ENOENT: 'the kernel has no IPVS (ip_vs module not loaded or not built)' },
};

export class IpvsError extends NetlinkError {
  readonly ipvsOperation: IpvsOperation;
  constructor(errno: number, operation: IpvsOperation, describe: string, code?: ErrorCode) {
    const explanation = EXPLANATIONS[operation]?.[errnoName(errno)];
    super(errno, describe, {
      ...(explanation === undefined ? {} : { message: explanation }),
      ...(code === undefined ? {} : { code }),
    });
    this.name = 'IpvsError';
    this.ipvsOperation = operation;
  }
}

/** Re-types a NetlinkError from an IPVS request; anything else passes through. */
export function toIpvsError(err: unknown, operation: IpvsOperation): unknown {
  if (err instanceof NetlinkError && !(err instanceof IpvsError)) {
    const e = new IpvsError(err.errno, operation, err.operation);
    if (err.stack !== undefined) e.stack = err.stack;
    return e;
  }
  return err;
}

