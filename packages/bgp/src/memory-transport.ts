/**
 * An in-memory TCP for tests (memberlist's mock_transport.go, for BGP): hosts with addresses,
 * listeners on ports, ordered byte streams between them. Deliveries are microtasks, so a test
 * on a hand-driven clock sees a whole exchange settle within one event-loop turn.
 *
 * Failure injection: `cut()` turns open connections into black holes (bytes vanish and
 * neither side hears of it: a pulled cable, only the hold timer notices) and `partition()`
 * makes new connection attempts hang like SYNs into the void until `heal()`.
 */
import { BgpError } from './errors.js';
import { canonicalAddress } from './prefix.js';
import type { BgpConnectOptions, BgpConnection, BgpListenOptions, BgpListener, BgpTransport } from './transport.js';

export interface MemoryConnectionInfo {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Which side opened it. */
  readonly initiator: 'local' | 'remote';
  readonly cut: boolean;
  readonly ttl: number | undefined;
}

export interface MemoryHost extends BgpTransport {
  readonly addresses: readonly string[];
  /** This host's open connections (both directions). */
  connections(): MemoryConnectionInfo[];
}

export interface MemoryNetwork {
  /** A host owning `addresses`; its transport connects from them and listens on them. */
  host(addresses: string | readonly string[]): MemoryHost;
  /**
   * Silently cuts the open connections between hosts holding `a` and `b` (every open
   * connection when both are omitted); returns how many. New connections still work.
   */
  cut(a?: string, b?: string): number;
  /** New connections between `a` and `b` hang until aborted (open ones are untouched: see cut). */
  partition(a: string, b: string): void;
  heal(a?: string, b?: string): void;
  /** Every open connection, seen from its initiator. */
  connections(): MemoryConnectionInfo[];
}

interface Pair {
  cut: boolean;
  readonly a: MemoryConnection;
  readonly b: MemoryConnection;
}

