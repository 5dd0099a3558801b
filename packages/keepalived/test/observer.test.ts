// VIP presence from address events, with an in-memory address source standing in for netlink
// (the lab in test/src/keepalived-lab.test.ts runs the real one inside a namespace).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IFA_F_TENTATIVE } from '@shoal/netlink';
import { createVipPresence, type AddressSource, type LocalAddress, type LocalAddressEvent } from '../src/index.js';

/** A kernel in memory: addresses per interface, events to the subscriber, a listing that can be held open. */
class FakeAddresses implements AddressSource {
  readonly addresses = new Map<string, LocalAddress>();
  #listener: ((e: LocalAddressEvent) => void) | null = null;
  #gate: Promise<void> | null = null;
  #openGate: (() => void) | null = null;
  listings = 0;

  /** The next list() takes its snapshot, then waits for release() before answering. */
  holdNextListing(): void {
    this.#gate = new Promise((r) => (this.#openGate = r));
  }
  release(): void {
    this.#openGate?.();
  }

  async list(): Promise<readonly LocalAddress[]> {
    this.listings++;
    const snapshot = [...this.addresses.values()];
    if (this.#gate !== null) {
      const g = this.#gate;
      this.#gate = null;
      await g;
    }
    return snapshot;
  }

  subscribe(onEvent: (e: LocalAddressEvent) => void): Promise<{ close(): Promise<void> }> {
    this.#listener = onEvent;
    return Promise.resolve({ close: () => Promise.resolve(void (this.#listener = null)) });
  }

  add(address: string, ifindex = 2, flags = 0, notify = true): void {
    const a = { address, ifindex, flags };
    this.addresses.set(`${ifindex}/${address}`, a);
    if (notify) this.#listener?.({ kind: 'added', address: a });
  }
  remove(address: string, ifindex = 2, notify = true): void {
    const a = this.addresses.get(`${ifindex}/${address}`);
    assert.ok(a, `${address} on ${ifindex}`);
    this.addresses.delete(`${ifindex}/${address}`);
    if (notify) this.#listener?.({ kind: 'removed', address: a });
  }
  get subscribed(): boolean {
    return this.#listener !== null;
  }
}

function record(p: ReturnType<typeof createVipPresence>): string[] {
  const log: string[] = [];
  p.on('owned', (v) => log.push(`owned ${v}`));
  p.on('released', (v) => log.push(`released ${v}`));
  return log;
}

test('presence: the initial listing reports the VIPs already here, and only VIPs', async () => {
  const k = new FakeAddresses();
  k.add('10.0.0.11');
  k.add('10.0.0.100');
  k.add('127.0.0.1', 1);
  const p = createVipPresence({ vips: () => new Set(['10.0.0.100', '10.0.0.101']), watch: k });
  const log = record(p);
  await p.start();
  assert.deepEqual(log, ['owned 10.0.0.100']);
  assert.deepEqual([...p.owned()], ['10.0.0.100']);
  await p.close();
  assert.equal(k.subscribed, false);
});

test('presence: a VIP added is owned, removed is released; other addresses are ignored', async () => {
  const k = new FakeAddresses();
  const p = createVipPresence({ vips: () => new Set(['10.0.0.100']), watch: k });
  const log = record(p);
  await p.start();
  k.add('10.0.0.100');
  k.add('10.0.0.55');
  k.remove('10.0.0.55');
  k.remove('10.0.0.100');
  assert.deepEqual(log, ['owned 10.0.0.100', 'released 10.0.0.100']);
  await p.close();
});

test('presence: a VIP on two interfaces is released only when it leaves the last one', async () => {
  const k = new FakeAddresses();
  const p = createVipPresence({ vips: () => new Set(['10.0.0.100']), watch: k });
  const log = record(p);
  await p.start();
  k.add('10.0.0.100', 2);
  k.add('10.0.0.100', 3);
  k.remove('10.0.0.100', 2);
  assert.deepEqual(log, ['owned 10.0.0.100']);
  k.remove('10.0.0.100', 3);
  assert.deepEqual(log, ['owned 10.0.0.100', 'released 10.0.0.100']);
  await p.close();
});

test('presence: a tentative IPv6 VIP (DAD running) is owned only once the kernel clears the flag; spellings are one VIP', async () => {
  const k = new FakeAddresses();
  const p = createVipPresence({ vips: () => new Set(['FD00:0:0::100']), watch: k });
  const log = record(p);
  await p.start();
  k.add('fd00::100', 2, IFA_F_TENTATIVE);
  assert.deepEqual(log, []);
  k.add('fd00::100', 2, 0); // RTM_NEWADDR again when DAD completes
  assert.deepEqual(log, ['owned fd00::100']);
  await p.close();
});

test('presence: events that arrive while the listing is in flight are replayed on top of it', async () => {
  const k = new FakeAddresses();
  k.add('10.0.0.100', 2, 0, false);
  k.add('10.0.0.101', 2, 0, false);
  k.holdNextListing();
  const p = createVipPresence({ vips: () => new Set(['10.0.0.100', '10.0.0.101', '10.0.0.102']), watch: k });
  const log = record(p);
  const started = p.start();
  await new Promise((r) => setImmediate(r));
  // The snapshot (100, 101) is taken; now the kernel moves on before the answer arrives.
  k.remove('10.0.0.100');
  k.add('10.0.0.102');
  k.add('10.0.0.101'); // already in the snapshot: a no-op, not a second copy
  assert.deepEqual(log, [], 'nothing is emitted before the listing is in');
  k.release();
  await started;
  assert.deepEqual(log.sort(), ['owned 10.0.0.101', 'owned 10.0.0.102']);
  k.remove('10.0.0.101');
  assert.deepEqual(log.slice(2), ['released 10.0.0.101'], 'one removal releases it: the replayed add did not double-count');
  await p.close();
});

test('presence: refresh() follows changes to the VIP set', async () => {
  const k = new FakeAddresses();
  k.add('10.0.0.100');
  k.add('10.0.0.101');
  let vips = new Set(['10.0.0.100']);
  const p = createVipPresence({ vips: () => vips, watch: k });
  const log = record(p);
  await p.start();
  vips = new Set(['10.0.0.101']);
  p.refresh();
  assert.deepEqual(log, ['owned 10.0.0.100', 'released 10.0.0.100', 'owned 10.0.0.101']);
  await p.close();
});

test('presence: resync() repairs state after lost events', async () => {
  const k = new FakeAddresses();
  const p = createVipPresence({ vips: () => new Set(['10.0.0.100', '10.0.0.101']), watch: k });
  const log = record(p);
  await p.start();
  k.add('10.0.0.100');
  k.remove('10.0.0.100', 2, false); // the removal was lost (netlink overflow)
  k.add('10.0.0.101', 2, 0, false); // and so was this addition
  assert.deepEqual(log, ['owned 10.0.0.100']);
  await p.resync();
  assert.deepEqual(log.slice(1).sort(), ['owned 10.0.0.101', 'released 10.0.0.100']);
  assert.equal(k.listings, 2);
  await p.close();
});

test('presence: a listener that throws does not stop the others; unsubscribing works', async () => {
  const k = new FakeAddresses();
  const p = createVipPresence({ vips: () => new Set(['10.0.0.100']), watch: k });
  const seen: string[] = [];
  p.on('owned', () => {
    throw new Error('boom');
  });
  const off = p.on('owned', (v) => seen.push(v));
  await p.start();
  k.add('10.0.0.100');
  off();
  k.remove('10.0.0.100');
  k.add('10.0.0.100');
  assert.deepEqual(seen, ['10.0.0.100']);
  await p.close();
});
