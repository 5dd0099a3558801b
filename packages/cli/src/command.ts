/** What every command is given and what it declares; main.ts wires the two together. */
import type { ShoalClient } from '@shoal/client';
import type { FlagValues, Flags } from './argv.js';
import type { OutputFormat } from './settings.js';

export interface CommandContext {
  /** Positional arguments after the command words. */
  readonly args: readonly string[];
  readonly values: FlagValues;
  /** This command's usage line, for UsageErrors. */
  readonly usage: string;
  readonly output: OutputFormat;
  /** The API client, connected on first use. */
  client(): ShoalClient;
  /** Reads an input file; `-` is stdin. Failures are UsageErrors naming `flag`. */
  readInput(flag: string, path: string): Promise<string>;
  /** Prints `value` as JSON/YAML, or `table()` in table format. */
  emit(value: unknown, table: () => string): void;
  /** A note on stderr (ignored fields and the like); never mixed into stdout. */
  warn(line: string): void;
}

export interface CommandDef {
  /** `instance`, `backend`, `pool`, `status`. */
  readonly group: string;
  /** `create`, `list`...; absent for single-word commands (`status`). */
  readonly verb?: string;
  readonly verbAliases?: readonly string[];
  /** Usage after `shoalctl `, e.g. `instance get NAME`. */
  readonly usage: string;
  readonly summary: string;
  readonly flags: Flags;
  /** Positional argument count bounds. */
  readonly args: readonly [min: number, max: number];
  /** Names of the positional arguments, for "missing NAME". */
  readonly argNames?: readonly string[];
  run(ctx: CommandContext): Promise<void>;
}

export const GROUP_ALIASES: Readonly<Record<string, string>> = {
  instances: 'instance',
  backends: 'backend',
  pools: 'pool',
};
