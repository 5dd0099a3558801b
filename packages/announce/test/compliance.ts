// The behaviour every Announcer shares, run against the in-memory fake and the real L2
// announcer (with a recording socket): the js-libp2p compliance-suite pattern, so the fake the
// ownership tests rely on cannot drift from the real thing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnnounceError, type AnnounceInit, type Announcer, type LinkInfo } from '../src/index.js';

export type AnnouncerSetup = (links: Readonly<Record<string, LinkInfo>>, config: AnnounceInit) => Announcer;

const LINKS: Readonly<Record<string, LinkInfo>> = { eth0: { ifindex: 7, mac: '02:15:00:00:00:07' } };
const CONFIG: AnnounceInit = { repeat: 2, intervalMs: 1 };

const failsWith = (code: string, pattern?: RegExp) => (e: unknown) => e instanceof AnnounceError && e.code === code && (pattern === undefined || pattern.test(e.message));

export function announcerTests(name: string, setup: AnnouncerSetup): void {
  test(`${name}: an IPv4 VIP is announced at the interface's MAC, repeat x ARP forms frames`, async () => {
    const a = setup(LINKS, CONFIG);
    const r = await a.announce('10.215.0.10', 'eth0');
    assert.deepEqual({ ...r, firstFrameMs: 0, durationMs: 0 }, { vip: '10.215.0.10', family: 4, ifname: 'eth0', ifindex: 7, mac: '02:15:00:00:00:07', frames: 4, firstFrameMs: 0, durationMs: 0 });
    assert.ok(r.firstFrameMs >= 0 && r.durationMs >= r.firstFrameMs);
    a.close();
  });

  test(`${name}: an IPv6 VIP is announced with repeat NAs`, async () => {
    const a = setup(LINKS, CONFIG);
    const r = await a.announce('fd00:215::10', 'eth0');
    assert.deepEqual([r.family, r.frames, r.mac], [6, 2, '02:15:00:00:00:07']);
    a.close();
  });

  test(`${name}: a VIP that is not unicast, or not an address, is E_ANNOUNCE_ADDRESS`, async () => {
    const a = setup(LINKS, CONFIG);
    for (const vip of ['10.215.0', '224.0.0.18', '255.255.255.255', '0.0.0.0', '127.0.0.1', 'ff02::1', '::', '::1', 'fe80::1%eth0', 'eth0']) {
      await assert.rejects(a.announce(vip, 'eth0'), failsWith('E_ANNOUNCE_ADDRESS'), vip);
    }
    a.close();
  });

  test(`${name}: an unknown interface is E_ANNOUNCE_LINK`, async () => {
    const a = setup(LINKS, CONFIG);
    await assert.rejects(a.announce('10.215.0.10', 'eth9'), failsWith('E_ANNOUNCE_LINK', /eth9/));
    a.close();
  });

  test(`${name}: after close() announce rejects with E_ANNOUNCE_CLOSED; close() twice is harmless`, async () => {
    const a = setup(LINKS, CONFIG);
    a.close();
    a.close();
    await assert.rejects(a.announce('10.215.0.10', 'eth0'), failsWith('E_ANNOUNCE_CLOSED'));
  });
}
