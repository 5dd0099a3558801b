/**
 * Command-line parsing with node:util parseArgs in strict mode: a command's flags are the
 * global ones plus its own, and anything else is a usage error that names the flag.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './exit-codes.js';

export interface FlagDef {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Placeholder in help (`--port PORT`). */
  readonly value?: string;
  readonly help: string;
}

export type Flags = Readonly<Record<string, FlagDef>>;
export type FlagValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

export const GLOBAL_FLAGS = {
  endpoint: { type: 'string', multiple: true, value: 'URL', help: 'API endpoint; repeat or comma-separate for failover (env SHOAL_ENDPOINTS)' },
  ca: { type: 'string', value: 'FILE', help: 'PEM CA bundle the server certificate must chain to (env SHOAL_CA)' },
  cert: { type: 'string', value: 'FILE', help: 'PEM client certificate (env SHOAL_CERT)' },
  key: { type: 'string', value: 'FILE', help: 'PEM client key (env SHOAL_KEY)' },
  config: { type: 'string', value: 'FILE', help: 'config file (env SHOALCTL_CONFIG; default ~/.config/shoal/shoalctl.yaml)' },
  output: { type: 'string', short: 'o', value: 'FORMAT', help: 'table, json or yaml (default table)' },
  timeout: { type: 'string', value: 'MS', help: 'per-endpoint request timeout in milliseconds (default 10000)' },
  'write-concern': { type: 'string', value: 'N', help: 'nodes that must hold a write before it is done: majority, all or a count (default: the server\'s, majority)' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
  version: { type: 'boolean', help: 'print the version' },
} as const satisfies Flags;

export interface ParsedCommandLine {
  readonly values: FlagValues;
  readonly positionals: readonly string[];
}

/** Finds the leading command words, skipping global flags and their values. */
export function commandWords(argv: readonly string[]): string[] {
  const { tokens } = parseArgs({ args: [...argv], options: GLOBAL_FLAGS, strict: false, allowPositionals: true, tokens: true });
  return tokens.filter((t) => t.kind === 'positional').map((t) => t.value);
}

/** Parses `argv` against the global flags plus `flags`, strictly. */
export function parseCommandLine(argv: readonly string[], flags: Flags, usage: string): ParsedCommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  const all: Flags = { ...GLOBAL_FLAGS, ...flags };
  for (const [name, def] of Object.entries(all)) {
    options[name] = { type: def.type, ...(def.short === undefined ? {} : { short: def.short }), ...(def.multiple === true ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
    return { values, positionals };
  } catch (err) {
    throw new UsageError(describeParseError(err), usage);
  }
}

/** Rewrites parseArgs' messages into short ones that still name the flag. */
function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? /'-\w, (--[^' ]+)/.exec(message)?.[1];
  switch (e.code) {
    case undefined:
      return message;
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return `${flag ?? 'a flag'} takes no value`;
      return `${flag ?? 'a flag'} needs a value`;
    default:
      return message;
  }
}

export function str(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(values: FlagValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function bool(values: FlagValues, name: string): boolean {
  return values[name] === true;
}

/** Renders a flag table for help text. */
export function describeFlags(flags: Flags): string {
  const rows = Object.entries(flags).map(([name, def]) => {
    const left = `${def.short === undefined ? '    ' : `-${def.short}, `}--${name}${def.value === undefined ? '' : ` ${def.value}`}${def.multiple === true ? '...' : ''}`;
    return [left, def.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`).join('\n');
}
