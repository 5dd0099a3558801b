/**
 * Labels and label selectors, with Kubernetes' syntax so operators need not learn a new one:
 * `env=prod`, `env!=prod`, `tier` (exists), `!tier` (absent).
 */
import { z } from 'zod';
import { ValidationError } from './errors.js';

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export const LabelKeySchema = z
  .string()
  .max(253)
  .regex(LABEL_KEY, 'label keys are [prefix/]name: letters, digits, "-", "_", "."; starting and ending alphanumeric');
export const LabelValueSchema = z
  .string()
  .max(63)
  .regex(LABEL_VALUE, 'label values are at most 63 letters, digits, "-", "_", "."; starting and ending alphanumeric');
export const LabelsSchema = z
  .record(LabelKeySchema, LabelValueSchema)
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels');

export type Labels = Record<string, string>;

export type LabelRequirement =
  | { readonly op: 'eq'; readonly key: string; readonly value: string }
  | { readonly op: 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'exists'; readonly key: string }
  | { readonly op: 'absent'; readonly key: string };

/** Parses selector terms; each argument may itself hold comma-separated terms. */
export function parseLabelSelector(terms: readonly string[]): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  for (const raw of terms.flatMap((t) => t.split(','))) {
    const term = raw.trim();
    if (term === '') continue;
    let req: LabelRequirement;
    const neq = term.indexOf('!=');
    const eq = term.indexOf('=');
    if (neq > 0) req = { op: 'neq', key: term.slice(0, neq), value: term.slice(neq + 2) };
    else if (eq > 0) req = { op: 'eq', key: term.slice(0, eq), value: term.slice(eq + (term[eq + 1] === '=' ? 2 : 1)) };
    else if (term.startsWith('!')) req = { op: 'absent', key: term.slice(1) };
    else req = { op: 'exists', key: term };
    if (!LabelKeySchema.safeParse(req.key).success) {
      throw new ValidationError([{ path: 'label', message: `"${term}" has an invalid label key` }]);
    }
    if ((req.op === 'eq' || req.op === 'neq') && !LabelValueSchema.safeParse(req.value).success) {
      throw new ValidationError([{ path: 'label', message: `"${term}" has an invalid label value` }]);
    }
    out.push(req);
  }
  return out;
}

export function matchesLabels(labels: Readonly<Labels>, selector: readonly LabelRequirement[]): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'eq':
        return has && labels[r.key] === r.value;
      case 'neq':
        return !has || labels[r.key] !== r.value;
      case 'exists':
        return has;
      case 'absent':
        return !has;
    }
  });
}
