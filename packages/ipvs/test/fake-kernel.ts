// An in-memory IPVS behind a NetlinkConnection, answering as ip_vs_ctl.c does (EEXIST, ESRCH,
// ENOENT for an unknown scheduler or destination). For the driver's ownership logic; the
// byte layout is proven by codec.test.ts and the real kernel by test/src/ipvs-vm.test.ts.
import {
  GENL_ID_CTRL,
  NetlinkError,
  attrMap,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  encodeAttrs,
  encodeGenlHeader,
  parseGenl,
  type NetlinkConnection,
  type NetlinkMessage,
  type NetlinkRequest,
} from '@shoal/netlink';
import { decodeDestAttrs, decodeServiceAttrs, destAttrs, serviceAttrs, type IpvsServiceEntry } from '../src/index.js';
import type { RealServer } from '@shoal/dataplane';

export const FAKE_IPVS_FAMILY = 42;

interface Svc {
  entry: IpvsServiceEntry;
  dests: Map<string, RealServer>;
}

export class FakeIpvsKernel implements NetlinkConnection {
  readonly services = new Map<string, Svc>();
  readonly commands: number[] = [];
  schedulers = new Set(['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh', 'dh', 'sed', 'nq', 'fo', 'ovf', 'lblc', 'lblcr']);

  static keyOf(e: Pick<IpvsServiceEntry, 'protocol' | 'vip' | 'port'>): string {
    return `${String(e.protocol)}|${e.vip ?? ''}|${e.port ?? 0}`;
  }

  /** What `ipvsadm -A` would do: a service Shoal did not create. */
  addForeign(e: IpvsServiceEntry): void {
    this.services.set(FakeIpvsKernel.keyOf(e), { entry: e, dests: new Map() });
  }

  request(req: NetlinkRequest): Promise<NetlinkMessage[]> {
    try {
      return Promise.resolve(this.handle(req));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private reply(cmd: number, body: Buffer): NetlinkMessage {
    return { header: { type: FAKE_IPVS_FAMILY, flags: 2, seq: 1, pid: 0 }, payload: Buffer.concat([encodeGenlHeader(cmd, 1), body]) };
  }

  private handle(req: NetlinkRequest): NetlinkMessage[] {
    const fail = (errno: number): never => {
      throw new NetlinkError(errno, req.describe);
    };
    if (req.type === GENL_ID_CTRL) {
      const name = req.payload.subarray(8).toString('utf8').replace(/\0+$/, '');
      if (name !== 'IPVS') fail(2);
      return [{ header: { type: GENL_ID_CTRL, flags: 0, seq: 1, pid: 0 }, payload: Buffer.concat([encodeGenlHeader(1, 2), encodeAttrs([attrString(2, 'IPVS'), attrU16(1, FAKE_IPVS_FAMILY), attrU32(3, 1), attrU32(4, 0), attrU32(5, 6)])]) }];
    }
    if (req.type !== FAKE_IPVS_FAMILY) return fail(22);
    const g = parseGenl(req.payload);
    this.commands.push(g.cmd);
    const a = attrMap(g.attrs);
    const svcAttr = a.get(1);
    const svc = svcAttr === undefined ? undefined : decodeServiceAttrs(svcAttr);
    const key = svc === undefined ? '' : FakeIpvsKernel.keyOf(svc);
    const existing = this.services.get(key);
    const dest = a.get(2) === undefined || svc === undefined ? undefined : decodeDestAttrs(a.get(2)!, svc.family);
    switch (g.cmd) {
      case 1: // NEW_SERVICE
        if (existing) fail(17);
        if (!this.schedulers.has(svc!.scheduler)) fail(2);
        this.services.set(key, { entry: svc!, dests: new Map() });
        return [];
      case 2: // SET_SERVICE
        if (!existing) fail(3);
        if (!this.schedulers.has(svc!.scheduler)) fail(2);
        existing!.entry = svc!;
        return [];
      case 3: // DEL_SERVICE
        if (!existing) fail(3);
        this.services.delete(key);
        return [];
      case 4: // GET_SERVICE dump
        return [...this.services.values()].map((s) =>
          this.reply(1, encodeAttrs([attrNested(1, serviceAttrs({ protocol: s.entry.protocol as 'tcp', vip: s.entry.vip!, port: s.entry.port!, family: s.entry.family, scheduler: s.entry.scheduler as 'rr', persistenceTimeoutS: s.entry.timeoutS, persistenceNetmask: s.entry.netmask }))])),
        );
      case 5: // NEW_DEST
      case 6: // SET_DEST
      case 7: {
        // DEL_DEST
        if (!existing) fail(3);
        const dk = `${dest!.ip}|${dest!.port}`;
        const have = existing!.dests.get(dk);
        if (g.cmd === 5 && have) fail(17);
        if (g.cmd !== 5 && !have) fail(2);
        if (g.cmd === 7) existing!.dests.delete(dk);
        else existing!.dests.set(dk, { ip: dest!.ip, port: dest!.port, weight: dest!.weight, forwarding: dest!.forwarding as 'nat' });
        return [];
      }
      case 8: // GET_DEST dump
        if (!existing) fail(3);
        return [...existing!.dests.values()].map((d) => this.reply(5, encodeAttrs([attrNested(2, destAttrs(existing!.entry.family, d, true))])));
      case 17: // FLUSH
        this.services.clear();
        return [];
      default:
        return fail(22);
    }
  }
}

