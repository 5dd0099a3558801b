/**
 * Run inside a network namespace by announce-lab.test.ts (`ip netns exec NS node THIS MODE ...`),
 * so the packet socket and the rtnetlink socket belong to that namespace. Prints one JSON line.
 *
 *   announce IFNAME VIP4 VIP6  adds VIP4/32 and VIP6/128 to IFNAME (rtnetlink, as shoald will),
 *                              then announces each: { results: AnnounceResult[] }
 *   errors IFNAME              the refusals: { codes: { loopback, missing, up, noSuchIfindex, afterClose, unprivileged } }
 */
import { pino } from 'pino';
import { AnnounceError, ETH_P_ARP, createL2Announcer, createNetlinkLinkLookup, gratuitousArp, openPacketSocket } from '@shoal/announce';
import { openRouteNetlink } from '@shoal/netlink';

const logger = pino({ level: process.env['ANNOUNCE_LOG'] ?? 'warn' }, pino.destination(2));

async function announce(ifname: string, vip4: string, vip6: string): Promise<unknown> {
  const rt = await openRouteNetlink({ logger });
  const announcer = createL2Announcer({ logger });
  try {
    await rt.addAddress(ifname, `${vip4}/32`);
    await rt.addAddress(ifname, `${vip6}/128`);
    const results = [await announcer.announce(vip4, ifname), await announcer.announce(vip6, ifname)];
    return { results };
  } finally {
    announcer.close();
    await rt.close();
  }
}

const codeOf = async (f: () => unknown): Promise<string> => {
  try {
    await f();
    return 'ok';
  } catch (err) {
    return err instanceof AnnounceError ? `${err.code}${err.errno === undefined ? '' : ` ${err.errno}`}: ${err.message}` : String(err);
  }
};

async function errors(ifname: string): Promise<unknown> {
  const links = createNetlinkLinkLookup({ logger });
  const loopback = await codeOf(() => links.lookup('lo'));
  const missing = await codeOf(() => links.lookup('nope0'));
  const up = await codeOf(() => links.lookup(ifname));
  await links.close();
  const socket = openPacketSocket();
  const noSuchIfindex = await codeOf(() => socket.send(99_999, ETH_P_ARP, gratuitousArp('request', '02:15:00:00:00:99', '10.215.0.99')));
  socket.close();
  const afterClose = await codeOf(() => socket.send(1, ETH_P_ARP, gratuitousArp('request', '02:15:00:00:00:99', '10.215.0.99')));
  // setuid away from root drops every capability, CAP_NET_RAW included.
  if (process.setgid === undefined || process.setuid === undefined) throw new Error('setuid/setgid are POSIX-only');
  process.setgid(65534);
  process.setuid(65534);
  const unprivileged = await codeOf(() => openPacketSocket());
  return { codes: { loopback, missing, up, noSuchIfindex, afterClose, unprivileged } };
}

const [mode, ...args] = process.argv.slice(2);
let out: Promise<unknown>;
if (mode === 'announce' && args.length === 3) out = announce(args[0] ?? '', args[1] ?? '', args[2] ?? '');
else if (mode === 'errors' && args.length === 1) out = errors(args[0] ?? '');
else out = Promise.reject(new Error(`usage: announce IFNAME VIP4 VIP6 | errors IFNAME (got ${process.argv.slice(2).join(' ')})`));
out.then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
