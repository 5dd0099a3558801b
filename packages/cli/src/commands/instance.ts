/** `shoalctl instance ...`: create (from flags or a file), list, get, modify, delete, start, stop. */
import { parse as parseYaml } from 'yaml';
import {
  canonicalIp,
  FORWARDING_METHODS,
  HEALTH_CHECK_TYPES,
  SCHEDULERS,
  ShoalError,
  parseLabelSelector,
  withoutServerOwnedFields,
  type HealthCheck,
  type Instance,
  type InstancePatchInput,
  type InstanceSpecInput,
  type PortSpec,
} from '@shoal/model';
import { bool, str, strs, type FlagValues, type Flags } from '../argv.js';
import type { CommandContext, CommandDef } from '../command.js';
import { UsageError } from '../exit-codes.js';
import { parseBackendAddress, parseEnumFlag, parseIntFlag, parseLabelFlag, parsePortFlags } from '../flag-values.js';
import { isFlexLbTemplate, translateFlexLbTemplate } from '../flexlb.js';
import { formatPorts, instanceDetail, instanceTable } from '../output.js';

type HealthCheckInput = NonNullable<InstanceSpecInput['healthCheck']>;

const FILE_FLAG = { type: 'string', short: 'f', value: 'FILE', help: 'JSON or YAML instance spec, or a FlexLB template; "-" reads stdin' } as const;
const IF_GENERATION_FLAG = { type: 'string', value: 'N', help: 'fail with exit 4 unless the instance is at generation N' } as const;

const HEALTH_FLAGS = {
  health: { type: 'string', value: 'TYPE', help: `health check: ${HEALTH_CHECK_TYPES.join(', ')}` },
  'health-path': { type: 'string', value: 'PATH', help: 'HTTP(S) check path (implies --health http)' },
  'health-interval': { type: 'string', value: 'MS', help: 'time between checks of one backend' },
} as const satisfies Flags;

const SHARED_SPEC_FLAGS = {
  vip: { type: 'string', value: 'IP', help: 'the virtual IP (default: allocated from the pool)' },
  pool: { type: 'string', value: 'NAME', help: 'address pool the VIP comes from' },
  scheduler: { type: 'string', value: 'S', help: `IPVS scheduler: ${SCHEDULERS.join(', ')}` },
  forwarding: { type: 'string', value: 'M', help: `forwarding method: ${FORWARDING_METHODS.join(', ')}` },
  persistence: { type: 'string', value: 'SECONDS', help: 'client affinity timeout; 0 turns it off' },
  'sharing-key': { type: 'string', value: 'K', help: 'instances with the same key may share a VIP' },
  description: { type: 'string', value: 'TEXT', help: 'free text' },
  ...HEALTH_FLAGS,
} as const satisfies Flags;

const CREATE_FLAGS = {
  file: FILE_FLAG,
  port: { type: 'string', multiple: true, value: 'PORT[/tcp|/udp]', help: 'a port the VIP serves; repeatable or comma-separated (required without -f)' },
  backend: { type: 'string', multiple: true, value: 'IP[:PORT][@WEIGHT]', help: 'a backend; IPv6 as [addr]:port; repeatable' },
  label: { type: 'string', multiple: true, value: 'K=V', help: 'a label; repeatable' },
  stopped: { type: 'boolean', help: 'create it stopped (defined, not serving)' },
  ...SHARED_SPEC_FLAGS,
} as const satisfies Flags;

const MODIFY_FLAGS = {
  file: FILE_FLAG,
  'if-generation': IF_GENERATION_FLAG,
  label: { type: 'string', multiple: true, value: 'K=V|K-', help: 'set a label, or remove it with K-; repeatable' },
  'add-port': { type: 'string', multiple: true, value: 'PORT[/PROTO]', help: 'add a port; repeatable' },
  'remove-port': { type: 'string', multiple: true, value: 'PORT[/PROTO]', help: 'remove a port; repeatable' },
  ...SHARED_SPEC_FLAGS,
} as const satisfies Flags;

/** Flags that change the spec (everything but -f and --if-generation). */
const MODIFY_CHANGE_FLAGS = Object.keys(MODIFY_FLAGS).filter((k) => k !== 'file' && k !== 'if-generation');

function ifGeneration(values: FlagValues, usage: string): number | undefined {
  const text = str(values, 'if-generation');
  return text === undefined ? undefined : parseIntFlag('--if-generation', text, 0, Number.MAX_SAFE_INTEGER, usage);
}

function given(values: FlagValues, names: readonly string[]): string[] {
  return names.filter((n) => values[n] !== undefined);
}

/**
 * A health check from the --health* flags, starting from `current` when it is of the same type
 * so changing only the path keeps the timing. Undefined when no health flag was given.
 */
