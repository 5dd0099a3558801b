/**
 * Kernel answers as typed errors. NLMSG_ERROR carries a negative errno; NetlinkError keeps the
 * number and its symbolic name, and maps the common ones onto Shoal's stable codes so the API
 * layer can answer with the right status without knowing about netlink.
 */
import { ShoalError, type ErrorCode } from '@shoal/model';

/** asm-generic/errno-base.h + errno.h: the ones netlink requests actually return. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  6: 'ENXIO',
  7: 'E2BIG',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  24: 'EMFILE',
  28: 'ENOSPC',
  34: 'ERANGE',
  71: 'EPROTO',
  90: 'EMSGSIZE',
  93: 'EPROTONOSUPPORT',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  105: 'ENOBUFS',
  110: 'ETIMEDOUT',
};

export type ErrnoName = 'EPERM' | 'ENOENT' | 'ESRCH' | 'EEXIST' | 'ENODEV' | 'EINVAL' | 'EBUSY' | 'EACCES' | 'EOPNOTSUPP' | 'EADDRNOTAVAIL' | 'EAFNOSUPPORT' | 'ENOBUFS' | 'ERANGE' | 'EMSGSIZE';

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** EEXIST -> conflict, "no such thing" errnos -> not found, everything else internal. */
export function errorCodeForErrno(errno: number): ErrorCode {
  switch (errnoName(errno)) {
    case 'EEXIST':
    case 'EADDRINUSE':
      return 'E_CONFLICT';
    case 'ENOENT':
    case 'ESRCH':
    case 'ENODEV':
    case 'EADDRNOTAVAIL':
      return 'E_NOT_FOUND';
    default:
      return 'E_INTERNAL';
  }
}

/** A request the kernel refused. `errno` is positive (EEXIST = 17). */
export class NetlinkError extends ShoalError {
  readonly errno: number;
  readonly errnoName: string;
  /** What was asked, for the log line ("RTM_NEWADDR 10.0.0.1/32 dev shl0"). */
  readonly operation: string;

  constructor(errno: number, operation: string, options?: { message?: string; code?: ErrorCode }) {
    const name = errnoName(errno);
    super(options?.code ?? errorCodeForErrno(errno), `${operation}: ${name}${options?.message === undefined ? '' : ` (${options.message})`}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.errnoName = name;
    this.operation = operation;
  }
}

/** True when `err` is a NetlinkError with that errno name. */
export function isErrno(err: unknown, name: ErrnoName): err is NetlinkError {
  return err instanceof NetlinkError && err.errnoName === name;
}

/** A reply that does not parse: a kernel/ABI mismatch or a bug, never a user error. */
export class NetlinkDecodeError extends ShoalError {
  constructor(message: string) {
    super('E_INTERNAL', `netlink decode: ${message}`);
    this.name = 'NetlinkDecodeError';
  }
}

/** The socket layer failed (open, timeout, closed). */
export class NetlinkTransportError extends ShoalError {
  constructor(message: string, cause?: unknown) {
    super('E_UNAVAILABLE', `netlink: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'NetlinkTransportError';
  }
}
