/**
 * Layer-2 announcement against the real kernel: namespaces `owner`, `old` and `client` on a
 * bridge in `sw`. The client learns the VIPs (IPv4 and IPv6) at the old owner's MAC by sending
 * to them; the old owner lets go; the new owner adds the VIPs and sends one burst through
 * @shoal/announce (in a child process inside its namespace); the client's neighbour entries must
 * then name the new owner's MAC, and a capture in the client must show what was sent.
 * Needs root and iproute2 (skips saying why otherwise); the capture part needs tcpdump.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ETH_P_ARP, ETH_P_IPV6, parseArp, parseNeighborAdvertisement, type AnnounceResult } from '@shoal/announce';
import { createNetnsLab, hasCommand, labSkipReason, type NetnsLab } from '@shoal/testkit';

const skip = labSkipReason(['node']);
const captureSkip = hasCommand('tcpdump') ? null : 'tcpdump is not on the PATH: the capture assertions need it';

const HELPER = fileURLToPath(new URL('./announce-helper.js', import.meta.url));
const VIP4 = '10.215.0.10';
const VIP6 = 'fd00:215::10';
const HOSTS = {
  owner: { mac: '02:15:00:00:00:11', ip4: '10.215.0.11/24', ip6: 'fd00:215::11/64' },
  old: { mac: '02:15:00:00:00:12', ip4: '10.215.0.12/24', ip6: 'fd00:215::12/64' },
  client: { mac: '02:15:00:00:00:64', ip4: '10.215.0.100/24', ip6: 'fd00:215::100/64' },
} as const;

// One datagram to each VIP: the kernel resolves them the way any client would (ARP request,
// neighbour solicitation) and keeps the answer in its neighbour table.
const TOUCH = `
const dgram = require('dgram');
const [v4, v6] = process.argv.slice(1);
for (const [type, ip] of [['udp4', v4], ['udp6', v6]]) {
  const s = dgram.createSocket(type);
  s.send('x', 9, ip, () => s.close());
}
`;

async function neighbourMac(lab: NetnsLab, ns: string, ip: string): Promise<string | undefined> {
  const r = await lab.ip(ns, ['neigh', 'show', ip, 'dev', 'eth0']);
  return /lladdr ([0-9a-f:]{17})/.exec(r.stdout)?.[1];
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
}

/** The frames of a classic pcap file (either byte order, micro- or nanosecond stamps). */
function pcapFrames(file: Buffer): Buffer[] {
  assert.ok(file.length >= 24, `pcap file of ${file.length} bytes`);
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  assert.ok(le || file.readUInt32BE(0) === 0xa1b2c3d4 || file.readUInt32BE(0) === 0xa1b23c4d, `pcap magic 0x${magic.toString(16)}`);
  const u32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  assert.equal(u32(20), 1, 'link type Ethernet');
  const frames: Buffer[] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const len = u32(at + 8);
    frames.push(file.subarray(at + 16, at + 16 + len));
    at += 16 + len;
  }
  return frames;
}