function healthFromFlags(values: FlagValues, usage: string, current?: HealthCheck): HealthCheckInput | undefined {
  const typeFlag = str(values, 'health');
  const path = str(values, 'health-path');
  const intervalText = str(values, 'health-interval');
  if (typeFlag === undefined && path === undefined && intervalText === undefined) return undefined;
  const currentType = current?.type;
  const type =
    typeFlag !== undefined
      ? parseEnumFlag('--health', typeFlag, HEALTH_CHECK_TYPES, usage)
      : path !== undefined
        ? currentType === 'https'
          ? 'https'
          : 'http'
        : currentType !== undefined && currentType !== 'none'
          ? currentType
          : 'tcp';
  if (type === 'none' && (path !== undefined || intervalText !== undefined)) {
    throw new UsageError(`${path !== undefined ? '--health-path' : '--health-interval'} cannot go with --health none`, usage);
  }
  if (type === 'tcp' && path !== undefined) throw new UsageError('--health-path needs --health http or https', usage);
  // Built loosely and validated by the server, which owns the schema's defaults and limits.
  const hc: Record<string, unknown> = current !== undefined && current.type === type ? { ...current } : { type };
  if (path !== undefined) {
    if (!path.startsWith('/')) throw new UsageError(`--health-path: "${path}" must start with "/"`, usage);
    hc['path'] = path;
  }
  if (intervalText !== undefined) {
    const intervalMs = parseIntFlag('--health-interval', intervalText, 100, 3_600_000, usage);
    hc['intervalMs'] = intervalMs;
    // The timeout may not exceed the interval; shorten it rather than make the user do it.
    const timeout = typeof hc['timeoutMs'] === 'number' ? hc['timeoutMs'] : 1000;
    if (timeout > intervalMs) hc['timeoutMs'] = intervalMs;
  }
  return hc as HealthCheckInput;
}

/** Fields both create and modify take from flags, as a partial spec. */
function sharedSpecFields(values: FlagValues, usage: string): Partial<InstanceSpecInput> {
  const out: Partial<InstanceSpecInput> = {};
  const vip = str(values, 'vip');
  if (vip !== undefined && vip !== '') {
    const ip = canonicalIp(vip);
    if (ip === null) throw new UsageError(`--vip: "${vip}" is not an IPv4 or IPv6 address`, usage);
    out.vip = ip;
  }
  const pool = str(values, 'pool');
  if (pool !== undefined && pool !== '') out.pool = pool;
  const scheduler = str(values, 'scheduler');
  if (scheduler !== undefined) out.scheduler = parseEnumFlag('--scheduler', scheduler, SCHEDULERS, usage);
  const forwarding = str(values, 'forwarding');
  if (forwarding !== undefined) out.forwarding = parseEnumFlag('--forwarding', forwarding, FORWARDING_METHODS, usage);
  const persistence = str(values, 'persistence');
  if (persistence !== undefined) out.persistenceTimeoutS = parseIntFlag('--persistence', persistence, 0, 31_536_000, usage);
  const sharingKey = str(values, 'sharing-key');
  if (sharingKey !== undefined && sharingKey !== '') out.sharingKey = sharingKey;
  const description = str(values, 'description');
  if (description !== undefined && description !== '') out.description = description;
  return out;
}

function specFromFlags(name: string, values: FlagValues, usage: string): InstanceSpecInput {
  const ports = parsePortFlags('--port', strs(values, 'port'), usage);
  if (ports.length === 0) throw new UsageError('--port is required (or give the whole spec with -f FILE)', usage);
  const backends = strs(values, 'backend').map((b) => {
    const a = parseBackendAddress('--backend', b, true, usage);
    return { ip: a.ip, ...(a.port === undefined ? {} : { port: a.port }), ...(a.weight === undefined ? {} : { weight: a.weight }) };
  });
  const labels: Record<string, string> = {};
  for (const l of strs(values, 'label')) {
    const { key, value } = parseLabelFlag('--label', l, false, usage);
    labels[key] = value ?? '';
  }
  const healthCheck = healthFromFlags(values, usage);
  return {
    name,
    ports,
    ...sharedSpecFields(values, usage),
    ...(backends.length === 0 ? {} : { backends }),
    ...(Object.keys(labels).length === 0 ? {} : { labels }),
    ...(healthCheck === undefined ? {} : { healthCheck }),
    ...(bool(values, 'stopped') ? { state: 'stopped' as const } : {}),
  };
}

