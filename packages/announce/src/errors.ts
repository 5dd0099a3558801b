/**
 * Typed errors with stable codes. The catalog is the single place a code is defined and
 * described; the README's error table is checked against it by a test.
 */

/** Every code an AnnounceError can carry, with what it means to a caller. */
export const ANNOUNCE_ERROR_CODES = {
  E_ANNOUNCE_CONFIG: 'a configuration field is invalid; the message names the field',
  E_ANNOUNCE_ADDRESS: 'the VIP is not a unicast IPv4/IPv6 address, or a MAC is not 6 bytes',
  E_ANNOUNCE_LINK: 'the interface does not exist, is down, or is not an Ethernet link',
  E_ANNOUNCE_PERMISSION: 'the process may not open or use a packet socket (it needs CAP_NET_RAW)',
  E_ANNOUNCE_SOCKET: 'the packet socket could not be opened for another reason (errno in the message)',
  E_ANNOUNCE_SEND: 'the kernel refused or cut short a frame (errno and strerror text in the message)',
  E_ANNOUNCE_CLOSED: 'the announcer or its socket was closed (a burst in progress stops)',
  E_ANNOUNCE_DECODE: 'bytes given to parseArp / parseNeighborAdvertisement are not a valid frame of that kind',
} as const;

export type AnnounceErrorCode = keyof typeof ANNOUNCE_ERROR_CODES;

export class AnnounceError extends Error {
  readonly code: AnnounceErrorCode;
  /** Symbolic errno (`EPERM`, `ENETDOWN`, ...) when a syscall failed, else undefined. */
  readonly errno: string | undefined;

  constructor(code: AnnounceErrorCode, message: string, options?: { errno?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AnnounceError';
    this.code = code;
    this.errno = options?.errno;
  }
}

/**
 * glibc's strerror() text -> errno name, for the errnos socket(2) and sendto(2) on AF_PACKET
 * return. syscall-napi 0.0.6 rejects with `new Error(strerror(errno))` and an empty `code`, so
 * the text is all there is to go on (recipe l2-vrrp-garp.md, "Sending GARP ... from Node.js 20").
 */
const STRERROR_TO_ERRNO: Readonly<Record<string, string>> = {
  'Operation not permitted': 'EPERM',
  'Permission denied': 'EACCES',
  'No such device': 'ENODEV',
  'No such device or address': 'ENXIO',
  'Network is down': 'ENETDOWN',
  'Network is unreachable': 'ENETUNREACH',
  'Message too long': 'EMSGSIZE',
  'No buffer space available': 'ENOBUFS',
  'Cannot allocate memory': 'ENOMEM',
  'Resource temporarily unavailable': 'EAGAIN',
  'Address family not supported by protocol': 'EAFNOSUPPORT',
  'Protocol not supported': 'EPROTONOSUPPORT',
  'Socket type not supported': 'ESOCKTNOSUPPORT',
  'Invalid argument': 'EINVAL',
  'Bad file descriptor': 'EBADF',
  'Too many open files': 'EMFILE',
  'Too many open files in system': 'ENFILE',
  'Interrupted system call': 'EINTR',
  'Bad address': 'EFAULT',
};

/** The errno name for a strerror() text, or undefined when the text is not one we know. */
export function errnoFromStrerror(text: string): string | undefined {
  return STRERROR_TO_ERRNO[text];
}

/** The message of whatever a syscall rejected with (always an Error from syscall-napi). */
export function syscallMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
