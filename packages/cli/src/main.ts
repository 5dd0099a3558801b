/**
 * shoalctl's entry point: find the command, parse its flags strictly, resolve where to
 * connect, run it, and turn whatever it throws into a message on stderr and an exit code.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { describeIssues, ShoalError } from '@shoal/model';
import { createShoalClient, ShoalConnectionError, type ShoalClient } from '@shoal/client';
import { commandWords, describeFlags, GLOBAL_FLAGS, parseCommandLine, type FlagValues } from './argv.js';
import { GROUP_ALIASES, type CommandContext, type CommandDef } from './command.js';
import { BACKEND_COMMANDS } from './commands/backend.js';
import { INSTANCE_COMMANDS } from './commands/instance.js';
import { CLUSTER_COMMANDS } from './commands/cluster.js';
import { BGP_COMMANDS } from './commands/bgp.js';
import { POOL_COMMANDS, STATUS_COMMANDS } from './commands/pool.js';
import { EXIT, EXIT_CODE_HELP, exitCodeFor, UsageError } from './exit-codes.js';
import { render } from './output.js';
import { outputFormat, resolveSettings, type OutputFormat } from './settings.js';

/** What shoalctl touches outside itself; tests replace any of it. */
export interface CliIo {
  /** Receives everything meant for stdout. @default process.stdout.write */
  readonly stdout?: (text: string) => void;
  /** Receives errors and notes. @default process.stderr.write */
  readonly stderr?: (text: string) => void;
  /** Environment (SHOAL_ENDPOINTS, SHOAL_CA, SHOAL_CERT, SHOAL_KEY, SHOALCTL_CONFIG). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** What `-f -` reads. @default process.stdin, read to its end */
  readonly stdin?: string;
  /** Where `~` and the default config file are. @default os.homedir() */
  readonly homeDir?: string;
  /** Relative paths are resolved against this. @default process.cwd() */
  readonly cwd?: string;
}

const COMMANDS: readonly CommandDef[] = [...INSTANCE_COMMANDS, ...BACKEND_COMMANDS, ...POOL_COMMANDS, ...STATUS_COMMANDS, ...CLUSTER_COMMANDS, ...BGP_COMMANDS];
const GROUPS = [...new Set(COMMANDS.map((c) => c.group))];