/** A spec document from -f: JSON or YAML, a Shoal spec or a FlexLB template. */
async function specFromFile(ctx: CommandContext, path: string): Promise<{ spec: Record<string, unknown>; generation: number | undefined }> {
  const text = await ctx.readInput('-f', path);
  let doc: unknown;
  try {
    // YAML is a superset of JSON; JSON.parse first gives JSON files JSON's error messages.
    doc = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UsageError(`-f ${path}: not valid JSON or YAML: ${(err as Error).message}`, ctx.usage);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(`-f ${path}: expected an object (an instance spec or a FlexLB template)`, ctx.usage);
  if (isFlexLbTemplate(doc)) {
    let translated;
    try {
      translated = translateFlexLbTemplate(doc);
    } catch (err) {
      if (err instanceof ShoalError) throw new UsageError(`-f ${path}: ${err.message}`, ctx.usage, err.issues ?? []);
      throw err;
    }
    for (const field of translated.ignored) ctx.warn(`ignored FlexLB field: ${field}`);
    return { spec: { ...translated.spec }, generation: undefined };
  }
  // `instance get -o yaml` output works as input: server-owned fields are dropped, and its
  // generation makes the edit conditional.
  const generation = (doc as { generation?: unknown }).generation;
  return { spec: withoutServerOwnedFields(doc) as Record<string, unknown>, generation: typeof generation === 'number' ? generation : undefined };
}

function portKey(p: PortSpec): string {
  return `${p.port}/${p.protocol}`;
}

/** The PATCH body for modify's flags; reads the instance first when a flag edits a collection. */
async function patchFromFlags(ctx: CommandContext, name: string): Promise<{ patch: InstancePatchInput; readGeneration: number | undefined }> {
  const { values, usage } = ctx;
  const patch: InstancePatchInput = { ...sharedSpecFields(values, usage) };
  // Empty strings clear optional fields.
  if (str(values, 'description') === '') patch.description = null;
  if (str(values, 'pool') === '') patch.pool = null;
  if (str(values, 'sharing-key') === '') patch.sharingKey = null;
  const needsCurrent = given(values, ['label', 'add-port', 'remove-port', 'health', 'health-path', 'health-interval']).length > 0;
  if (!needsCurrent) return { patch, readGeneration: undefined };

  const current: Instance = await ctx.client().getInstance(name);
  if (values['label'] !== undefined) {
    const labels = new Map(Object.entries(current.labels));
    for (const l of strs(values, 'label')) {
      const { key, value } = parseLabelFlag('--label', l, true, usage);
      if (value === null) labels.delete(key);
      else labels.set(key, value);
    }
    patch.labels = Object.fromEntries(labels);
  }
  if (values['add-port'] !== undefined || values['remove-port'] !== undefined) {
    const ports = [...current.ports];
    for (const p of parsePortFlags('--add-port', strs(values, 'add-port'), usage)) if (!ports.some((q) => portKey(q) === portKey(p))) ports.push(p);
    for (const p of parsePortFlags('--remove-port', strs(values, 'remove-port'), usage)) {
      const i = ports.findIndex((q) => portKey(q) === portKey(p));
      if (i < 0) throw new UsageError(`--remove-port: instance ${name} has no port ${portKey(p)} (it has ${formatPorts(current)})`, usage);
      ports.splice(i, 1);
    }
    patch.ports = ports;
  }
  const healthCheck = healthFromFlags(values, usage, current.healthCheck);
  if (healthCheck !== undefined) patch.healthCheck = healthCheck;
  // The collections were computed from what we read: make the write conditional on it.
  return { patch, readGeneration: current.generation };
}

function wrote(ctx: CommandContext, inst: Instance, what: string): void {
  ctx.emit(inst, () => `instance/${inst.name} ${what} (vip ${inst.vip}, ports ${formatPorts(inst)}, generation ${inst.generation})\n`);
}

export const INSTANCE_COMMANDS: readonly CommandDef[] = [
  {
    group: 'instance',
    verb: 'create',
    usage: 'instance create NAME --port PORT[/tcp|/udp]... [--vip IP] [--pool NAME] [--backend IP[:PORT][@WEIGHT]]... [flags]  |  instance create -f FILE [NAME]',
    summary: 'create an instance from flags, or from a Shoal spec or FlexLB template file',
    flags: CREATE_FLAGS,
    args: [0, 1],
    async run(ctx) {
      const { values, usage, args } = ctx;
      const file = str(values, 'file');
      let spec: InstanceSpecInput;
      if (file !== undefined) {
        const extra = given(values, Object.keys(CREATE_FLAGS).filter((k) => k !== 'file'));
        if (extra.length > 0) throw new UsageError(`-f cannot be combined with --${extra[0] ?? ''}; put it in the file`, usage);
        const fromFile = (await specFromFile(ctx, file)).spec;
        // The spec is the server's to validate; the CLI only fills in the name.
        spec = (args[0] === undefined ? fromFile : { ...fromFile, name: args[0] }) as InstanceSpecInput;
      } else {
        const name = args[0];
        if (name === undefined) throw new UsageError('NAME is required', usage);
        spec = specFromFlags(name, values, usage);
      }
      wrote(ctx, await ctx.client().createInstance(spec), 'created');
    },
  },
  {
    group: 'instance',
    verb: 'list',
    verbAliases: ['ls'],
    usage: 'instance list [--label SELECTOR]...',
    summary: 'list instances, optionally filtered by labels (env=prod, env!=dev, tier, !canary)',
    flags: { label: { type: 'string', multiple: true, value: 'SELECTOR', help: 'label selector term; repeatable or comma-separated' } },
    args: [0, 0],
    async run(ctx) {
      const labels = strs(ctx.values, 'label');
      try {
        parseLabelSelector(labels);
      } catch (err) {
        if (err instanceof ShoalError) throw new UsageError(`--label: ${err.issues?.[0]?.message ?? err.message}`, ctx.usage);
        throw err;
      }
      const items = await ctx.client().listInstances({ labels });
      ctx.emit({ items }, () => instanceTable(items));
    },
  },
  {
    group: 'instance',
    verb: 'get',
    usage: 'instance get NAME',
    summary: 'show one instance with its backends',
    flags: {},
    args: [1, 1],
    argNames: ['NAME'],
    async run(ctx) {
      const inst = await ctx.client().getInstance(ctx.args[0] ?? '');
      ctx.emit(inst, () => instanceDetail(inst));
    },
  },
  {
    group: 'instance',
    verb: 'modify',
    usage: 'instance modify NAME (-f FILE | --scheduler S | --label K=V|K- | --add-port P | --remove-port P | --health T | ...) [--if-generation N]',
    summary: 'replace an instance from a file (PUT), or change fields given as flags (PATCH)',
    flags: MODIFY_FLAGS,
    args: [1, 1],
    argNames: ['NAME'],
    async run(ctx) {
      const { values, usage } = ctx;
      const name = ctx.args[0] ?? '';
      const file = str(values, 'file');
      const changes = given(values, MODIFY_CHANGE_FLAGS);
      const explicit = ifGeneration(values, usage);
      let inst: Instance;
      if (file !== undefined) {
        if (changes.length > 0) throw new UsageError(`-f cannot be combined with --${changes[0] ?? ''}; put it in the file`, usage);
        const { spec, generation } = await specFromFile(ctx, file);
        const body = { ...spec, name: typeof spec['name'] === 'string' ? spec['name'] : name } as InstanceSpecInput;
        const cond = explicit ?? generation;
        inst = await ctx.client().replaceInstance(name, body, cond === undefined ? {} : { ifGeneration: cond });
      } else {
        if (changes.length === 0) throw new UsageError('nothing to change: give -f FILE or at least one flag such as --scheduler or --label', usage);
        const { patch, readGeneration } = await patchFromFlags(ctx, name);
        const cond = explicit ?? readGeneration;
        inst = await ctx.client().patchInstance(name, patch, cond === undefined ? {} : { ifGeneration: cond });
      }
      wrote(ctx, inst, 'modified');
    },
  },
  {
    group: 'instance',
    verb: 'delete',
    verbAliases: ['rm'],
    usage: 'instance delete NAME [--if-generation N]',
    summary: 'delete an instance (its VIP returns to its pool)',
    flags: { 'if-generation': IF_GENERATION_FLAG },
    args: [1, 1],
    argNames: ['NAME'],
    async run(ctx) {
      const cond = ifGeneration(ctx.values, ctx.usage);
      const inst = await ctx.client().deleteInstance(ctx.args[0] ?? '', cond === undefined ? {} : { ifGeneration: cond });
      ctx.emit(inst, () => `instance/${inst.name} deleted\n`);
    },
  },
  ...(['start', 'stop'] as const).map(
    (verb): CommandDef => ({
      group: 'instance',
      verb,
      usage: `instance ${verb} NAME [--if-generation N]`,
      summary: verb === 'start' ? 'serve the instance' : 'stop serving the instance, keeping its definition and VIP',
      flags: { 'if-generation': IF_GENERATION_FLAG },
      args: [1, 1],
      argNames: ['NAME'],
      async run(ctx) {
        const cond = ifGeneration(ctx.values, ctx.usage);
        const options = cond === undefined ? {} : { ifGeneration: cond };
        const name = ctx.args[0] ?? '';
        const inst = verb === 'start' ? await ctx.client().startInstance(name, options) : await ctx.client().stopInstance(name, options);
        wrote(ctx, inst, verb === 'start' ? 'started' : 'stopped');
      },
    }),
  ),
];
