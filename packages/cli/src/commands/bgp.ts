/** `shoalctl bgp peers` / `shoalctl bgp routes`: the answering node's BGP speaker. */
import type { BgpStatus } from '@shoal/client';
import type { CommandDef, CommandContext } from '../command.js';
import { renderTable } from '../output.js';

type EnabledBgp = Extract<BgpStatus, { enabled: true }>;

function uptime(s: number): string {
  if (s <= 0) return '-';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m}m` : `${Math.floor(m / 60)}h${m % 60}m`;
}

export function bgpPeerTable(bgp: EnabledBgp): string {
  return renderTable(
    ['PEER', 'AS', 'TYPE', 'STATE', 'UPTIME', 'FLAPS', 'PREFIXES', 'FAMILIES', 'LAST'],
    bgp.peers.map((p) => [
      p.description === undefined ? p.address : `${p.address} (${p.description})`,
      String(p.asn),
      p.type,
      p.state,
      uptime(p.uptimeS),
      String(p.flaps),
      String(p.routesAdvertised),
      p.families.map((f) => `${f.family}${f.negotiated ? '' : '(not negotiated)'}${f.problem === undefined ? '' : `(${f.problem})`}`).join(' '),
      p.lastError ?? p.lastNotificationReceived ?? p.lastNotificationSent ?? '',
    ]),
  );
}

export function bgpRouteTable(bgp: EnabledBgp): string {
  return renderTable(
    ['PREFIX', 'INSTANCES', 'COMMUNITIES', 'LARGE'],
    bgp.routes.map((r) => [r.prefix, r.instances.join(','), String(r.communities), String(r.largeCommunities)]),
  );
}

async function enabledBgp(ctx: CommandContext): Promise<EnabledBgp | null> {
  const bgp = await ctx.client().bgp();
  if (!bgp.enabled) {
    ctx.emit({ enabled: false }, () => 'BGP is not enabled on this node (bgp.enabled in shoald.yaml)');
    return null;
  }
  return bgp;
}

export const BGP_COMMANDS: readonly CommandDef[] = [
  {
    group: 'bgp',
    verb: 'peers',
    usage: 'bgp peers',
    summary: "BGP sessions of the answering node: peer, AS, state, uptime, flaps, prefixes sent, last error",
    flags: {},
    args: [0, 0],
    async run(ctx) {
      const bgp = await enabledBgp(ctx);
      if (bgp) ctx.emit({ asn: bgp.asn, routerId: bgp.routerId, mode: bgp.mode, items: bgp.peers }, () => `AS ${bgp.asn}, router id ${bgp.routerId}, mode ${bgp.mode}\n${bgpPeerTable(bgp)}`);
    },
  },
  {
    group: 'bgp',
    verb: 'routes',
    usage: 'bgp routes',
    summary: 'VIPs the answering node announces by BGP, with the instances behind them',
    flags: {},
    args: [0, 0],
    async run(ctx) {
      const bgp = await enabledBgp(ctx);
      if (bgp) ctx.emit({ items: bgp.routes }, () => bgpRouteTable(bgp));
    },
  },
];
