/** `shoalctl pool ...` and `shoalctl status`. Pool writes need the admin role. */
import type { PoolSpecInput } from '@shoal/model';
import { bool, str, strs } from '../argv.js';
import type { CommandDef } from '../command.js';
import { UsageError } from '../exit-codes.js';
import { parseIntFlag } from '../flag-values.js';
import { poolDetail, poolTable, statusDetail } from '../output.js';

export const POOL_COMMANDS: readonly CommandDef[] = [
  {
    group: 'pool',
    verb: 'list',
    verbAliases: ['ls'],
    usage: 'pool list',
    summary: 'list address pools',
    flags: {},
    args: [0, 0],
    async run(ctx) {
      const items = await ctx.client().listPools();
      ctx.emit({ items }, () => poolTable(items));
    },
  },
  {
    group: 'pool',
    verb: 'get',
    usage: 'pool get NAME',
    summary: 'show one pool',
    flags: {},
    args: [1, 1],
    argNames: ['NAME'],
    async run(ctx) {
      const pool = await ctx.client().getPool(ctx.args[0] ?? '');
      ctx.emit(pool, () => poolDetail(pool));
    },
  },
  {
    group: 'pool',
    verb: 'create',
    usage: 'pool create NAME --range R... [--avoid-buggy-ips] [--no-auto-assign] [--description TEXT]',
    summary: 'create an address pool VIPs are allocated from',
    flags: {
      range: { type: 'string', multiple: true, value: 'R', help: 'CIDR, first-last range or one address; repeatable or comma-separated' },
      'avoid-buggy-ips': { type: 'boolean', help: 'skip IPv4 addresses ending in .0 and .255' },
      'no-auto-assign': { type: 'boolean', help: 'hand out addresses only to instances naming this pool' },
      description: { type: 'string', value: 'TEXT', help: 'free text' },
    },
    args: [1, 1],
    argNames: ['NAME'],
    async run(ctx) {
      const { values, usage } = ctx;
      const ranges = strs(values, 'range')
        .flatMap((r) => r.split(','))
        .map((r) => r.trim())
        .filter((r) => r !== '');
      if (ranges.length === 0) throw new UsageError('--range is required', usage);
      const description = str(values, 'description');
      const spec: PoolSpecInput = {
        name: ctx.args[0] ?? '',
        ranges,
        ...(bool(values, 'avoid-buggy-ips') ? { avoidBuggyIps: true } : {}),
        ...(bool(values, 'no-auto-assign') ? { autoAssign: false } : {}),
        ...(description === undefined ? {} : { description }),
      };
      const pool = await ctx.client().createPool(spec);
      ctx.emit(pool, () => `pool/${pool.name} created (${pool.ranges.join(', ')})\n`);
    },
  },
  {
    group: 'pool',
    verb: 'delete',
    verbAliases: ['rm'],
    usage: 'pool delete NAME [--if-generation N]',
    summary: 'delete a pool no instance uses',
    flags: { 'if-generation': { type: 'string', value: 'N', help: 'fail with exit 4 unless the pool is at generation N' } },
    args: [1, 1],
    argNames: ['NAME'],
    async run(ctx) {
      const text = str(ctx.values, 'if-generation');
      const options = text === undefined ? {} : { ifGeneration: parseIntFlag('--if-generation', text, 0, Number.MAX_SAFE_INTEGER, ctx.usage) };
      const pool = await ctx.client().deletePool(ctx.args[0] ?? '', options);
      ctx.emit(pool, () => `pool/${pool.name} deleted\n`);
    },
  },
];

export const STATUS_COMMANDS: readonly CommandDef[] = [
  {
    group: 'status',
    usage: 'status',
    summary: "the answering node's name, version, uptime and store state",
    flags: {},
    args: [0, 0],
    async run(ctx) {
      const status = await ctx.client().status();
      ctx.emit(status, () => statusDetail(status));
    },
  },
];
