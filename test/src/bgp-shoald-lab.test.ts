/**
 * shoald's BGP for real, in the MetalLB tutorial's topology (seeds/metallb-bird-tutorial.md):
 * BIRD 2 as the router at 10.240.0.2 (AS 4200000001), two shoald nodes at .20 and .21
 * (AS 64512, one cluster, nftables data plane, bgp.mode ecmp), two backends on the same LAN and
 * a client behind the router. Proves:
 * - an instance created through the API becomes a /32 in BIRD via both nodes and an ECMP
 *   route in the router's kernel, and curl from the client reaches both backends through it;
 * - `shoalctl bgp peers` shows the sessions Established;
 * - graceful restart: shoald SIGKILLed and started again, BIRD keeps the route (stale) and the
 *   router's kernel never loses that nexthop;
 * - SIGTERM withdraws the node's path at once (the other stays);
 * - deleting the instance withdraws the route from BIRD and the kernel.
 * Needs root, bird, nft and curl; skips saying why otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { SHOALCTL_BIN, SHOALD_BIN, makePki } from './harness.js';
import { labApi } from './cluster-harness.js';
import { writeBgpNodeConfig } from './bgp-shoald-harness.js';
import { ROUTER_ASN, SPEAKER_ASN, bgpLabSkipReason, createBgpLab, labSkipReason, sleep, waitFor, waitForSteady, type LabSpeaker, type LineProcess } from '@shoal/testkit';

const skip = labSkipReason(['nft', 'curl']) ?? bgpLabSkipReason('bird');
const VIP = '10.96.0.10';
const PREFIX = `${VIP}/32`;
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[1] + '\\n')).listen(8080, '0.0.0.0', () => console.log(JSON.stringify({ ready: true })));`;

test('two shoald nodes announce a VIP to BIRD by eBGP: ECMP in the router, curl through it, graceful restart, withdraw on SIGTERM and on delete', { skip: skip ?? false, timeout: 240_000 }, async () => {
  const lab = await createBgpLab({ speakers: 4 });
  const shoald = new Map<string, LineProcess>();
  try {
    const [n1, n2, b1, b2] = lab.speakers as [LabSpeaker, LabSpeaker, LabSpeaker, LabSpeaker];
    const nodes = [n1, n2];
    const pki = await makePki(lab.dir);
    for (const b of [b1, b2]) {
      const p = lab.spawnNodeEval(b.ns, SERVER, [b.short]);
      await p.waitForLine((l) => l['ready'] === true, 10_000);
    }
    const configs = new Map<string, string>();
    for (const n of nodes) {
      const bgp = { mode: 'ecmp', gracefulRestart: { enabled: true, restartTimeS: 30 } };
      configs.set(n.short, await writeBgpNodeConfig({ lab, pki, node: n, seed: n1, bgp, peer: { description: 'tor' } }));
    }
    const startNode = async (n: LabSpeaker): Promise<LineProcess> => {
      const p = lab.spawnNode(n.ns, SHOALD_BIN, ['--config', configs.get(n.short) ?? '']);
      shoald.set(n.short, p);
      await p.waitForLine((l) => l['msg'] === 'shoald ready', 20_000);
      return p;
    };
    const router = await lab.startBird({ speakers: nodes, ipv6Sessions: false });
    for (const n of nodes) await startNode(n);
    const api = labApi({ lab: lab.netns, pki, nsOf: (name) => nodes.find((n) => n.short === name)?.ns ?? '', ipOf: (name) => nodes.find((n) => n.short === name)?.ipv4 ?? '', maxTimeS: 5, allowFailure: true });
    for (const n of nodes) await waitFor(() => router.established(n.ipv4), 30_000, `BIRD: session with ${n.short} Established`);

    // Create the instance on one node; both announce it (the other learns it by replication).
    const createdAt = Date.now();
    const created = await api('s1', 'POST', '/v1/instances', { name: 'web', vip: VIP, ports: [{ port: 80 }], backends: [b1, b2].map((b) => ({ ip: b.ipv4, port: 8080 })) });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const route = await waitFor(async () => {
      const r = await router.route(PREFIX);
      return r !== null && r.paths.length === 2 ? r : null;
    }, 20_000, `BIRD has ${PREFIX} via both nodes`);
    const announcedMs = Date.now() - createdAt;
    assert.deepEqual(route.paths.map((p) => p.nexthops[0]).sort(), [n1.ipv4, n2.ipv4]);
    for (const p of route.paths) assert.deepEqual(p.asPath, [SPEAKER_ASN], 'eBGP: our AS prepended once');
    const kernel = await waitFor(async () => {
      const k = await lab.kernelRoute(PREFIX);
      return k !== null && k.nexthops.length === 2 ? k : null;
    }, 10_000, 'the router kernel has an ECMP route with both nodes');
    assert.deepEqual([...kernel.nexthops].sort(), [n1.ipv4, n2.ipv4]);

    // curl from behind the router: flows spread over both nodes, each reaching both backends.
    const answers = new Set<string>();
    for (let i = 0; i < 30 && answers.size < 2; i++) {
      const r = await lab.netns.exec(lab.client.ns, 'curl', ['-sS', '--max-time', '3', `http://${VIP}/`], { allowFailure: true });
      if (r.code === 0) answers.add(r.stdout.trim());
    }
    assert.deepEqual([...answers].sort(), ['s3', 's4'], 'curl through the router reaches both backends');

    // shoalctl bgp peers, as an operator runs it.
    const ctl = await lab.netns.exec(n1.ns, process.execPath, [SHOALCTL_BIN, '--endpoint', `https://${n1.ipv4}:8443`, '--ca', join(pki.dir, 'ca.crt'), '--cert', join(pki.dir, 'admin.crt'), '--key', join(pki.dir, 'admin.key'), 'bgp', 'peers'], { allowFailure: true });
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.match(ctl.stdout, new RegExp(`${lab.router.ipv4.replace(/\./g, '\\.')} \\(tor\\)\\s+${ROUTER_ASN}\\s+ebgp\\s+Established`));

    // Graceful restart: SIGKILL s1's shoald. BIRD keeps its path (stale) and the kernel keeps the
    // nexthop; the new process reconnects with the R bit and refreshes the route before End-of-RIB.
    const monitor = await lab.monitorRoutes();
    shoald.get('s1')?.kill('SIGKILL');
    await shoald.get('s1')?.exited;
    await waitFor(async () => (await router.session(n1.ipv4)).state !== 'Established', 10_000, 'BIRD sees the session with s1 go down');
    const stale = await router.route(PREFIX);
    assert.equal(stale?.paths.length, 2, `BIRD keeps s1's path while it restarts: ${await router.cli(`show route ${PREFIX} all`)}`);
    await startNode(n1);
    await waitFor(() => router.established(n1.ipv4), 30_000, 'BIRD: s1 Established again');
    await waitForSteady(async () => (await router.route(PREFIX))?.paths.length === 2, 2_000, 20_000, 'both paths after the restart');
    await sleep(500);
    await monitor.stop();
    const lostNexthop = monitor.events().filter((e) => e.line.includes(VIP) && (e.line.startsWith('Deleted') || !e.line.includes(n1.ipv4)));
    assert.deepEqual(lostNexthop.map((e) => e.line), [], 'the router kernel never dropped s1 during its restart');
    const restartedStatus = await api('s1', 'GET', '/v1/status');
    const bgpStatus = restartedStatus.json as { bgp: { restarting: boolean; peers: { state: string }[] } };
    assert.equal(bgpStatus.bgp.restarting, true, 'the restarted shoald knows it is a graceful restart');

    // SIGTERM s2: its path goes at once (Cease), s1's stays.
    const termAt = Date.now();
    await shoald.get('s2')?.stop(10_000);
    const oneLeft = await waitFor(async () => {
      const r = await router.route(PREFIX);
      return r !== null && r.paths.length === 1 ? r : null;
    }, 10_000, 'BIRD drops s2 after its SIGTERM');
    const withdrawnMs = Date.now() - termAt;
    assert.equal(oneLeft.paths[0]?.nexthops[0], n1.ipv4);
    await startNode(n2);
    await waitFor(async () => (await router.route(PREFIX))?.paths.length === 2, 20_000, 's2 announces again after its start');

    // Delete: withdrawn everywhere.
    const deleted = await api('s2', 'DELETE', '/v1/instances/web');
    assert.ok(deleted.status === 200 || deleted.status === 204, JSON.stringify(deleted.json));
    await waitFor(async () => (await router.route(PREFIX)) === null, 10_000, 'BIRD drops the VIP after the delete');
    await waitFor(async () => (await lab.kernelRoute(PREFIX)) === null, 10_000, 'the router kernel drops the VIP');
    console.log(`# bgp shoald lab: create -> both paths in BIRD ${announcedMs} ms; SIGTERM -> path withdrawn ${withdrawnMs} ms; GR restart kept the nexthop`);
  } finally {
    for (const p of shoald.values()) await p.stop(10_000).catch(() => undefined);
    const problems = await lab.cleanup();
    assert.deepEqual(problems, []);
  }
});
