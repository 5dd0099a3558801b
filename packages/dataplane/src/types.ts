/**
 * The kernel state Shoal programs, as plain values: virtual services with their real servers
 * (IPVS's words). Both drivers (IPVS over netlink, nftables) take and give exactly this, so
 * the reconciler that diffs desired against actual never knows which kernel it talks to.
 */
import type { ForwardingMethod, IpFamily, Protocol, Scheduler } from '@shoal/model';

export interface RealServer {
  readonly ip: string;
  readonly port: number;
  /** 0 = quiesced: no new connections, established ones drain. */
  readonly weight: number;
  readonly forwarding: ForwardingMethod;
}

export interface VirtualService {
  readonly protocol: Protocol;
  /** Canonical text form (model's canonicalIp). */
  readonly vip: string;
  readonly port: number;
  readonly family: IpFamily;
  readonly scheduler: Scheduler;
  /** 0 = no persistence. */
  readonly persistenceTimeoutS: number;
  /** Prefix length for persistence grouping; absent = /32 or /128. */
  readonly persistenceNetmask?: number;
  /** Sorted by serverKey. */
  readonly servers: readonly RealServer[];
}

/** Identity of a virtual service in the kernel: protocol, VIP and port. */
export function serviceKey(s: Pick<VirtualService, 'protocol' | 'vip' | 'port'>): string {
  return `${s.protocol}|${s.vip}|${s.port}`;
}

/** Identity of a real server within its service. */
export function serverKey(r: Pick<RealServer, 'ip' | 'port'>): string {
  return `${r.ip}|${r.port}`;
}

/** One change to the kernel; a plan is a list of these, in order. */
export type DataplaneChange =
  | { readonly op: 'add-service'; readonly service: VirtualService }
  | { readonly op: 'update-service'; readonly service: VirtualService }
  | { readonly op: 'delete-service'; readonly service: VirtualService }
  | { readonly op: 'add-server'; readonly service: VirtualService; readonly server: RealServer }
  | { readonly op: 'update-server'; readonly service: VirtualService; readonly server: RealServer }
  | { readonly op: 'delete-server'; readonly service: VirtualService; readonly server: RealServer };

/**
 * A kernel data plane. Implementations touch only what Shoal created (IPVS services Shoal
 * added, the nftables table it owns) and must leave everything else alone.
 */
export interface Dataplane {
  readonly kind: 'ipvs' | 'nftables' | 'memory';
  /** The virtual services of Shoal's that are in the kernel now. */
  dump(): Promise<VirtualService[]>;
  /**
   * Applies the changes. `desired` is the whole desired state after them, for drivers that
   * rebuild per service (nftables) rather than apply op by op (IPVS).
   */
  apply(changes: readonly DataplaneChange[], desired: readonly VirtualService[]): Promise<void>;
  /** Removes everything Shoal created (shoald --cleanup). */
  flush(): Promise<void>;
  /**
   * Calls `onForeignChange` when something other than this driver changes what it owns (a
   * hand-deleted table), so the reconciler need not wait for its periodic resync. Absent where
   * the kernel offers no events (IPVS has no multicast group). Returns a stop function.
   */
  watch?(onForeignChange: (what: string) => void): () => void;
}
