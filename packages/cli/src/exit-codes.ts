/** shoalctl's exit codes: one table, shown by `shoalctl --help` and used for every error. */
import { ShoalError, type ErrorCode, type FieldIssue } from '@shoal/model';
import { ShoalConnectionError } from '@shoal/client';

export const EXIT = {
  ok: 0,
  /** Any other API or server error (validation refused by the server, internal error). */
  error: 1,
  /** Bad command line, config file or input file. */
  usage: 2,
  notFound: 3,
  /** Name/VIP taken, generation mismatch, pool exhausted. */
  conflict: 4,
  /** Client certificate refused, or its role may not do this. */
  denied: 5,
  /** No endpoint reachable, no quorum, node not ready. */
  unavailable: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_HELP = `exit codes:
  0  ok
  1  other API or server error
  2  usage error (bad flag, argument, config or input file)
  3  not found
  4  conflict or generation mismatch (re-read and retry)
  5  unauthenticated or forbidden (client certificate refused, or role not allowed)
  6  unavailable (no endpoint reachable, no quorum, node not ready)`;

/** A problem with how shoalctl was called; `usage` is the usage line to show with it. */
export class UsageError extends Error {
  readonly usage: string | undefined;
  readonly issues: readonly FieldIssue[];
  constructor(message: string, usage?: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
    this.issues = issues;
  }
}

const BY_CODE: Readonly<Record<ErrorCode, ExitCode>> = {
  E_VALIDATION: EXIT.error,
  E_BAD_REQUEST: EXIT.error,
  E_UNAUTHENTICATED: EXIT.denied,
  E_FORBIDDEN: EXIT.denied,
  E_NOT_FOUND: EXIT.notFound,
  E_CONFLICT: EXIT.conflict,
  E_GENERATION_MISMATCH: EXIT.conflict,
  E_POOL_EXHAUSTED: EXIT.conflict,
  E_PAYLOAD_TOO_LARGE: EXIT.error,
  E_UNSUPPORTED_MEDIA_TYPE: EXIT.error,
  E_QUORUM: EXIT.unavailable,
  E_UNAVAILABLE: EXIT.unavailable,
  E_CONFIG: EXIT.error,
  E_INTERNAL: EXIT.error,
};

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.usage;
  // Every endpoint refused us in the TLS handshake: a certificate problem, not an outage.
  if (err instanceof ShoalConnectionError && err.attempts.length > 0 && err.attempts.every((a) => a.phase === 'tls')) return EXIT.denied;
  if (err instanceof ShoalError) return BY_CODE[err.code];
  return EXIT.error;
}
