/**
 * Typed errors with stable codes. Every layer throws these; the API maps a code to an HTTP
 * status through ERROR_CATALOG (one table), the SDK rebuilds them from the JSON error body,
 * and the CLI turns them into exit codes. Never throw strings.
 */

export type ErrorCode =
  | 'E_VALIDATION'
  | 'E_BAD_REQUEST'
  | 'E_UNAUTHENTICATED'
  | 'E_FORBIDDEN'
  | 'E_NOT_FOUND'
  | 'E_CONFLICT'
  | 'E_GENERATION_MISMATCH'
  | 'E_POOL_EXHAUSTED'
  | 'E_PAYLOAD_TOO_LARGE'
  | 'E_UNSUPPORTED_MEDIA_TYPE'
  | 'E_QUORUM'
  | 'E_UNAVAILABLE'
  | 'E_CONFIG'
  | 'E_INTERNAL';

export interface ErrorCatalogEntry {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** One line for docs and `shoalctl` help. */
  readonly description: string;
}

/** The one table from error code to HTTP status. README's error table is checked against it. */
export const ERROR_CATALOG: Readonly<Record<ErrorCode, ErrorCatalogEntry>> = {
  E_VALIDATION: { status: 400, description: 'a field is missing or invalid; `issues` names each field and why' },
  E_BAD_REQUEST: { status: 400, description: 'the request is malformed (body is not JSON, bad query parameter)' },
  E_UNAUTHENTICATED: { status: 401, description: 'no usable client certificate identity' },
  E_FORBIDDEN: { status: 403, description: "the client certificate's role may not do this" },
  E_NOT_FOUND: { status: 404, description: 'no such instance, backend, pool or route' },
  E_CONFLICT: { status: 409, description: 'the write would break an invariant (name taken, VIP and port in use, pool in use)' },
  E_GENERATION_MISMATCH: { status: 409, description: 'If-Match generation is not the current one; re-read and retry' },
  E_POOL_EXHAUSTED: { status: 409, description: 'the pool has no free address left' },
  E_PAYLOAD_TOO_LARGE: { status: 413, description: 'the request body is larger than the configured limit' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'the request body is not JSON' },
  E_QUORUM: { status: 503, description: 'the write could not be made durable on enough nodes' },
  E_UNAVAILABLE: { status: 503, description: 'the node is not ready (starting, shutting down, store closed)' },
  E_CONFIG: { status: 500, description: 'the daemon configuration is invalid' },
  E_INTERNAL: { status: 500, description: 'an unexpected error; the daemon log has the details' },
};

/** One problem with one field; `path` is dotted (`backends.0.ip`), empty for the whole body. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** The JSON body of every API error. */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly issues?: readonly FieldIssue[];
    readonly requestId?: string;
  };
}

export class ShoalError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly FieldIssue[] | undefined;

  constructor(code: ErrorCode, message: string, options?: { issues?: readonly FieldIssue[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShoalError';
    this.code = code;
    this.issues = options?.issues;
  }

  get status(): number {
    return ERROR_CATALOG[this.code].status;
  }

  toBody(requestId?: string): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.issues && this.issues.length > 0 ? { issues: this.issues } : {}),
        ...(requestId === undefined ? {} : { requestId }),
      },
    };
  }
}

export class ValidationError extends ShoalError {
  constructor(issues: readonly FieldIssue[], message?: string) {
    super('E_VALIDATION', message ?? describeIssues(issues), { issues });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends ShoalError {
  constructor(what: string) {
    super('E_NOT_FOUND', `${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends ShoalError {
  constructor(message: string, issues?: readonly FieldIssue[]) {
    super('E_CONFLICT', message, issues === undefined ? undefined : { issues });
    this.name = 'ConflictError';
  }
}

export class GenerationMismatchError extends ShoalError {
  readonly expected: number;
  readonly actual: number;
  constructor(what: string, expected: number, actual: number) {
    super('E_GENERATION_MISMATCH', `${what} is at generation ${actual}, not ${expected}`);
    this.name = 'GenerationMismatchError';
    this.expected = expected;
    this.actual = actual;
  }
}

export class PoolExhaustedError extends ShoalError {
  constructor(pool: string) {
    super('E_POOL_EXHAUSTED', `pool ${pool} has no free address`, { issues: [{ path: 'pool', message: 'no free address left' }] });
    this.name = 'PoolExhaustedError';
  }
}

export function describeIssues(issues: readonly FieldIssue[]): string {
  if (issues.length === 0) return 'invalid request';
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}
