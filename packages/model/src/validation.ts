/** Turning zod results into ValidationError with dotted field paths. */
import type { z } from 'zod';
import { ValidationError, type FieldIssue } from './errors.js';

export function zodIssuesToFieldIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): FieldIssue[] {
  return issues.map((issue) => {
    const path = [prefix, ...issue.path.map((p) => String(p))].filter((p) => p !== '').join('.');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      // Name the unknown keys in the path so a typo points at itself.
      const keys = issue.keys;
      return { path: [path, keys.join(',')].filter((p) => p !== '').join('.'), message: `unknown field${keys.length > 1 ? 's' : ''}` };
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) message = 'is required';
    return { path, message };
  });
}

/** Parses `value` with `schema` or throws ValidationError naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ValidationError(zodIssuesToFieldIssues(r.error.issues, prefix));
}
