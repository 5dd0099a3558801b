/**
 * Where shoalctl connects and how it prints: flags beat environment variables, which beat the
 * config file. Paths in the config file are relative to the file's directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseWriteConcern, type WriteConcern } from '@shoal/model';
import { UsageError } from './exit-codes.js';
import { parseIntFlag } from './flag-values.js';
import { str, strs, type FlagValues } from './argv.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Settings {
  readonly endpoints: readonly string[];
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly timeoutMs?: number;
  readonly writeConcern?: WriteConcern;
  readonly output: OutputFormat;
}

interface ConfigFile {
  readonly path: string;
  readonly endpoints?: readonly string[];
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly output?: string;
}

const CONFIG_KEYS = ['endpoints', 'ca', 'cert', 'key', 'output'] as const;

export interface SettingsEnv {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homeDir: string;
  readonly cwd: string;
}

function expandHome(path: string, home: string): string {
  return path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

function splitList(texts: readonly string[]): string[] {
  return texts
    .flatMap((t) => t.split(','))
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** `10.0.0.1:7443` means https: mutual TLS is the API's normal listener. */
function withScheme(endpoint: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
}

function readConfig(path: string, explicit: boolean, origin: string): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // The default file is optional; one named by --config or SHOALCTL_CONFIG is not.
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`${origin} ${path}: cannot read: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`config ${path}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return { path };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`config ${path}: must be a mapping of ${CONFIG_KEYS.join(', ')}`);
  const record = doc as Record<string, unknown>;
  const out: { -readonly [K in keyof ConfigFile]: ConfigFile[K] } = { path };
  for (const [k, v] of Object.entries(record)) {
    const bad = (what: string): UsageError => new UsageError(`config ${path}: ${k}: must be ${what}`);
    switch (k) {
      case 'endpoints':
        if (typeof v === 'string') out.endpoints = splitList([v]);
        else if (Array.isArray(v) && v.every((e): e is string => typeof e === 'string')) out.endpoints = splitList(v);
        else throw bad('a list of URLs');
        break;
      case 'ca':
      case 'cert':
      case 'key':
      case 'output':
        if (typeof v !== 'string') throw bad('a string');
        out[k] = v;
        break;
      default:
        throw new UsageError(`config ${path}: unknown key "${k}" (known: ${CONFIG_KEYS.join(', ')})`);
    }
  }
  return out;
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${what} ${path}: cannot read: ${(err as Error).message}`);
  }
}

/** The output format alone: needed even for errors before any connection is made. */
export function outputFormat(values: FlagValues, usage: string): OutputFormat | undefined {
  const flag = str(values, 'output');
  if (flag === undefined) return undefined;
  const found = OUTPUT_FORMATS.find((f) => f === flag);
  if (found === undefined) throw new UsageError(`--output: "${flag}" is not one of ${OUTPUT_FORMATS.join(', ')}`, usage);
  return found;
}

export function resolveSettings(values: FlagValues, ctx: SettingsEnv, usage: string): Settings {
  const { env, homeDir, cwd } = ctx;
  const configFlag = str(values, 'config');
  const configEnv = env['SHOALCTL_CONFIG'];
  const xdg = env['XDG_CONFIG_HOME'];
  const configPath =
    configFlag !== undefined
      ? resolve(cwd, expandHome(configFlag, homeDir))
      : configEnv !== undefined && configEnv !== ''
        ? resolve(cwd, expandHome(configEnv, homeDir))
        : join(xdg !== undefined && xdg !== '' ? xdg : join(homeDir, '.config'), 'shoal', 'shoalctl.yaml');
  const config = readConfig(configPath, configFlag !== undefined || (configEnv !== undefined && configEnv !== ''), configFlag !== undefined ? '--config' : 'SHOALCTL_CONFIG');

  const fromConfig = (p: string | undefined): string | undefined =>
    p === undefined || config === undefined ? undefined : resolve(dirname(config.path), expandHome(p, homeDir));
  const fromCli = (p: string | undefined): string | undefined => (p === undefined || p === '' ? undefined : resolve(cwd, expandHome(p, homeDir)));

  const flagEndpoints = splitList(strs(values, 'endpoint'));
  const envEndpoints = splitList([env['SHOAL_ENDPOINTS'] ?? '']);
  const endpoints = (flagEndpoints.length > 0 ? flagEndpoints : envEndpoints.length > 0 ? envEndpoints : (config?.endpoints ?? [])).map(withScheme);
  if (endpoints.length === 0) {
    throw new UsageError(`no endpoint: pass --endpoint URL, set SHOAL_ENDPOINTS, or list endpoints in ${configPath}`, usage);
  }

  const pem = (name: 'ca' | 'cert' | 'key', envName: string): Buffer | undefined => {
    const flag = fromCli(str(values, name));
    if (flag !== undefined) return readPem(`--${name}`, flag);
    const envPath = fromCli(env[envName]);
    if (envPath !== undefined) return readPem(envName, envPath);
    const cfg = fromConfig(config?.[name]);
    return cfg === undefined ? undefined : readPem(`config ${configPath}: ${name}`, cfg);
  };
  const ca = pem('ca', 'SHOAL_CA');
  const cert = pem('cert', 'SHOAL_CERT');
  const key = pem('key', 'SHOAL_KEY');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(`--cert and --key go together: pass both or neither`, usage);

  const timeoutText = str(values, 'timeout');
  const concernText = str(values, 'write-concern') ?? (env['SHOAL_WRITE_CONCERN'] === '' ? undefined : env['SHOAL_WRITE_CONCERN']);
  const writeConcern = concernText === undefined ? undefined : parseWriteConcern(concernText);
  if (writeConcern === null) throw new UsageError(`--write-concern ${concernText ?? ''}: must be majority, all or a node count (1, 2, ...)`, usage);
  let output = outputFormat(values, usage);
  if (output === undefined && config?.output !== undefined) {
    output = OUTPUT_FORMATS.find((f) => f === config.output);
    if (output === undefined) throw new UsageError(`config ${configPath}: output: "${config.output}" is not one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return {
    endpoints,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(timeoutText === undefined ? {} : { timeoutMs: parseIntFlag('--timeout', timeoutText, 1, 3_600_000, usage) }),
    ...(writeConcern === undefined ? {} : { writeConcern }),
    output: output ?? 'table',
  };
}
