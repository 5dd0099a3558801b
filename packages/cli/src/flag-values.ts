/**
 * Parsing flag values (ports, backend addresses, labels, enums) into model types. Each failure
 * is a UsageError naming the flag, so `--port abc` says which flag and why.
 */
import { canonicalIp, LabelKeySchema, LabelValueSchema, PROTOCOLS, type PortSpec, type Protocol } from '@shoal/model';
import { UsageError } from './exit-codes.js';

export function parseIntFlag(flag: string, text: string, min: number, max: number, usage?: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag}: "${text}" is not a whole number`, usage);
  const n = Number(text.trim());
  if (n < min || n > max) throw new UsageError(`${flag}: ${n} is out of range ${min}..${max}`, usage);
  return n;
}

export function parseEnumFlag<T extends string>(flag: string, text: string, allowed: readonly T[], usage?: string): T {
  const found = allowed.find((a) => a === text);
  if (found === undefined) throw new UsageError(`${flag}: "${text}" is not one of ${allowed.join(', ')}`, usage);
  return found;
}

/** `80`, `80/tcp`, `53/udp`; a flag value may hold several, comma-separated. */
export function parsePortFlags(flag: string, texts: readonly string[], usage?: string): PortSpec[] {
  return texts
    .flatMap((t) => t.split(','))
    .filter((t) => t.trim() !== '')
    .map((t) => {
      const [portText = '', protoText, extra] = t.trim().split('/');
      if (extra !== undefined) throw new UsageError(`${flag}: "${t}" is not PORT[/tcp|/udp]`, usage);
      const protocol: Protocol = protoText === undefined ? 'tcp' : parseEnumFlag(flag, protoText.toLowerCase(), PROTOCOLS, usage);
      return { port: parseIntFlag(flag, portText, 1, 65535, usage), protocol };
    });
}

export interface BackendAddress {
  readonly ip: string;
  readonly port?: number;
  readonly weight?: number;
}

/**
 * `IP`, `IP:PORT`, `[IPv6]:PORT`, a bare IPv6 address, each optionally followed by `@WEIGHT`
 * when `withWeight`. The IP comes back in canonical form, as the store keeps it.
 */
export function parseBackendAddress(flag: string, text: string, withWeight: boolean, usage?: string): BackendAddress {
  let rest = text.trim();
  let weight: number | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    if (!withWeight) throw new UsageError(`${flag}: "${text}" is not IP[:PORT]`, usage);
    weight = parseIntFlag(flag, rest.slice(at + 1), 0, 65535, usage);
    rest = rest.slice(0, at);
  }
  let host = rest;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new UsageError(`${flag}: "${text}" has an unclosed "["`, usage);
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new UsageError(`${flag}: "${text}" is not [IPv6]:PORT`, usage);
      portText = after.slice(1);
    }
  } else if (rest.split(':').length === 2) {
    // Exactly one colon: IPv4 (or a name) with a port. Two or more: a bare IPv6 address.
    [host = '', portText] = rest.split(':');
  }
  const ip = canonicalIp(host);
  if (ip === null) throw new UsageError(`${flag}: "${host}" is not an IPv4 or IPv6 address${withWeight ? ' (expected IP[:PORT][@WEIGHT], IPv6 as [addr]:port)' : ' (expected IP[:PORT], IPv6 as [addr]:port)'}`, usage);
  return {
    ip,
    ...(portText === undefined ? {} : { port: parseIntFlag(flag, portText, 1, 65535, usage) }),
    ...(weight === undefined ? {} : { weight }),
  };
}

/** `key=value`; with `allowRemoval`, `key-` removes the label (kubectl's syntax). */
export function parseLabelFlag(flag: string, text: string, allowRemoval: boolean, usage?: string): { key: string; value: string | null } {
  if (allowRemoval && text.endsWith('-') && !text.includes('=')) {
    const key = text.slice(0, -1);
    if (!LabelKeySchema.safeParse(key).success) throw new UsageError(`${flag}: "${key}" is not a valid label key`, usage);
    return { key, value: null };
  }
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${flag}: "${text}" is not key=value${allowRemoval ? ' (or key- to remove)' : ''}`, usage);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (!LabelKeySchema.safeParse(key).success) throw new UsageError(`${flag}: "${key}" is not a valid label key`, usage);
  if (!LabelValueSchema.safeParse(value).success) throw new UsageError(`${flag}: "${value}" is not a valid label value`, usage);
  return { key, value };
}