test('one burst from the new owner moves the client\'s neighbour entries for an IPv4 and an IPv6 VIP', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  const lab = createNetnsLab(`sha-${process.pid}-`);
  const tmp = mkdtempSync(join(tmpdir(), 'shoal-announce-lab-'));
  try {
    const sw = await lab.addNamespace('sw');
    await lab.bridge(sw, 'br0');
    // Multicast (the NAs to ff02::1, the client's neighbour solicitations) reaches every port
    // whatever the snooping querier state (recipe l2-vrrp-garp.md, Pitfalls).
    await lab.ip(sw, ['link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    const ns: Record<keyof typeof HOSTS, string> = { owner: '', old: '', client: '' };
    for (const name of Object.keys(HOSTS) as (keyof typeof HOSTS)[]) {
      const h = HOSTS[name];
      ns[name] = await lab.addNamespace(name);
      await lab.veth(ns[name], 'eth0', sw, `${name}p`);
      await lab.attach(sw, `${name}p`, 'br0');
      await lab.ip(ns[name], ['link', 'set', 'eth0', 'address', h.mac]);
      await lab.address(ns[name], 'eth0', h.ip4, h.ip6);
    }
    await lab.address(ns.old, 'eth0', `${VIP4}/32`, `${VIP6}/128`);

    await t.test('before: the client has entries for both VIPs at the old owner\'s MAC', async () => {
      await lab.exec(ns.client, 'node', ['-e', TOUCH, VIP4, VIP6]);
      let seen: (string | undefined)[] = [];
      await waitFor(
        async () => {
          seen = [await neighbourMac(lab, ns.client, VIP4), await neighbourMac(lab, ns.client, VIP6)];
          return seen.every((m) => m === HOSTS.old.mac);
        },
        5_000,
        () => `the client's entries to name ${HOSTS.old.mac} (have ${JSON.stringify(seen)})`,
      );
    });

    // Failover: the old owner lets go; its entry in the client stays until someone says otherwise.
    await lab.ip(ns.old, ['addr', 'del', `${VIP4}/32`, 'dev', 'eth0']);
    await lab.ip(ns.old, ['addr', 'del', `${VIP6}/128`, 'dev', 'eth0']);
    assert.equal(await neighbourMac(lab, ns.client, VIP4), HOSTS.old.mac);

    const pcap = join(tmp, 'client.pcap');
    // --immediate-mode: without it TPACKET_V3 hands packets over in blocks retired up to 1 s
    // late, and a SIGTERM before then loses them. -U writes each packet as it comes; -Z root
    // keeps tcpdump able to write into our 0700 directory.
    const capture = captureSkip === null ? lab.spawn(ns.client, 'tcpdump', ['-i', 'eth0', '-n', '--immediate-mode', '-U', '-Z', 'root', '-w', pcap, 'arp or icmp6']) : undefined;
    if (capture) await waitFor(() => Promise.resolve(capture.stderr().includes('listening on')), 5_000, () => `tcpdump to listen (stderr: ${capture.stderr()})`);

    let results: AnnounceResult[] = [];
    await t.test('after one burst from the new owner both entries name the new owner\'s MAC', async () => {
      const r = await lab.exec(ns.owner, process.execPath, [HELPER, 'announce', 'eth0', VIP4, VIP6]);
      results = (JSON.parse(r.stdout) as { results: AnnounceResult[] }).results;
      assert.deepEqual(
        results.map((x) => [x.vip, x.family, x.mac, x.frames]),
        [
          [VIP4, 4, HOSTS.owner.mac, 6],
          [VIP6, 6, HOSTS.owner.mac, 3],
        ],
      );
      for (const x of results) t.diagnostic(`${x.vip}: first frame after ${x.firstFrameMs.toFixed(2)} ms, burst of ${x.frames} took ${x.durationMs.toFixed(1)} ms`);
      let seen: (string | undefined)[] = [];
      // The first frame of each burst already did it; the bound only absorbs a busy machine.
      await waitFor(
        async () => {
          seen = [await neighbourMac(lab, ns.client, VIP4), await neighbourMac(lab, ns.client, VIP6)];
          return seen.every((m) => m === HOSTS.owner.mac);
        },
        2_000,
        () => `the client's entries to name ${HOSTS.owner.mac} (have ${JSON.stringify(seen)})`,
      );
    });

    await t.test('the client captured the burst: 3 ARP requests, 3 ARP replies and 3 NAs, all from the owner\'s MAC, checksums good', { skip: captureSkip ?? false }, async () => {
      assert.ok(capture);
      await capture.stop();
      const frames = pcapFrames(readFileSync(pcap)).filter((f) => f.length >= 14);
      const fromOwner = frames.filter((f) => f.subarray(6, 12).equals(Buffer.from(HOSTS.owner.mac.replaceAll(':', ''), 'hex')));
      const arps = fromOwner.filter((f) => f.readUInt16BE(12) === ETH_P_ARP).map((f) => parseArp(f));
      // ICMPv6 right after the IPv6 header (next header 58), type 136.
      const nas = fromOwner.filter((f) => f.readUInt16BE(12) === ETH_P_IPV6 && f[20] === 58 && f[54] === 136).map((f) => parseNeighborAdvertisement(f));
      const gratuitous = arps.filter((a) => a.gratuitous && a.senderIp === VIP4 && a.senderMac === HOSTS.owner.mac && a.destination === 'ff:ff:ff:ff:ff:ff');
      assert.deepEqual(gratuitous.map((a) => a.op).sort(), ['reply', 'reply', 'reply', 'request', 'request', 'request'], JSON.stringify(arps));
      assert.equal(arps.length, 6, 'no other ARP from the owner');
      assert.equal(nas.length, 3);
      for (const na of nas) {
        assert.deepEqual([na.sourceIp, na.destinationIp, na.target, na.override, na.solicited, na.targetLinkLayerAddress], [VIP6, 'ff02::1', VIP6, true, false, HOSTS.owner.mac]);
      }
      // tcpdump's own decoder agrees with ours about the checksum and the flags.
      const text = (await lab.exec(ns.client, 'tcpdump', ['-r', pcap, '-n', '-vv', 'icmp6 and ip6[40] == 136'])).stdout;
      assert.equal(text.match(/\[icmp6 sum ok\]/g)?.length, 3, text);
      assert.equal(text.match(/Flags \[override\]/g)?.length, 3, text);
    });

    await t.test('refusals in a namespace: loopback and a missing link are E_ANNOUNCE_LINK, a bad ifindex E_ANNOUNCE_SEND with its errno, a process without CAP_NET_RAW E_ANNOUNCE_PERMISSION', async () => {
      const r = await lab.exec(ns.owner, process.execPath, [HELPER, 'errors', 'eth0']);
      const { codes } = JSON.parse(r.stdout) as { codes: Record<string, string> };
      assert.match(codes['loopback'] ?? '', /^E_ANNOUNCE_LINK: link lo: not an Ethernet link \(ARPHRD 772\)/);
      assert.match(codes['missing'] ?? '', /^E_ANNOUNCE_LINK ENODEV: link nope0: no such interface/);
      assert.equal(codes['up'], 'ok');
      assert.match(codes['noSuchIfindex'] ?? '', /^E_ANNOUNCE_SEND ENXIO: sendto\(ifindex 99999, ethertype 0x0806, 42 bytes\): No such device or address/);
      assert.match(codes['afterClose'] ?? '', /^E_ANNOUNCE_CLOSED: /);
      assert.match(codes['unprivileged'] ?? '', /^E_ANNOUNCE_PERMISSION EPERM: socket\(AF_PACKET, SOCK_RAW, 0\): Operation not permitted \(EPERM\) \(needs CAP_NET_RAW\)$/);
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    const problems = await lab.cleanup();
    assert.deepEqual(problems, []);
  }
});
