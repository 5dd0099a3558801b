/** `shoalctl backend ...`: list, add, remove and set backends of an instance, by id or IP[:PORT]. */
import { FORWARDING_METHODS, NotFoundError, type Backend, type BackendPatch, type BackendSpec, type Instance } from '@shoal/model';
import { bool, str } from '../argv.js';
import type { CommandContext, CommandDef } from '../command.js';
import { UsageError } from '../exit-codes.js';
import { parseBackendAddress, parseEnumFlag, parseIntFlag } from '../flag-values.js';
import { backendTable } from '../output.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function hostPort(ip: string, port: number | undefined): string {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

/**
 * The backend id for `ref`, which is an id or IP[:PORT]. A backend without a port serves on
 * the VIP's ports, so `IP:80` also finds a port-less backend of an instance serving port 80.
 */
async function resolveBackend(ctx: CommandContext, instanceName: string, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const want = parseBackendAddress('BACKEND', ref, false, ctx.usage);
  const inst: Instance = await ctx.client().getInstance(instanceName);
  const matches = inst.backends.filter((b) => {
    if (b.ip !== want.ip) return false;
    if (want.port === undefined) return true;
    return b.port === undefined ? inst.ports.some((p) => p.port === want.port) : b.port === want.port;
  });
  const [only, ...more] = matches;
  if (only === undefined) throw new NotFoundError(`backend ${hostPort(want.ip, want.port)} of instance "${instanceName}"`);
  if (more.length > 0) {
    throw new UsageError(
      `${ref} matches ${matches.length} backends of ${instanceName} (${matches.map((b) => `${b.id} ${hostPort(b.ip, b.port)}`).join(', ')}); give the port or the id`,
      ctx.usage,
    );
  }
  return only.id;
}

function describe(b: Backend): string {
  return `${b.id} (${hostPort(b.ip, b.port)}, weight ${b.weight}, ${b.enabled ? 'enabled' : 'disabled'})`;
}

export const BACKEND_COMMANDS: readonly CommandDef[] = [
  {
    group: 'backend',
    verb: 'list',
    verbAliases: ['ls'],
    usage: 'backend list INSTANCE',
    summary: "list an instance's backends",
    flags: {},
    args: [1, 1],
    argNames: ['INSTANCE'],
    async run(ctx) {
      const items = await ctx.client().listBackends(ctx.args[0] ?? '');
      ctx.emit({ items }, () => backendTable(items));
    },
  },
  {
    group: 'backend',
    verb: 'add',
    usage: 'backend add INSTANCE IP[:PORT] [--weight N] [--disabled] [--forwarding M] [--name N]',
    summary: 'add a backend (IPv6 as [addr]:port; no port means the VIP port)',
    flags: {
      weight: { type: 'string', value: 'N', help: 'IPVS weight 0..65535 (default 1; 0 drains)' },
      disabled: { type: 'boolean', help: 'add it without sending it traffic' },
      forwarding: { type: 'string', value: 'M', help: `override the instance's forwarding: ${FORWARDING_METHODS.join(', ')}` },
      name: { type: 'string', value: 'N', help: 'a DNS-label name for the backend' },
    },
    args: [2, 2],
    argNames: ['INSTANCE', 'IP[:PORT]'],
    async run(ctx) {
      const { values, usage } = ctx;
      const addr = parseBackendAddress('IP[:PORT]', ctx.args[1] ?? '', false, usage);
      const weight = str(values, 'weight');
      const forwarding = str(values, 'forwarding');
      const name = str(values, 'name');
      const spec: BackendSpec = {
        ip: addr.ip,
        ...(addr.port === undefined ? {} : { port: addr.port }),
        ...(weight === undefined ? {} : { weight: parseIntFlag('--weight', weight, 0, 65535, usage) }),
        ...(bool(values, 'disabled') ? { enabled: false } : {}),
        ...(forwarding === undefined ? {} : { forwarding: parseEnumFlag('--forwarding', forwarding, FORWARDING_METHODS, usage) }),
        ...(name === undefined ? {} : { name }),
      };
      const b = await ctx.client().addBackend(ctx.args[0] ?? '', spec);
      ctx.emit(b, () => `backend ${describe(b)} added to ${ctx.args[0] ?? ''}\n`);
    },
  },
  {
    group: 'backend',
    verb: 'remove',
    verbAliases: ['rm', 'delete'],
    usage: 'backend remove INSTANCE (BACKEND_ID | IP[:PORT])',
    summary: 'remove a backend, named by id or address',
    flags: {},
    args: [2, 2],
    argNames: ['INSTANCE', 'BACKEND_ID or IP[:PORT]'],
    async run(ctx) {
      const instance = ctx.args[0] ?? '';
      const id = await resolveBackend(ctx, instance, ctx.args[1] ?? '');
      const b = await ctx.client().removeBackend(instance, id);
      ctx.emit(b, () => `backend ${describe(b)} removed from ${instance}\n`);
    },
  },
  {
    group: 'backend',
    verb: 'set',
    usage: 'backend set INSTANCE (BACKEND_ID | IP[:PORT]) [--weight N] [--enable | --disable]',
    summary: "change a backend's weight or enable/disable it",
    flags: {
      weight: { type: 'string', value: 'N', help: 'IPVS weight 0..65535 (0 drains)' },
      enable: { type: 'boolean', help: 'send it traffic' },
      disable: { type: 'boolean', help: 'stop sending it traffic, keeping it defined' },
    },
    args: [2, 2],
    argNames: ['INSTANCE', 'BACKEND_ID or IP[:PORT]'],
    async run(ctx) {
      const { values, usage } = ctx;
      if (bool(values, 'enable') && bool(values, 'disable')) throw new UsageError('--enable and --disable contradict each other', usage);
      const weight = str(values, 'weight');
      const patch: BackendPatch = {
        ...(weight === undefined ? {} : { weight: parseIntFlag('--weight', weight, 0, 65535, usage) }),
        ...(bool(values, 'enable') ? { enabled: true } : bool(values, 'disable') ? { enabled: false } : {}),
      };
      if (Object.keys(patch).length === 0) throw new UsageError('nothing to change: give --weight, --enable or --disable', usage);
      const instance = ctx.args[0] ?? '';
      const id = await resolveBackend(ctx, instance, ctx.args[1] ?? '');
      const b = await ctx.client().updateBackend(instance, id, patch);
      ctx.emit(b, () => `backend ${describe(b)} of ${instance} updated\n`);
    },
  },
];
