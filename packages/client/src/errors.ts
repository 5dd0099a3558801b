/**
 * Errors the SDK throws. Both extend ShoalError so callers switch on one `code` whether the
 * failure came from the server's error body or from the network.
 */
import { ShoalError, isErrorCode, type ErrorBody, type ErrorCode, type FieldIssue } from '@shoal/model';

/**
 * How far one attempt got before it failed. It decides whether another endpoint may be tried:
 * - `connect`: no TCP connection; the server saw nothing.
 * - `tls`: the TLS handshake failed (or the peer's TLS layer refused us with an alert); no HTTP
 *   request was ever decrypted, let alone processed.
 * - `request`: the connection was up and the request may have reached the server.
 * - `response`: a response had begun; the server certainly processed the request.
 */
export type AttemptPhase = 'connect' | 'tls' | 'request' | 'response';

/** Why one endpoint failed one call. */
export interface EndpointFailure {
  readonly endpoint: string;
  readonly phase: AttemptPhase;
  /** System or OpenSSL error code: `ECONNREFUSED`, `ETIMEDOUT`, `ERR_SSL_...`, `CERT_HAS_EXPIRED`. */
  readonly code: string;
  readonly message: string;
}

/** The server answered with a status outside 2xx. */
export class ShoalApiError extends ShoalError {
  /** The parsed error body, or the raw text when the body was not a Shoal error. */
  readonly body: ErrorBody | string;
  /** The request id the server logged (from the body, else the X-Request-Id header). */
  readonly requestId: string | undefined;
  /** The endpoint that answered. */
  readonly endpoint: string;
  readonly #status: number;

  constructor(init: {
    code: ErrorCode;
    message: string;
    status: number;
    body: ErrorBody | string;
    endpoint: string;
    requestId?: string | undefined;
    issues?: readonly FieldIssue[] | undefined;
  }) {
    super(init.code, init.message, init.issues === undefined ? undefined : { issues: init.issues });
    this.name = 'ShoalApiError';
    this.#status = init.status;
    this.body = init.body;
    this.endpoint = init.endpoint;
    this.requestId = init.requestId;
  }

  /** The HTTP status the server actually sent (not the catalog's status for `code`). */
  override get status(): number {
    return this.#status;
  }
}

/**
 * No endpoint gave an answer: all were unreachable, or the one that had the request failed
 * before answering and the request could not safely be sent again.
 */
export class ShoalConnectionError extends ShoalError {
  /** Every endpoint tried, in order, with its failure. */
  readonly attempts: readonly EndpointFailure[];
  /** The X-Request-Id every attempt carried; search the daemons' logs for it. */
  readonly requestId: string;
  /**
   * True when the last attempt died after the request may have reached the server: a write
   * may or may not have been applied. Re-read before retrying it.
   */
  readonly mayHaveBeenProcessed: boolean;

  constructor(message: string, attempts: readonly EndpointFailure[], requestId: string, mayHaveBeenProcessed: boolean) {
    super('E_UNAVAILABLE', message);
    this.name = 'ShoalConnectionError';
    this.attempts = attempts;
    this.requestId = requestId;
    this.mayHaveBeenProcessed = mayHaveBeenProcessed;
  }
}

/**
 * Code for an error response whose body is not a Shoal error (a proxy's HTML page, a plain
 * text 503): the nearest code for the status so callers (and shoalctl's exit codes) still
 * see "not found" or "unavailable".
 */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'E_BAD_REQUEST';
    case 401:
      return 'E_UNAUTHENTICATED';
    case 403:
      return 'E_FORBIDDEN';
    case 404:
      return 'E_NOT_FOUND';
    case 409:
      return 'E_CONFLICT';
    case 413:
      return 'E_PAYLOAD_TOO_LARGE';
    case 415:
      return 'E_UNSUPPORTED_MEDIA_TYPE';
    case 502:
    case 503:
    case 504:
      return 'E_UNAVAILABLE';
    default:
      return 'E_INTERNAL';
  }
}

function isFieldIssue(v: unknown): v is FieldIssue {
  return typeof v === 'object' && v !== null && typeof (v as FieldIssue).path === 'string' && typeof (v as FieldIssue).message === 'string';
}

/** Reads a Shoal ErrorBody out of parsed JSON, or null when it is something else. */
export function asErrorBody(value: unknown): ErrorBody | null {
  if (typeof value !== 'object' || value === null) return null;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, issues, requestId } = error as Record<string, unknown>;
  if (!isErrorCode(code) || typeof message !== 'string') return null;
  return {
    error: {
      code,
      message,
      ...(Array.isArray(issues) ? { issues: issues.filter(isFieldIssue) } : {}),
      ...(typeof requestId === 'string' ? { requestId } : {}),
    },
  };
}

/** Builds the error for a non-2xx answer from its status and raw body text. */
export function apiErrorFromResponse(status: number, text: string, endpoint: string, headerRequestId: string | undefined): ShoalApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const body = asErrorBody(parsed);
  if (body) {
    return new ShoalApiError({
      code: body.error.code,
      message: body.error.message,
      status,
      body,
      endpoint,
      requestId: body.error.requestId ?? headerRequestId,
      issues: body.error.issues,
    });
  }
  const snippet = text.trim().slice(0, 500);
  return new ShoalApiError({
    code: codeForStatus(status),
    message: `HTTP ${status} from ${endpoint}${snippet === '' ? '' : `: ${snippet}`}`,
    status,
    body: text,
    endpoint,
    requestId: headerRequestId,
  });
}
