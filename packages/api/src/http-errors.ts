/** Maps any thrown value onto the API's error body and status, through ERROR_CATALOG only. */
import { ERROR_CATALOG, ShoalError, type ErrorBody } from '@shoal/model';

export function toShoalError(err: unknown): ShoalError {
  if (err instanceof ShoalError) return err;
  return new ShoalError('E_INTERNAL', 'internal error', { cause: err });
}

export function errorResponse(err: ShoalError, requestId: string | undefined): { status: number; body: ErrorBody } {
  return { status: ERROR_CATALOG[err.code].status, body: err.toBody(requestId) };
}
