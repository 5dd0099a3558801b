/** `shoalctl members`: cluster membership as the answering node sees it. */
import type { Member } from '@shoal/client';
import type { CommandDef } from '../command.js';
import { renderTable } from '../output.js';

function ago(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m` : `${Math.round(m / 60)}h`;
}

export function memberTable(items: readonly Member[]): string {
  return renderTable(
    ['NAME', 'STATE', 'ADDRESS', 'INCARNATION', 'SINCE', 'API', 'META'],
    items.map((m) => {
      const { api, digest: _digest, ...rest } = m.meta;
      const meta = Object.entries(rest)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      return [m.self ? `${m.name} (self)` : m.name, m.state, m.address, String(m.incarnation), ago(m.sinceMs), api ?? '', meta];
    }),
  );
}

export const CLUSTER_COMMANDS: readonly CommandDef[] = [
  {
    group: 'members',
    usage: 'members',
    summary: 'cluster members: state (alive, suspect, dead, left), gossip address, incarnation, metadata',
    flags: {},
    args: [0, 0],
    async run(ctx) {
      const items = await ctx.client().members();
      ctx.emit({ items }, () => memberTable(items));
    },
  },
];
