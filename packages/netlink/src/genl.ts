/**
 * Generic netlink: family ids are assigned at module load, so every family (IPVS, ...) is
 * resolved by name through the controller before the first request.
 */
import { CTRL_CMD_NEWFAMILY, GENL_ID_CTRL, NETLINK_GENERIC } from './constants.js';
import { NetlinkDecodeError } from './errors.js';
import { buildGetFamily, parseFamily, parseGenl, type GenlFamily } from './messages.js';
import { openNetlink, type NetlinkConnection, type NetlinkConnectionInit } from './socket.js';

export function openGenericNetlink(init: NetlinkConnectionInit = {}): Promise<NetlinkConnection> {
  return openNetlink(NETLINK_GENERIC, init);
}

/**
 * The family called `name` (e.g. "IPVS"); a NetlinkError ENOENT (E_NOT_FOUND) when the kernel
 * has no such family (module not loaded, not built). Opens and closes its own socket unless
 * given one.
 */
export async function resolveGenlFamily(name: string, init: NetlinkConnectionInit & { readonly connection?: NetlinkConnection } = {}): Promise<GenlFamily> {
  const conn = init.connection ?? (await openGenericNetlink(init));
  try {
    const replies = await conn.request(buildGetFamily(name));
    const m = replies.find((r) => r.header.type === GENL_ID_CTRL && parseGenl(r.payload).cmd === CTRL_CMD_NEWFAMILY);
    if (!m) throw new NetlinkDecodeError(`CTRL_CMD_GETFAMILY ${name}: no NEWFAMILY reply`);
    return parseFamily(m.payload);
  } finally {
    if (init.connection === undefined) await conn.close();
  }
}