function version(): string {
  try {
    // dist/src/main.js -> packages/cli/package.json
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function commandList(commands: readonly CommandDef[]): string {
  return commands.map((c) => `  shoalctl ${c.usage}\n      ${c.summary}`).join('\n');
}

function globalHelp(): string {
  return `shoalctl: manage a Shoal cluster's instances, backends and address pools

usage: shoalctl [global flags] COMMAND [flags]

commands (aliases: instances = instance, ls = list, rm = delete/remove):
${commandList(COMMANDS)}

global flags:
${describeFlags(GLOBAL_FLAGS)}

Connection settings come from flags, then SHOAL_* environment variables, then the config file
(--config, SHOALCTL_CONFIG, or ~/.config/shoal/shoalctl.yaml), which holds:
  endpoints: [https://10.0.0.1:7443, https://10.0.0.2:7443]
  ca: ca.crt          # paths relative to the config file
  cert: admin.crt
  key: admin.key
  output: table

${EXIT_CODE_HELP}
`;
}

function groupHelp(group: string): string {
  return `usage: shoalctl ${group} COMMAND [flags]\n\n${commandList(COMMANDS.filter((c) => c.group === group))}\n\nRun "shoalctl ${group} COMMAND --help" for a command's flags.\n`;
}

function commandHelp(cmd: CommandDef): string {
  const own = Object.keys(cmd.flags).length === 0 ? '' : `\nflags:\n${describeFlags(cmd.flags)}\n`;
  return `usage: shoalctl ${cmd.usage}\n\n${cmd.summary}\n${own}\nglobal flags:\n${describeFlags(GLOBAL_FLAGS)}\n\n${EXIT_CODE_HELP}\n`;
}

/** The command named by the leading words, or a UsageError saying what is wrong. */
function findCommand(words: readonly string[], help: boolean): { cmd: CommandDef; wordCount: number } | { help: string } {
  const [first, second] = words;
  const group = first === undefined ? undefined : (GROUP_ALIASES[first] ?? first);
  if (group === undefined) throw new UsageError('missing command', '[global flags] COMMAND [flags]  (see shoalctl --help)');
  const inGroup = COMMANDS.filter((c) => c.group === group);
  if (inGroup.length === 0) throw new UsageError(`unknown command "${first ?? ''}" (commands: ${GROUPS.join(', ')})`, '[global flags] COMMAND [flags]  (see shoalctl --help)');
  const single = inGroup.find((c) => c.verb === undefined);
  if (single) return { cmd: single, wordCount: 1 };
  if (second === undefined) {
    if (help) return { help: groupHelp(group) };
    throw new UsageError(`missing ${group} command (${inGroup.map((c) => c.verb).join(', ')})`, `${group} COMMAND [flags]`);
  }
  const cmd = inGroup.find((c) => c.verb === second || (c.verbAliases ?? []).includes(second));
  if (!cmd) throw new UsageError(`unknown ${group} command "${second}" (${inGroup.map((c) => c.verb).join(', ')})`, `${group} COMMAND [flags]`);
  return { cmd, wordCount: 2 };
}

function printError(err: unknown, write: (text: string) => void): void {
  const lines: string[] = [];
  if (err instanceof UsageError) {
    lines.push(err.message, ...err.issues.map((i) => `  ${i.path === '' ? '' : `${i.path}: `}${i.message}`));
    if (err.usage !== undefined) lines.push(`usage: shoalctl ${err.usage}`);
  } else if (err instanceof ShoalConnectionError) {
    if (err.mayHaveBeenProcessed) lines.push(err.message, '  read the object back (get/list) before retrying');
    else lines.push('no endpoint answered', ...err.attempts.map((a) => `  ${a.endpoint}: ${a.code}: ${a.message.trim()}`));
  } else if (err instanceof ShoalError) {
    const issues = err.issues ?? [];
    // A validation message is the issues joined; print them once, one per line.
    lines.push(issues.length > 0 && err.message === describeIssues(issues) ? `invalid request (${err.code})` : err.message);
    lines.push(...issues.map((i) => `  ${i.path === '' ? '' : `${i.path}: `}${i.message}`));
  } else {
    lines.push(err instanceof Error ? err.message : String(err));
  }
  write(`shoalctl: ${lines.join('\n')}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Runs shoalctl with `argv` (without the node and script paths) and returns the exit code.
 * Never throws and never calls process.exit, so tests and wrappers can call it in-process.
 */
export async function main(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((t: string) => void process.stdout.write(t));
  const stderr = io.stderr ?? ((t: string) => void process.stderr.write(t));
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  let client: ShoalClient | undefined;
  try {
    const words = commandWords(argv);
    if (words.length === 0) {
      const { values } = parseCommandLine(argv, {}, '[global flags] COMMAND [flags]');
      if (values['version'] === true) {
        stdout(`shoalctl ${version()}\n`);
        return EXIT.ok;
      }
      if (values['help'] === true) {
        stdout(globalHelp());
        return EXIT.ok;
      }
    }
    const found = findCommand(words, argv.includes('--help') || argv.includes('-h'));
    if ('help' in found) {
      stdout(found.help);
      return EXIT.ok;
    }
    const { cmd, wordCount } = found;
    const { values, positionals } = parseCommandLine(argv, cmd.flags, cmd.usage);
    if (values['help'] === true) {
      stdout(commandHelp(cmd));
      return EXIT.ok;
    }
    if (values['version'] === true) {
      stdout(`shoalctl ${version()}\n`);
      return EXIT.ok;
    }
    const args = positionals.slice(wordCount);
    const [min, max] = cmd.args;
    if (args.length < min) {
      const missing = (cmd.argNames ?? []).slice(args.length, min);
      throw new UsageError(missing.length > 0 ? `missing ${missing.join(' and ')}` : 'missing argument', cmd.usage);
    }
    if (args.length > max) throw new UsageError(`unexpected argument "${args[max] ?? ''}"`, cmd.usage);

    const settings = resolveSettings(values, { env, homeDir: io.homeDir ?? homedir(), cwd }, cmd.usage);
    const output: OutputFormat = outputFormat(values, cmd.usage) ?? settings.output;
    const ctx: CommandContext = {
      args,
      values: values satisfies FlagValues,
      usage: cmd.usage,
      output,
      client: () =>
        (client ??= createShoalClient({
          endpoints: settings.endpoints,
          ...(settings.ca === undefined ? {} : { ca: settings.ca }),
          ...(settings.cert === undefined ? {} : { cert: settings.cert }),
          ...(settings.key === undefined ? {} : { key: settings.key }),
          ...(settings.timeoutMs === undefined ? {} : { timeoutMs: settings.timeoutMs }),
          ...(settings.writeConcern === undefined ? {} : { writeConcern: settings.writeConcern }),
        })),
      readInput: async (flag, path) => {
        if (path === '-') return io.stdin ?? (await readStdin());
        try {
          return await readFile(resolve(cwd, path), 'utf8');
        } catch (err) {
          throw new UsageError(`${flag} ${path}: cannot read: ${(err as Error).message}`, cmd.usage);
        }
      },
      emit: (value, table) => stdout(render(output, value, table)),
      warn: (line) => stderr(`shoalctl: ${line}\n`),
    };
    await cmd.run(ctx);
    return EXIT.ok;
  } catch (err) {
    printError(err, stderr);
    return exitCodeFor(err);
  } finally {
    client?.close();
  }
}
