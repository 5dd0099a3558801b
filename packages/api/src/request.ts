/** Reading request bodies and conditional headers, with errors that name what is wrong. */
import { ShoalError, type FieldIssue } from '@shoal/model';
import type { ApiContext } from './app.js';

/**
 * Reads a JSON body. The Content-Type is not insisted on: slb's documented curl lines send
 * JSON as `application/x-www-form-urlencoded` (curl -d without -H), and they must work.
 */
export async function readJsonBody(c: ApiContext, maxBytes: number): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > maxBytes) throw new ShoalError('E_PAYLOAD_TOO_LARGE', `request body of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  const type = c.req.header('content-type') ?? '';
  if (type.startsWith('multipart/')) throw new ShoalError('E_UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON (application/json)');
  const text = await c.req.text();
  if (Buffer.byteLength(text) > maxBytes) throw new ShoalError('E_PAYLOAD_TOO_LARGE', `request body exceeds the ${maxBytes}-byte limit`);
  if (text.trim() === '') throw new ShoalError('E_BAD_REQUEST', 'request body is empty; send a JSON object', { issues: [{ path: '', message: 'is required' }] });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ShoalError('E_BAD_REQUEST', `request body is not valid JSON: ${(err as Error).message}`, { issues: [{ path: '', message: 'invalid JSON' }] });
  }
}

/** Generation from If-Match (`"3"`, `W/"3"`, `3`); undefined for none or `*`. */
export function ifMatchGeneration(c: ApiContext): number | undefined {
  const raw = c.req.header('if-match');
  if (raw === undefined || raw.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(raw);
  if (!m?.[1]) {
    const issue: FieldIssue = { path: 'If-Match', message: 'must be the generation as an ETag, e.g. "3"' };
    throw new ShoalError('E_BAD_REQUEST', `bad If-Match header ${JSON.stringify(raw)}`, { issues: [issue] });
  }
  return Number(m[1]);
}

export function setEtag(c: ApiContext, generation: number): void {
  c.header('ETag', `"${generation}"`);
}
