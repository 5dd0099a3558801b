/**
 * BGP owner mode for real: three shoald nodes (internal election, VIPs on lo, nftables data
 * plane) peer with BIRD; only the VIP's owner announces it. When the owner's host dies (shoald
 * SIGKILLed and its cable cut, so no TCP close reaches the router), the survivors elect a new
 * owner that announces the VIP, the dead path leaves BIRD at the hold timer, and curl from behind
 * the router works again. Needs root, bird, nft and curl; skips saying why otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SHOALD_BIN, makePki } from './harness.js';
import { labApi } from './cluster-harness.js';
import { writeBgpNodeConfig } from './bgp-shoald-harness.js';
import { bgpLabSkipReason, createBgpLab, labSkipReason, waitFor, type LabSpeaker, type LineProcess } from '@shoal/testkit';

const skip = labSkipReason(['nft', 'curl']) ?? bgpLabSkipReason('bird');
const VIP = '10.96.0.10';
const PREFIX = `${VIP}/32`;
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[1] + '\\n')).listen(8080, '0.0.0.0', () => console.log(JSON.stringify({ ready: true })));`;

test('owner mode: only the VIP holder announces it; when its host dies the new owner announces and BIRD re-routes', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const lab = await createBgpLab({ speakers: 5 });
  const shoald = new Map<string, LineProcess>();
  try {
    const [n1, n2, n3, b1, b2] = lab.speakers as [LabSpeaker, LabSpeaker, LabSpeaker, LabSpeaker, LabSpeaker];
    const nodes = [n1, n2, n3];
    const pki = await makePki(lab.dir);
    for (const b of [b1, b2]) await lab.spawnNodeEval(b.ns, SERVER, [b.short]).waitForLine((l) => l['ready'] === true, 10_000);
    for (const n of nodes) {
      const config = await writeBgpNodeConfig({
        lab,
        pki,
        node: n,
        seed: n1,
        // The VIP range is no LAN subnet: every node may hold it, on lo, reached by routing.
        ownership: { mode: 'internal', networks: ['10.96.0.0/24'], interface: 'lo', claimDelayMs: 1_500, reannounceIntervalMs: 2_000 },
        cluster: { swim: { probeIntervalMs: 200, probeTimeoutMs: 100 } },
        bgp: { mode: 'owner' },
      });
      const p = lab.spawnNode(n.ns, SHOALD_BIN, ['--config', config]);
      shoald.set(n.short, p);
    }
    for (const p of shoald.values()) await p.waitForLine((l) => l['msg'] === 'shoald ready', 20_000);
    const router = await lab.startBird({ speakers: nodes, ipv6Sessions: false });
    for (const n of nodes) await waitFor(() => router.established(n.ipv4), 30_000, `BIRD: session with ${n.short} Established`);
    const byName = (name: string): LabSpeaker => nodes.find((n) => n.short === name) ?? assert.fail(name);
    const api = labApi({ lab: lab.netns, pki, nsOf: (name) => byName(name).ns, ipOf: (name) => byName(name).ipv4, maxTimeS: 5, allowFailure: true });
    const onLo = async (n: LabSpeaker): Promise<boolean> => (await lab.netns.exec(n.ns, 'ip', ['-4', 'addr', 'show', 'dev', 'lo'])).stdout.includes(`${VIP}/32`);

    // Every node ready (claim delay over, flag gossiped), or the first ready node takes the VIP
    // and hands it on as the others become ready.
    await waitFor(async () => {
      for (const n of nodes) {
        const st = await api(n.short, 'GET', '/v1/status');
        if ((st.json as { ownership?: { ready?: boolean } } | undefined)?.ownership?.ready !== true) return false;
      }
      return true;
    }, 20_000, 'every node ready to hold VIPs');
    const created = await api('s2', 'POST', '/v1/instances', { name: 'web', vip: VIP, ports: [{ port: 80 }], backends: [b1, b2].map((b) => ({ ip: b.ipv4, port: 8080 })) });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const route = await waitFor(async () => {
      const r = await router.route(PREFIX);
      return r !== null && r.paths.length === 1 ? r : null;
    }, 20_000, `BIRD has ${PREFIX} from exactly one node`);
    const owner = byName(nodes.find((n) => n.ipv4 === route.paths[0]?.nexthops[0])?.short ?? assert.fail('path from no node'));
    assert.equal(await onLo(owner), true, 'the announcing node holds the VIP on lo');
    for (const n of nodes.filter((x) => x !== owner)) assert.equal(await onLo(n), false, `${n.short} neither holds nor announces it`);
    const status = await api(owner.short, 'GET', '/v1/status');
    assert.deepEqual((status.json as { bgp: { routes: { prefix: string }[] } }).bgp.routes.map((r) => r.prefix), [PREFIX]);
    const curl = async (): Promise<string | null> => {
      const r = await lab.netns.exec(lab.client.ns, 'curl', ['-sS', '--max-time', '2', `http://${VIP}/`], { allowFailure: true });
      return r.code === 0 ? r.stdout.trim() : null;
    };
    assert.ok(['s4', 's5'].includes((await waitFor(curl, 10_000, 'curl through the router')) ?? ''));

    // The owner's host dies: its cable cut first, then shoald SIGKILLed, so not even the kernel's
    // FIN for the dead process reaches the router: only the hold timer tells it.
    const deadAt = Date.now();
    await lab.netns.ip(lab.netns.name('lan'), ['link', 'set', owner.ns, 'down']);
    shoald.get(owner.short)?.kill('SIGKILL');
    await waitFor(async () => {
      const r = await router.route(PREFIX);
      return r?.paths.some((p) => p.nexthops[0] !== owner.ipv4) === true;
    }, 15_000, 'a survivor announces the VIP');
    const reroutedMs = Date.now() - deadAt;
    try {
      await waitFor(async () => {
        const r = await router.route(PREFIX);
        return r !== null && r.paths.length === 1 && r.paths[0]?.nexthops[0] !== owner.ipv4;
      }, 15_000, 'the dead owner leaves BIRD at the hold timer');
    } catch (err) {
      const events = [...shoald.entries()].flatMap(([name, p]) =>
        p
          .lines()
          .filter((l) => typeof l['msg'] === 'string' && /VIP|ready|member (suspect|dead|alive)|BGP session/.test(l['msg']))
          .map((l) => `${String(l['time'])} ${name} ${String(l['msg'])} ${JSON.stringify(l['vip'] ?? l['member'] ?? l['why'] ?? '')}`),
      );
      assert.fail(`${(err as Error).message}\n${await router.cli(`show route ${PREFIX} all`)}\n${events.sort().join('\n')}`);
    }
    const withdrawnMs = Date.now() - deadAt;
    const finalRoute = await router.route(PREFIX);
    const successor = byName(nodes.find((n) => n.ipv4 === finalRoute?.paths[0]?.nexthops[0])?.short ?? assert.fail('no successor path'));
    assert.equal(await onLo(successor), true, 'the new owner holds the VIP on lo');
    const other = nodes.find((n) => n !== owner && n !== successor) ?? assert.fail('three nodes');
    assert.equal(await onLo(other), false, `${other.short} holds nothing`);
    // Hold time 3 s (BIRD's keepalives stop being answered; it counts from the last one it got).
    assert.ok(withdrawnMs >= 1_000, `the dead path left after ${withdrawnMs} ms: sooner than any hold timer, so the router heard from the dead host`);
    assert.ok(['s4', 's5'].includes((await waitFor(curl, 10_000, 'curl through the new owner')) ?? ''));
    console.log(`# bgp owner lab: owner ${owner.short} died; ${successor.short} announced after ${reroutedMs} ms, dead path gone after ${withdrawnMs} ms`);
  } finally {
    for (const p of shoald.values()) await p.stop(10_000).catch(() => undefined);
    const problems = await lab.cleanup();
    assert.deepEqual(problems, []);
  }
});