class MemoryConnection implements BgpConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly initiator: 'local' | 'remote';
  ttl: number | undefined;
  pair!: Pair;
  #closed = false;
  #dataListener: ((chunk: Uint8Array) => void) | undefined;
  #pending: Uint8Array[] = [];
  #closeListener: ((error?: Error) => void) | undefined;
  #closeReported = false;
  #closedWith: { error?: Error } | undefined;
  readonly #onGone: (c: MemoryConnection) => void;

  constructor(local: { address: string; port: number }, remote: { address: string; port: number }, initiator: 'local' | 'remote', onGone: (c: MemoryConnection) => void) {
    this.localAddress = local.address;
    this.localPort = local.port;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.initiator = initiator;
    this.#onGone = onGone;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #other(): MemoryConnection {
    return this.pair.a === this ? this.pair.b : this.pair.a;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.pair.cut) return;
    const copy = Uint8Array.from(bytes);
    const other = this.#other();
    queueMicrotask(() => {
      if (!this.pair.cut) other.receive(copy);
    });
  }

  end(): void {
    if (this.#closed) return;
    const other = this.#other();
    // After the bytes already queued (microtasks run in order), like a FIN after data.
    queueMicrotask(() => {
      this.close(undefined);
      if (!this.pair.cut) other.close(undefined);
    });
  }

  destroy(): void {
    if (this.#closed) return;
    this.close(undefined);
    if (!this.pair.cut) this.#other().close(new BgpError('E_BGP_SOCKET', 'connection reset by peer (ECONNRESET)'));
  }

  setTtl(ttl: number): boolean {
    this.ttl = ttl;
    return true;
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.#dataListener = listener;
    const pending = this.#pending;
    this.#pending = [];
    for (const chunk of pending) listener(chunk);
  }

  onClose(listener: (error?: Error) => void): void {
    this.#closeListener = listener;
    if (this.#closedWith !== undefined) this.#reportClose();
  }

  receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#dataListener === undefined) this.#pending.push(chunk);
    else this.#dataListener(chunk);
  }

  close(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedWith = error === undefined ? {} : { error };
    this.#onGone(this);
    queueMicrotask(() => {
      this.#reportClose();
    });
  }

  #reportClose(): void {
    if (this.#closeReported || this.#closeListener === undefined || this.#closedWith === undefined) return;
    this.#closeReported = true;
    const { error } = this.#closedWith;
    if (error === undefined) this.#closeListener();
    else this.#closeListener(error);
  }

  info(): MemoryConnectionInfo {
    return {
      localAddress: this.localAddress,
      localPort: this.localPort,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      initiator: this.initiator,
      cut: this.pair.cut,
      ttl: this.ttl,
    };
  }
}

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function canonical(address: string): string {
  const c = canonicalAddress(address);
  if (c === undefined) throw new BgpError('E_BGP_SOCKET', `"${address}" is not an IP address`);
  return c;
}

function refused(what: string, errno: string): Promise<never> {
  return Promise.reject(new BgpError('E_BGP_SOCKET', `${what}: ${errno}`));
}

export function createMemoryNetwork(): MemoryNetwork {
  /** `${address}|${port}` -> accept callback */
  const listeners = new Map<string, (c: MemoryConnection) => void>();
  const open = new Set<MemoryConnection>();
  const partitions = new Set<string>();
  const hosts: { addresses: readonly string[] }[] = [];
  let nextPort = 40_000;

  const hostOf = (address: string): { addresses: readonly string[] } | undefined => hosts.find((h) => h.addresses.includes(address));
  const pairKey = (a: string, b: string): string => [a, b].sort().join('|');
  const sameHosts = (c: MemoryConnection, a: string, b: string): boolean => {
    const ha = hostOf(a);
    const hb = hostOf(b);
    const hl = hostOf(c.localAddress);
    const hr = hostOf(c.remoteAddress);
    return (hl === ha && hr === hb) || (hl === hb && hr === ha);
  };
  const partitioned = (a: string, b: string): boolean => {
    const ha = hostOf(a);
    const hb = hostOf(b);
    for (const key of partitions) {
      const [x = '', y = ''] = key.split('|');
      const hx = hostOf(x);
      const hy = hostOf(y);
      if ((hx === ha && hy === hb) || (hx === hb && hy === ha)) return true;
    }
    return false;
  };
  const gone = (c: MemoryConnection): void => {
    open.delete(c);
  };

  function host(addressInput: string | readonly string[]): MemoryHost {
    const addresses = (typeof addressInput === 'string' ? [addressInput] : addressInput).map(canonical);
    for (const a of addresses) if (hostOf(a) !== undefined) throw new BgpError('E_BGP_SOCKET', `memory network: ${a} already belongs to a host`);
    const self = { addresses };
    hosts.push(self);

    return {
      addresses,
      connections: () => [...open].filter((c) => addresses.includes(c.localAddress)).map((c) => c.info()),

      connect(opts: BgpConnectOptions): Promise<BgpConnection> {
        const remote = canonicalAddress(opts.remoteAddress);
        const what = `connect ${opts.remoteAddress} port ${opts.remotePort}`;
        if (remote === undefined) return refused(what, 'not an IP address (EINVAL)');
        if (opts.signal?.aborted === true) return refused(what, 'aborted');
        let local: string | undefined;
        if (opts.localAddress !== undefined) {
          local = canonicalAddress(opts.localAddress);
          if (local === undefined || !addresses.includes(local)) return refused(what, `cannot assign requested address ${opts.localAddress} (EADDRNOTAVAIL)`);
        } else {
          local = addresses.find((a) => familyOf(a) === familyOf(remote));
        }
        if (local === undefined || familyOf(local) !== familyOf(remote)) return refused(what, 'network is unreachable (ENETUNREACH)');
        const localAddress = local;
        if (partitioned(localAddress, remote)) {
          // A SYN into the void: only the caller's abort ends it.
          return new Promise((_resolve, reject) => {
            opts.signal?.addEventListener('abort', () => {
              reject(new BgpError('E_BGP_SOCKET', `${what}: aborted`));
            }, { once: true });
          });
        }
        const accept = listeners.get(`${remote}|${opts.remotePort}`);
        if (accept === undefined) return refused(what, 'connection refused (ECONNREFUSED)');
        const localPort = nextPort++;
        const mine = new MemoryConnection({ address: localAddress, port: localPort }, { address: remote, port: opts.remotePort }, 'local', gone);
        const theirs = new MemoryConnection({ address: remote, port: opts.remotePort }, { address: localAddress, port: localPort }, 'remote', gone);
        const pair: Pair = { cut: false, a: mine, b: theirs };
        mine.pair = pair;
        theirs.pair = pair;
        if (opts.ttl !== undefined) mine.ttl = opts.ttl;
        open.add(mine);
        open.add(theirs);
        return new Promise((resolve) => {
          queueMicrotask(() => {
            accept(theirs);
            resolve(mine);
          });
        });
      },

      listen(opts: BgpListenOptions, onConnection: (c: BgpConnection) => void): Promise<BgpListener> {
        const bind = opts.addresses === undefined || opts.addresses.length === 0 ? addresses : opts.addresses.map(canonical);
        for (const a of bind) {
          if (!addresses.includes(a)) return refused(`listen ${a} port ${opts.port}`, 'cannot assign requested address (EADDRNOTAVAIL)');
          if (listeners.has(`${a}|${opts.port}`)) return refused(`listen ${a} port ${opts.port}`, 'address already in use (EADDRINUSE)');
        }
        const port = opts.port === 0 ? nextPort++ : opts.port;
        for (const a of bind) listeners.set(`${a}|${port}`, onConnection);
        return Promise.resolve({
          port,
          close: () => {
            for (const a of bind) if (listeners.get(`${a}|${port}`) === onConnection) listeners.delete(`${a}|${port}`);
            return Promise.resolve();
          },
        });
      },
    };
  }

  return {
    host,
    cut(a, b) {
      let n = 0;
      const pairs = new Set<Pair>();
      for (const c of open) {
        if (a !== undefined && b !== undefined && !sameHosts(c, canonical(a), canonical(b))) continue;
        pairs.add(c.pair);
      }
      for (const p of pairs) {
        if (p.cut) continue;
        p.cut = true;
        n++;
      }
      return n;
    },
    partition(a, b) {
      partitions.add(pairKey(canonical(a), canonical(b)));
    },
    heal(a, b) {
      if (a === undefined || b === undefined) partitions.clear();
      else partitions.delete(pairKey(canonical(a), canonical(b)));
    },
    connections: () => [...open].filter((c) => c.initiator === 'local').map((c) => c.info()),
  };
}
