/**
 * @shoal/bgp against real routers (recipes/bgp-peers-in-netns.md): BIRD 2, FRR 8.4 and GoBGP
 * run in a router namespace of a per-run lab (testkit bgp-lab.ts); each speaker is a child process
 * (bgp-speaker-child.js) inside its own speaker namespace, driven over stdin/stdout. Every case
 * builds its own lab and tears it down in `finally`; processes are stopped by PID.
 *
 * What is proven here: ECMP through BIRD with client traffic (the MetalLB tutorial topology),
 * communities / large communities / IPv6 next hops as FRR and GoBGP receive them, graceful
 * restart without a kernel route change (BIRD and FRR as helpers), and a speaker that answers
 * hostile bytes with the RFC 4271 / RFC 7606 NOTIFICATION while its real session stays up. The
 * hostile bytes are built by hand below, not with the package's codec, so the wire is checked.
 * Needs root, iproute2, node and the daemon of each case; skips saying why otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  bgpLabSkipReason,
  createBgpLab,
  gobgpAdjIn,
  hasCommand,
  sleep,
  waitFor,
  waitForSteady,
  type BgpLab,
  type LabSpeaker,
  type LineProcess,
  type Router,
  type RouterPath,
} from '@shoal/testkit';

const CHILD = fileURLToPath(new URL('./bgp-speaker-child.js', import.meta.url));

const VIP4 = '10.96.0.10/32';
const VIP6 = 'fd00:96::10/128';
/** RFC 1997: 64512:100 and NO_EXPORT (0xFFFFFF01). */
const COMMUNITIES = [64512 * 65536 + 100, 0xffffff01];
const COMMUNITIES_TEXT = ['64512:100', '65535:65281'];
/** RFC 8092 */
const LARGE = [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }];
const LARGE_TEXT = ['4200000001:1:2'];

const skipFor = (kind: 'bird' | 'frr' | 'gobgp', ...tools: string[]): string | false => {
  const reason = bgpLabSkipReason(kind);
  if (reason !== null) return reason;
  for (const tool of tools) if (!hasCommand(tool)) return `needs ${tool} on the PATH`;
  return false;
};

// ---------------------------------------------------------------------------------------------
// the speaker child

interface SpeakerPeerInit {
  readonly address: string;
  readonly asn: number;
  readonly passive?: boolean;
  readonly families?: readonly ('ipv4-unicast' | 'ipv6-unicast')[];
  readonly nextHopIpv6?: string;
  readonly holdTimeS?: number;
}

interface RouteInit {
  readonly prefix: string;
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly { globalAdmin: number; localData1: number; localData2: number }[];
  readonly med?: number;
}

/** Starts a speaker child in s's namespace with short timers (hold 3 s, connect retry 1 s). */
async function startSpeaker(lab: BgpLab, s: LabSpeaker, peers: readonly SpeakerPeerInit[], extra: Record<string, unknown> = {}): Promise<LineProcess> {
  const init = {
    asn: s.asn,
    routerId: s.ipv4,
    peers: peers.map((p) => ({ holdTimeS: 3, connectRetryS: 1, connectRetryMaxS: 2, localAddress: p.address.includes(':') ? s.ipv6 : s.ipv4, ...p })),
    ...extra,
  };
  const child = lab.spawnNode(s.ns, CHILD, [JSON.stringify({ speaker: init, logLevel: 'debug' })]);
  await child.waitForLine((l) => l.ready === true, 15_000);
  return child;
}

async function announce(child: LineProcess, routes: readonly RouteInit[], loaded = true): Promise<number> {
  const at = Date.now();
  await child.request({ cmd: 'routes', routes }, (l) => l.ok === 'routes' || 'error' in l);
  if (loaded) await child.request({ cmd: 'loaded' }, (l) => l.ok === 'loaded' || 'error' in l);
  return at;
}

/** The speaker's peers() as the child prints it (BgpPeerStatus, the fields used here). */
interface PeerStatusLine {
  readonly address: string;
  readonly state: string;
  readonly flaps: number;
  readonly lastNotificationSent?: { readonly code: number; readonly subcode: number; readonly text: string };
}

async function peersOf(child: LineProcess): Promise<PeerStatusLine[]> {
  const line = await child.request({ cmd: 'peers' }, (l) => 'peers' in l, 5000);
  return line.peers as PeerStatusLine[];
}

/** Every session Established and none re-established during holdMs (FRR flaps once at start). */
async function establishedSteadily(router: Router, addresses: readonly string[], holdMs = 2000, timeoutMs = 30_000): Promise<void> {
  let markers = '';
  await waitForSteady(
    async () => {
      const sessions = await Promise.all(addresses.map((a) => router.session(a)));
      const now = JSON.stringify(sessions.map((x) => x.upMarker));
      const ok = sessions.every((x) => x.state === 'Established') && now === markers;
      markers = now;
      return ok;
    },
    holdMs,
    timeoutMs,
    `${router.kind} sessions ${addresses.join(', ')} Established`,
  );
}

/** The router's route for prefix once it has exactly these next hops (first next hop of each path). */
async function routeWithNexthops(router: Router, prefix: string, nexthops: readonly string[], timeoutMs = 10_000): Promise<readonly RouterPath[]> {
  const want = [...nexthops].sort().join(',');
  const r = await waitFor(
    async () => {
      const route = await router.route(prefix);
      const have = (route?.paths ?? []).map((p) => p.nexthops[0] ?? '').sort().join(',');
      return have === want ? (route?.paths ?? []) : null;
    },
    timeoutMs,
    () => `${router.kind} route ${prefix} via [${want}]`,
  );
  return r;
}

async function routeGone(router: Router, prefix: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => (await router.route(prefix)) === null, timeoutMs, `${router.kind} without ${prefix}`);
}

async function kernelNexthops(lab: BgpLab, prefix: string, nexthops: readonly string[], timeoutMs = 10_000): Promise<void> {
  const want = [...nexthops].sort().join(',');
  await waitFor(async () => ((await lab.kernelRoute(prefix))?.nexthops ?? []).join(',') === want, timeoutMs, `kernel route ${prefix} via [${want}]`);
}

/** pino lines at error level or above (50+) that a child wrote to stderr. */
const errorLogLines = (c: LineProcess): string[] => c.stderr().split('\n').filter((l) => /"level":(5|6)\d/.test(l));

/**
 * Runs body; on failure (or with BGP_LAB_LOGS=1 always) prints the router's log and the
 * children's stderr tails. Error-level lines from the speakers are always reported.
 */
async function withDiagnostics(t: TestContext, lab: BgpLab, routers: () => readonly Router[], children: () => readonly LineProcess[], body: () => Promise<void>): Promise<void> {
  const dump = async (full: boolean): Promise<void> => {
    for (const r of routers()) {
      t.diagnostic(`--- ${r.kind} log ---\n${full ? r.log() : r.log().slice(-6000)}`);
      for (const p of r.peers) t.diagnostic(`${r.kind} session ${p.address}: ${JSON.stringify(await r.session(p.address).catch((x: unknown) => String(x)))}`);
    }
    for (const c of children()) t.diagnostic(`--- pid ${c.pid} in ${c.ns} (exit ${JSON.stringify(c.exit())}) stderr ---\n${full ? c.stderr() : c.stderr().slice(-8000)}`);
  };
  try {
    await body();
    if (process.env.BGP_LAB_LOGS === '1') await dump(true);
  } catch (e) {
    await dump(process.env.BGP_LAB_LOGS === '1');
    throw e;
  } finally {
    for (const c of children()) for (const l of errorLogLines(c)) t.diagnostic(`speaker pid ${c.pid} logged an error: ${l}`);
    const problems = await lab.cleanup();
    if (problems.length > 0) t.diagnostic(`cleanup: ${problems.join('; ')}`);
  }
}

const sortedEq = (actual: readonly string[], expected: readonly string[], what: string): void => assert.deepEqual([...actual].sort(), [...expected].sort(), what);

// ---------------------------------------------------------------------------------------------
// a. BIRD, the MetalLB tutorial topology

test('BIRD: two speakers announce one /32, the router installs both as ECMP and forwards client traffic to both; withdraws remove each path', { skip: skipFor('bird', 'curl'), timeout: 90_000 }, async (t) => {
  // The tutorial: BIRD 10.240.0.2 AS 65000, speakers 10.240.0.20/.21 AS 65001, eBGP.
  const lab = await createBgpLab({ speakers: 2, routerAsn: 65000, speakerAsn: 65001 });
  const children: LineProcess[] = [];
  let bird: Router | undefined;
  await withDiagnostics(t, lab, () => (bird ? [bird] : []), () => children, async () => {
    const [s1, s2] = lab.speakers as [LabSpeaker, LabSpeaker];
    bird = await lab.startBird({ ipv6Sessions: false });
    const tStart = Date.now();
    for (const s of [s1, s2]) children.push(await startSpeaker(lab, s, [{ address: lab.router.ipv4, asn: lab.router.asn, families: ['ipv4-unicast'] }]));
    const [c1, c2] = children as [LineProcess, LineProcess];
    await establishedSteadily(bird, [s1.ipv4, s2.ipv4], 1000);
    t.diagnostic(`speakers started -> both BIRD sessions Established (steady 1 s): ${Date.now() - tStart} ms`);

    // Behind each speaker, an HTTP server on the VIP answers with the speaker's name.
    for (const s of [s1, s2]) {
      await lab.netns.ip(s.ns, ['addr', 'add', VIP4, 'dev', 'lo']);
      const http = lab.spawn(s.ns, process.execPath, ['-e', `require('http').createServer((q, r) => r.end(process.argv[1] + '\\n')).listen(80, '${VIP4.split('/')[0] ?? ''}', () => console.log('listening'))`, s.short]);
      await waitFor(() => http.stdout().includes('listening'), 10_000, `http server in ${s.short}`);
    }

    const a1 = await announce(c1, [{ prefix: VIP4 }]);
    await announce(c2, [{ prefix: VIP4 }]);
    const paths = await routeWithNexthops(bird, VIP4, [s1.ipv4, s2.ipv4]);
    t.diagnostic(`announce (s1) -> BIRD has both paths: ${Date.now() - a1} ms`);
    for (const p of paths) assert.deepEqual(p.asPath, [65001], 'eBGP: the speaker prepends its own AS');
    const birdText = await bird.cli(`show route ${VIP4}`);
    assert.match(birdText, /via 10\.240\.0\.20 on eth0/, birdText);
    assert.match(birdText, /via 10\.240\.0\.21 on eth0/, birdText);
    await kernelNexthops(lab, VIP4, [s1.ipv4, s2.ipv4]);
    t.diagnostic(`announce (s1) -> kernel ECMP route with both next hops: ${Date.now() - a1} ms`);

    // ECMP carries traffic: port-hashed connections from one client reach both speakers.
    const answers = new Map<string, number>();
    for (let i = 0; i < 24; i++) {
      const r = await lab.netns.exec(lab.client.ns, 'curl', ['-s', '--max-time', '3', `http://${VIP4.split('/')[0] ?? ''}/`], { allowFailure: true });
      const who = r.code === 0 ? r.stdout.trim() : `curl exit ${r.code}`;
      answers.set(who, (answers.get(who) ?? 0) + 1);
    }
    t.diagnostic(`24 curls from the client: ${JSON.stringify(Object.fromEntries(answers))}`);
    assert.deepEqual([...answers.keys()].sort(), ['s1', 's2'], `both speakers served the VIP: ${JSON.stringify(Object.fromEntries(answers))}`);

    // One speaker withdraws: BIRD keeps only the other path, the kernel one next hop.
    const w1 = Date.now();
    await c1.request({ cmd: 'routes', routes: [] }, (l) => l.ok === 'routes');
    await routeWithNexthops(bird, VIP4, [s2.ipv4]);
    t.diagnostic(`withdraw (s1) -> BIRD keeps only s2's path: ${Date.now() - w1} ms`);
    await kernelNexthops(lab, VIP4, [s2.ipv4]);
    t.diagnostic(`withdraw (s1) -> kernel route via s2 only: ${Date.now() - w1} ms`);
    const r = await lab.netns.exec(lab.client.ns, 'curl', ['-s', '--max-time', '3', `http://${VIP4.split('/')[0] ?? ''}/`]);
    assert.equal(r.stdout.trim(), 's2');

    // Both withdraw: the route leaves BIRD and the kernel; sessions stay up.
    const w2 = Date.now();
    await c2.request({ cmd: 'routes', routes: [] }, (l) => l.ok === 'routes');
    await routeGone(bird, VIP4);
    assert.match(await bird.cli(`show route ${VIP4}`), /Network not found/);
    await waitFor(async () => (await lab.kernelRoute(VIP4)) === null, 10_000, 'kernel route gone');
    t.diagnostic(`withdraw (s2, last) -> route gone from BIRD and the kernel: ${Date.now() - w2} ms`);
    assert.ok(await bird.established(s1.ipv4));
    assert.ok(await bird.established(s2.ipv4));
  });
});

test('BIRD restarts: the speakers notice, reconnect and announce their routes again', { skip: skipFor('bird'), timeout: 60_000 }, async (t) => {
  const lab = await createBgpLab({ speakers: 2 });
  const children: LineProcess[] = [];
  let bird: Router | undefined;
  await withDiagnostics(t, lab, () => (bird ? [bird] : []), () => children, async () => {
    const [s1, s2] = lab.speakers as [LabSpeaker, LabSpeaker];
    bird = await lab.startBird({ ipv6Sessions: false });
    for (const s of [s1, s2]) children.push(await startSpeaker(lab, s, [{ address: lab.router.ipv4, asn: lab.router.asn, families: ['ipv4-unicast'] }]));
    for (const c of children) await announce(c, [{ prefix: VIP4 }]);
    await routeWithNexthops(bird, VIP4, [s1.ipv4, s2.ipv4]);
    await kernelNexthops(lab, VIP4, [s1.ipv4, s2.ipv4]);

    // SIGTERM: BIRD sends Cease to both speakers and removes its kernel routes.
    const seenBefore = children.map((c) => c.lines().length);
    await bird.stop();
    for (const [i, c] of children.entries()) await c.waitForLine((l) => l.event === 'peer-state' && l.state !== 'Established', 5000, seenBefore[i] ?? 0);
    const restartedAt = Date.now();
    bird = await lab.startBird({ ipv6Sessions: false });
    await routeWithNexthops(bird, VIP4, [s1.ipv4, s2.ipv4], 15_000);
    t.diagnostic(`BIRD restarted -> both paths back: ${Date.now() - restartedAt} ms`);
    await kernelNexthops(lab, VIP4, [s1.ipv4, s2.ipv4]);
    t.diagnostic(`BIRD restarted -> kernel ECMP route back: ${Date.now() - restartedAt} ms`);
    const how = bird.log().split('\n').filter((l) => /Incoming connection|Connecting to|Connected to|collision|established/i.test(l)).map((l) => l.replace(/^\S+ /, ''));
    t.diagnostic(`how the sessions came back (BIRD log): ${JSON.stringify(how)}`);
    await establishedSteadily(bird, [s1.ipv4, s2.ipv4], 1000, 10_000);
  });
});

// ---------------------------------------------------------------------------------------------
// b./c. communities, large communities and IPv6 next hops as FRR and GoBGP receive them

async function attributesCase(t: TestContext, kind: 'frr' | 'gobgp'): Promise<void> {
  const lab = await createBgpLab({ speakers: 2 });
  const children: LineProcess[] = [];
  let router: Router | undefined;
  await withDiagnostics(t, lab, () => (router ? [router] : []), () => children, async () => {
    const [s1, s2] = lab.speakers as [LabSpeaker, LabSpeaker];
    // s1: IPv4 VIPs over an IPv4 session, IPv6 VIPs over an IPv6 session.
    // s2: both families over one IPv4 session (MP-BGP), with its global IPv6 address as next hop.
    // GoBGP only accepts (its own first connect waits 5-10 s); the speakers connect.
    const sessions = [
      { speaker: s1, transport: 'ipv4' as const, passive: kind === 'gobgp' },
      { speaker: s1, transport: 'ipv6' as const, passive: kind === 'gobgp' },
      { speaker: s2, transport: 'ipv4' as const, passive: kind === 'gobgp' },
    ];
    router = kind === 'frr' ? await lab.startFrr({ sessions }) : await lab.startGobgp({ sessions });
    const peer4 = { address: lab.router.ipv4, asn: lab.router.asn };
    const peer6 = { address: lab.router.ipv6, asn: lab.router.asn };
    const tStart = Date.now();
    const c1 = await startSpeaker(lab, s1, [
      { ...peer4, families: ['ipv4-unicast'] },
      { ...peer6, families: ['ipv6-unicast'] },
    ]);
    children.push(c1);
    const c2 = await startSpeaker(lab, s2, [{ ...peer4, families: ['ipv4-unicast', 'ipv6-unicast'], nextHopIpv6: s2.ipv6 }]);
    children.push(c2);
    await establishedSteadily(router, [s1.ipv4, s1.ipv6, s2.ipv4], 2000);
    t.diagnostic(`speakers started -> 3 ${kind} sessions Established and steady for 2 s: ${Date.now() - tStart} ms`);

    const routes = [
      { prefix: VIP4, communities: COMMUNITIES, largeCommunities: LARGE },
      { prefix: VIP6, communities: COMMUNITIES, largeCommunities: LARGE },
    ];
    const a1 = await announce(c1, routes);
    await announce(c2, routes);

    const p4 = await routeWithNexthops(router, VIP4, [s1.ipv4, s2.ipv4]);
    t.diagnostic(`announce -> ${kind} has ${VIP4} from both speakers: ${Date.now() - a1} ms`);
    const p6 = await routeWithNexthops(router, VIP6, [s1.ipv6, s2.ipv6]);
    t.diagnostic(`announce -> ${kind} has ${VIP6} from both speakers: ${Date.now() - a1} ms`);
    for (const p of [...p4, ...p6]) {
      const where = `${kind} path ${JSON.stringify(p)}`;
      sortedEq(p.communities, COMMUNITIES_TEXT, `communities of ${where}`);
      sortedEq(p.largeCommunities, LARGE_TEXT, `large communities of ${where}`);
      assert.deepEqual(p.asPath, [s1.asn], `AS path of ${where}`);
    }
    // IPv6 over the IPv6 session: the session's own global address; over the IPv4 session: the
    // configured nextHopIpv6. Either way a global address first (a link-local may follow).
    t.diagnostic(`${VIP6} next hops as ${kind} received them: ${JSON.stringify(p6.map((p) => ({ from: p.from, nexthops: p.nexthops })))}`);
    sortedEq(p6.map((p) => `${p.from ?? '?'} -> ${p.nexthops[0] ?? '?'}`), [`${s1.ipv6} -> ${s1.ipv6}`, `${s2.ipv4} -> ${s2.ipv6}`], `${VIP6}: learnt over s1's IPv6 session and s2's IPv4 session, each with that speaker's global next hop`);
    for (const p of p6) for (const nh of p.nexthops.slice(1)) assert.match(nh, /^fe80:/i, `only a link-local may follow the global next hop (${JSON.stringify(p)})`);
    if (kind === 'gobgp') {
      // what GoBGP received from s2 before any policy: IPv4 and IPv6 over the one IPv4 session
      const in6 = await gobgpAdjIn(lab, s2.ipv4, 'ipv6');
      const in4 = await gobgpAdjIn(lab, s2.ipv4, 'ipv4');
      t.diagnostic(`GoBGP adj-in from ${s2.ipv4}: ${JSON.stringify({ ...in4, ...in6 })}`);
      assert.equal(in6[VIP6]?.[0]?.nexthops[0], s2.ipv6, `adj-in ${VIP6} from ${s2.ipv4}`);
      assert.equal(in4[VIP4]?.[0]?.nexthops[0], s2.ipv4, `adj-in ${VIP4} from ${s2.ipv4}`);
    }
    if (kind === 'frr') {
      // zebra installs both: a bad next hop from one speaker would take the VIP out for all
      await kernelNexthops(lab, VIP4, [s1.ipv4, s2.ipv4]);
      await kernelNexthops(lab, VIP6, [s1.ipv6, s2.ipv6]);
      t.diagnostic(`announce -> kernel has both ECMP routes: ${Date.now() - a1} ms`);
    }
    // the router announces nothing back; the sessions survived the updates
    await establishedSteadily(router, [s1.ipv4, s1.ipv6, s2.ipv4], 1000, 5000);
  });
}

test('FRR: an IPv4 and an IPv6 VIP arrive with exactly the communities and large community, and a global IPv6 next hop over IPv6 and IPv4 sessions', { skip: skipFor('frr'), timeout: 90_000 }, async (t) => {
  await attributesCase(t, 'frr');
});

test('GoBGP: an IPv4 and an IPv6 VIP arrive with exactly the communities and large community, and a global IPv6 next hop over IPv6 and IPv4 sessions', { skip: skipFor('gobgp'), timeout: 90_000 }, async (t) => {
  await attributesCase(t, 'gobgp');
});

// ---------------------------------------------------------------------------------------------
// d. graceful restart

interface KernelWatch {
  stop(): Promise<{ samples: number; missing: number[]; monitor: readonly { at: number; line: string }[] }>;
}

/** Samples the router's kernel route every ~50 ms and records `ip monitor route` at the same time. */
async function watchKernelRoute(lab: BgpLab, prefix: string): Promise<KernelWatch> {
  const monitor = await lab.monitorRoutes();
  let stopped = false;
  let samples = 0;
  const missing: number[] = [];
  const loop = (async () => {
    while (!stopped) {
      const k = await lab.kernelRoute(prefix);
      samples++;
      if (k === null || k.nexthops.length === 0) missing.push(Date.now());
      await sleep(50);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await monitor.stop();
      return { samples, missing, monitor: monitor.events() };
    },
  };
}

async function gracefulRestartCase(t: TestContext, kind: 'bird' | 'frr'): Promise<void> {
  const lab = await createBgpLab({ speakers: 1 });
  const children: LineProcess[] = [];
  let router: Router | undefined;
  await withDiagnostics(t, lab, () => (router ? [router] : []), () => children, async () => {
    const [s1] = lab.speakers as [LabSpeaker];
    router = kind === 'bird' ? await lab.startBird({ ipv6Sessions: false }) : await lab.startFrr({ ipv6Sessions: false });
    const peers = [{ address: lab.router.ipv4, asn: lab.router.asn, families: ['ipv4-unicast'] as const }];
    const gr = { gracefulRestart: { enabled: true, restartTimeS: 30 } };
    const first = await startSpeaker(lab, s1, peers, gr);
    children.push(first);
    await announce(first, [{ prefix: VIP4 }]);
    await establishedSteadily(router, [s1.ipv4], kind === 'frr' ? 2000 : 500);
    await routeWithNexthops(router, VIP4, [s1.ipv4]);
    await kernelNexthops(lab, VIP4, [s1.ipv4]);
    const marker = (await router.session(s1.ipv4)).upMarker;

    // Crash: SIGKILL. The kernel closes the TCP connection; the router, a GR helper, keeps the
    // route (stale) for up to the restart time while the speaker comes back.
    const watch = await watchKernelRoute(lab, VIP4);
    const killedAt = Date.now();
    first.kill('SIGKILL');
    await first.exited;
    await waitFor(async () => !(await router?.established(s1.ipv4)), 10_000, `${kind} notices the dead session`);
    t.diagnostic(`SIGKILL -> ${kind} session down: ${Date.now() - killedAt} ms`);
    const staleRoute = await router.route(VIP4);
    assert.ok(staleRoute !== null, `${kind} keeps ${VIP4} while the speaker restarts`);
    t.diagnostic(`${kind} path while the speaker is down: ${JSON.stringify(staleRoute.paths)}`);
    if (kind === 'frr') {
      await waitFor(async () => (await router?.route(VIP4))?.paths[0]?.stale === true, 3000, 'FRR marking the kept path stale');
    } else {
      // BIRD 2.0.12 does not flag stale routes in `show route`; the protocol says it is helping.
      const proto = await router.cli(`show protocols all ${router.peers[0]?.name ?? 's1'}`);
      t.diagnostic(`BIRD: ${proto.split('\n').filter((l) => /restart|BGP state/i.test(l)).map((l) => l.trim()).join(' | ')}`);
      assert.match(proto, /Neighbor graceful restart active/, 'BIRD acts as graceful restart helper for the speaker');
    }

    // Restart with the R bit and F bit. The new session comes up before the routes are loaded:
    // the speaker must hold End-of-RIB back until markInitialRoutesLoaded(), else the helper
    // flushes the stale route (the kernel watch would see it go).
    await sleep(500);
    const second = await startSpeaker(lab, s1, peers, { ...gr, restarting: true });
    children.push(second);
    await waitFor(async () => {
      const s = await router?.session(s1.ipv4);
      return s?.state === 'Established' && s.upMarker !== marker;
    }, 20_000, `${kind} session Established again`);
    t.diagnostic(`SIGKILL -> ${kind} session Established again: ${Date.now() - killedAt} ms`);
    const proto = router.peers[0]?.name ?? 's1';
    if (kind === 'bird') {
      const caps = await router.cli(`show protocols all ${proto}`);
      t.diagnostic(`BIRD, the restarted speaker's GR capability: ${caps.split('\n').filter((l) => /Restart|AF preserved|graceful/i.test(l)).map((l) => l.trim()).join(' | ')}`);
      assert.match(caps, /Restart recovery/, 'the restarted speaker\'s OPEN has the R bit');
      assert.match(caps, /AF preserved: ipv4/, 'the restarted speaker\'s OPEN has the F bit for IPv4 unicast');
    }
    await sleep(800);
    // Still waiting for End-of-RIB: the route is kept stale.
    if (kind === 'bird') assert.match(await router.cli(`show protocols all ${proto}`), /Neighbor graceful restart active/, 'BIRD still waits for End-of-RIB before loaded');
    else assert.equal((await router.route(VIP4))?.paths[0]?.stale, true, 'FRR keeps the path stale until End-of-RIB');
    const loadedAt = await announce(second, [{ prefix: VIP4 }]);
    if (kind === 'bird') {
      await waitFor(async () => !/Neighbor graceful restart active/.test((await router?.cli(`show protocols all ${proto}`)) ?? ''), 5000, 'BIRD ending graceful restart after End-of-RIB');
    } else {
      await waitFor(async () => (await router?.route(VIP4))?.paths[0]?.stale === false, 5000, 'FRR clearing the stale flag after End-of-RIB');
    }
    t.diagnostic(`routes + loaded -> ${kind} leaves graceful restart (End-of-RIB): ${Date.now() - loadedAt} ms`);
    // Anything not re-announced would be flushed at End-of-RIB: give the router time to act.
    await sleep(1000);
    await routeWithNexthops(router, VIP4, [s1.ipv4]);
    await establishedSteadily(router, [s1.ipv4], 1000, 10_000);

    // A clean stop that does not preserve forwarding takes the route away at once. The kernel
    // watch keeps running: the deletion it must see here shows that it would have seen one above.
    const stopAt = Date.now();
    await second.request({ cmd: 'stop', preserveForwarding: false }, (l) => l.stopped === true, 10_000);
    await waitFor(async () => (await lab.kernelRoute(VIP4)) === null, 5000, 'kernel route removed after stop({ preserveForwarding: false })');
    const removedMs = Date.now() - stopAt;
    t.diagnostic(`stop({ preserveForwarding: false }) -> kernel route gone: ${removedMs} ms`);
    await routeGone(router, VIP4, 2000);
    await sleep(200);
    const seen = await watch.stop();
    const vip = VIP4.split('/')[0] ?? '';
    const vipEvents = seen.monitor.filter((e) => e.line.split(' ').includes(vip));
    t.diagnostic(`kernel: ${seen.samples} samples, ${seen.missing.filter((m) => m < stopAt).length} without the route before the stop; ip monitor for ${vip}: ${JSON.stringify(vipEvents.map((e) => `${e.at - killedAt} ms after the kill: ${e.line.trim()}`))}`);
    const missingBeforeStop = seen.missing.filter((m) => m < stopAt);
    assert.deepEqual(missingBeforeStop.map((m) => m - killedAt), [], 'the kernel route never disappeared during the restart (ms after the kill)');
    assert.deepEqual(vipEvents.filter((e) => e.at < stopAt).map((e) => e.line), [], 'ip monitor saw no change at all to the VIP route during the restart');
    assert.ok(vipEvents.some((e) => e.at >= stopAt && e.line.startsWith('Deleted')), `ip monitor saw the deletion after the stop: ${JSON.stringify(vipEvents)}`);
    assert.ok(removedMs < 3000, `route removed promptly (${removedMs} ms), not after a hold or restart timer`);
  });
}

test('graceful restart with BIRD: a SIGKILLed speaker that restarts with the R bit keeps its kernel route the whole time', { skip: skipFor('bird'), timeout: 90_000 }, async (t) => {
  await gracefulRestartCase(t, 'bird');
});

test('graceful restart with FRR: a SIGKILLed speaker that restarts with the R bit keeps its kernel route the whole time', { skip: skipFor('frr'), timeout: 90_000 }, async (t) => {
  await gracefulRestartCase(t, 'frr');
});

// ---------------------------------------------------------------------------------------------
// e. a hostile peer

// BGP messages by hand (RFC 4271 4.1-4.5), independent of the package's codec.
const MARKER = Buffer.alloc(16, 0xff);
function bgpMessage(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(19);
  MARKER.copy(header);
  header.writeUInt16BE(19 + body.length, 16);
  header.writeUInt8(type, 18);
  return Buffer.concat([header, body]);
}
function openMessage(o: { version: number; asn: number; holdTimeS: number; bgpId: string }): Buffer {
  const caps = Buffer.from([
    // RFC 4760 multiprotocol: AFI 1 (IPv4), reserved, SAFI 1 (unicast)
    1, 4, 0, 1, 0, 1,
    // RFC 6793 4-octet AS
    65, 4, (o.asn >>> 24) & 0xff, (o.asn >>> 16) & 0xff, (o.asn >>> 8) & 0xff, o.asn & 0xff,
  ]);
  const params = Buffer.concat([Buffer.from([2, caps.length]), caps]); // optional parameter 2: capabilities
  const body = Buffer.alloc(10);
  body.writeUInt8(o.version, 0);
  body.writeUInt16BE(o.asn > 0xffff ? 23456 : o.asn, 1);
  body.writeUInt16BE(o.holdTimeS, 3);
  o.bgpId.split('.').forEach((x, i) => body.writeUInt8(Number(x), 5 + i));
  body.writeUInt8(params.length, 9);
  return bgpMessage(1, Buffer.concat([body, params]));
}
const KEEPALIVE = bgpMessage(4, Buffer.alloc(0));

interface WireMessage {
  readonly type: number;
  readonly body: Buffer;
}
function splitMessages(buf: Buffer): WireMessage[] {
  const out: WireMessage[] = [];
  let at = 0;
  while (buf.length - at >= 19) {
    const len = buf.readUInt16BE(at + 16);
    if (len < 19 || buf.length - at < len) break;
    out.push({ type: buf.readUInt8(at + 18), body: buf.subarray(at + 19, at + len) });
    at += len;
  }
  return out;
}

// Runs inside a namespace: one TCP connection at a time, bytes in and out as hex JSON lines.
const RAW_TCP = `
const net = require('net');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let sock = null, id = 0;
require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const c = JSON.parse(l);
  if (c.op === 'connect') {
    const my = ++id;
    if (sock) sock.destroy();
    sock = net.connect({ host: c.host, port: c.port, localAddress: c.localAddress });
    sock.on('connect', () => out({ conn: my, connected: true }));
    sock.on('data', (d) => out({ conn: my, recv: d.toString('hex') }));
    sock.on('error', (e) => out({ conn: my, error: e.code || e.message }));
    sock.on('close', () => out({ conn: my, closed: true }));
  } else if (c.op === 'send' && sock) {
    sock.write(Buffer.from(c.hex, 'hex'));
  } else if (c.op === 'close' && sock) {
    sock.destroy();
  }
});
out({ ready: true });
`;

/** A BGP peer that speaks raw bytes: connects to the speaker's listener, sends what it is told. */
class RawPeer {
  private conn = 0;
  private readonly proc: LineProcess;
  private readonly target: { readonly host: string; readonly localAddress: string };
  constructor(proc: LineProcess, target: { readonly host: string; readonly localAddress: string }) {
    this.proc = proc;
    this.target = target;
  }

  private lines(): readonly Record<string, unknown>[] {
    return this.proc.lines().filter((l) => l.conn === this.conn);
  }
  received(): Buffer {
    return Buffer.concat(this.lines().filter((l) => typeof l.recv === 'string').map((l) => Buffer.from(l.recv as string, 'hex')));
  }
  messages(): WireMessage[] {
    return splitMessages(this.received());
  }
  closed(): boolean {
    return this.lines().some((l) => l.closed === true);
  }

  /** Connects until the speaker answers with its OPEN (it refuses while its FSM is Idle). */
  async connect(timeoutMs = 15_000): Promise<WireMessage> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.conn++;
      this.proc.send({ op: 'connect', host: this.target.host, port: 179, localAddress: this.target.localAddress });
      const open = await waitFor(() => this.messages().find((m) => m.type === 1) ?? (this.closed() ? 'closed' : null), 3000, 'the speaker\'s OPEN').catch(() => 'timeout');
      if (typeof open !== 'string') return open;
      this.proc.send({ op: 'close' });
      if (Date.now() > until) throw new Error(`the speaker did not answer a connection with an OPEN within ${timeoutMs} ms (last: ${open})`);
      await sleep(300);
    }
  }
  send(bytes: Buffer): void {
    this.proc.send({ op: 'send', hex: bytes.toString('hex') });
  }
  /** The NOTIFICATION the speaker sent on this connection, once it has closed it. */
  async notification(timeoutMs = 10_000): Promise<{ code: number; subcode: number; data: Buffer }> {
    const n = await waitFor(() => this.messages().find((m) => m.type === 3) ?? null, timeoutMs, () => `a NOTIFICATION (received so far: ${this.received().toString('hex')})`);
    await waitFor(() => this.closed(), timeoutMs, 'the speaker closing the connection after its NOTIFICATION');
    return { code: n.body.readUInt8(0), subcode: n.body.readUInt8(1), data: n.body.subarray(2) };
  }
}

test('a hostile peer gets the RFC 4271 / RFC 7606 NOTIFICATION for each malformed message, and the speaker keeps its BIRD session and route', { skip: skipFor('bird'), timeout: 120_000 }, async (t) => {
  const lab = await createBgpLab({ speakers: 2 });
  const children: LineProcess[] = [];
  let bird: Router | undefined;
  await withDiagnostics(t, lab, () => (bird ? [bird] : []), () => children, async () => {
    const [s1, s2] = lab.speakers as [LabSpeaker, LabSpeaker];
    const HOSTILE_ASN = 65010;
    bird = await lab.startBird({ speakers: [s1], ipv6Sessions: false });
    // s1 runs the speaker: BIRD is its real peer; s2's address is a passive peer whose
    // connections the speaker accepts on its listener (the hostile peer is the active side).
    const speaker = await startSpeaker(lab, s1, [
      { address: lab.router.ipv4, asn: lab.router.asn, families: ['ipv4-unicast'] },
      { address: s2.ipv4, asn: HOSTILE_ASN, passive: true, families: ['ipv4-unicast'] },
    ]);
    children.push(speaker);
    await announce(speaker, [{ prefix: VIP4 }]);
    await establishedSteadily(bird, [s1.ipv4], 1000);
    await routeWithNexthops(bird, VIP4, [s1.ipv4]);
    const marker = (await bird.session(s1.ipv4)).upMarker;

    // Watch BIRD's side all along: the session must not flap and the route must stay.
    const glitches: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await bird.session(s1.ipv4);
        if (s.state !== 'Established' || s.upMarker !== marker) glitches.push(`${new Date().toISOString()} session ${JSON.stringify(s)}`);
        if ((await bird.route(VIP4)) === null) glitches.push(`${new Date().toISOString()} route gone`);
        await sleep(100);
      }
    })();

    const raw = lab.spawnNodeEval(s2.ns, RAW_TCP);
    children.push(raw);
    await raw.waitForLine((l) => l.ready === true, 10_000);
    const peer = new RawPeer(raw, { host: s1.ipv4, localAddress: s2.ipv4 });
    const goodOpen = (asn: number, version = 4): Buffer => openMessage({ version, asn, holdTimeS: 90, bgpId: s2.ipv4 });

    const cases: { name: string; rfc: string; code: number; subcode: number; data?: Buffer; run: () => Promise<void> }[] = [
      {
        name: 'OPEN with version 3',
        rfc: 'RFC 4271 6.2: OPEN Message Error / Unsupported Version Number, data = 2-octet version we support (4)',
        code: 2,
        subcode: 1,
        data: Buffer.from([0, 4]),
        run: async () => {
          await peer.connect();
          peer.send(goodOpen(HOSTILE_ASN, 3));
        },
      },
      {
        name: 'OPEN with the wrong AS',
        rfc: 'RFC 4271 6.2: OPEN Message Error / Bad Peer AS',
        code: 2,
        subcode: 2,
        run: async () => {
          await peer.connect();
          peer.send(goodOpen(HOSTILE_ASN + 1));
        },
      },
      {
        name: 'UPDATE whose Total Path Attribute Length overruns the message',
        rfc: 'RFC 4271 6.3 (unchanged by RFC 7606 4): UPDATE Message Error / Malformed Attribute List',
        code: 3,
        subcode: 1,
        run: async () => {
          await peer.connect();
          peer.send(goodOpen(HOSTILE_ASN));
          await waitFor(() => peer.messages().some((m) => m.type === 4) || (peer.closed() ? 'closed' : null), 5000, 'the speaker\'s KEEPALIVE after our OPEN').then((v) => {
            if (v === 'closed') throw new Error(`the speaker closed the connection after a valid OPEN: ${peer.received().toString('hex')}`);
          });
          peer.send(KEEPALIVE);
          await waitFor(async () => (await peersOf(speaker)).some((p) => p.address === s2.ipv4 && p.state === 'Established'), 5000, 'the hostile session Established at the speaker');
          // withdrawn length 0, total path attribute length 255, but only 4 attribute bytes follow
          peer.send(bgpMessage(2, Buffer.from([0x00, 0x00, 0x00, 0xff, 0x40, 0x01, 0x01, 0x00])));
        },
      },
      {
        name: 'a header with a broken marker',
        rfc: 'RFC 4271 6.1: Message Header Error / Connection Not Synchronized',
        code: 1,
        subcode: 1,
        run: async () => {
          await peer.connect();
          const bad = Buffer.from(goodOpen(HOSTILE_ASN));
          bad[5] = 0x00;
          peer.send(bad);
        },
      },
      {
        name: 'random bytes',
        rfc: 'RFC 4271 6.1: Message Header Error / Connection Not Synchronized (the marker is not all ones)',
        code: 1,
        subcode: 1,
        run: async () => {
          await peer.connect();
          const junk = randomBytes(64);
          junk[0] = (junk[0] ?? 0) & 0x7f; // never a valid marker
          t.diagnostic(`random bytes: ${junk.toString('hex')}`);
          peer.send(junk);
        },
      },
    ];

    try {
      for (const c of cases) {
        const started = Date.now();
        await c.run();
        const n = await peer.notification();
        t.diagnostic(`${c.name}: NOTIFICATION ${n.code}/${n.subcode} data ${n.data.toString('hex') || '-'} after ${Date.now() - started} ms`);
        assert.deepEqual({ code: n.code, subcode: n.subcode }, { code: c.code, subcode: c.subcode }, `${c.name}: ${c.rfc}`);
        if (c.data !== undefined) assert.equal(n.data.toString('hex'), c.data.toString('hex'), `${c.name}: NOTIFICATION data`);
        // the speaker lives on and still answers
        assert.equal(speaker.exit(), null, `the speaker process is still running after ${c.name}`);
        const status = await peersOf(speaker);
        assert.ok(Array.isArray(status) && status.length === 2, `peers() answers after ${c.name}: ${JSON.stringify(status)}`);
        const hostile = status.find((p) => p.address === s2.ipv4);
        assert.deepEqual(hostile?.lastNotificationSent === undefined ? null : { code: hostile.lastNotificationSent.code, subcode: hostile.lastNotificationSent.subcode }, { code: c.code, subcode: c.subcode }, `the speaker's status records the NOTIFICATION it sent: ${JSON.stringify(hostile)}`);
        assert.equal(status.find((p) => p.address === lab.router.ipv4)?.state, 'Established', `the speaker's own view of its BIRD session after ${c.name}`);
        assert.ok(await bird.established(s1.ipv4), `BIRD session Established after ${c.name}`);
        assert.ok((await bird.route(VIP4)) !== null, `route in BIRD after ${c.name}`);
      }

      // Not a configured peer at all: the client, routed through BIRD, connects to the
      // listener. The speaker must not open a session (no OPEN); closing, or Cease /
      // Connection Rejected (RFC 4486 subcode 5), are both acceptable.
      const stranger = lab.spawnNodeEval(lab.client.ns, RAW_TCP);
      children.push(stranger);
      await stranger.waitForLine((l) => l.ready === true, 10_000);
      stranger.send({ op: 'connect', host: s1.ipv4, port: 179, localAddress: lab.client.ipv4 });
      await stranger.waitForLine((l) => l.closed === true || typeof l.error === 'string', 10_000);
      const got = splitMessages(Buffer.concat(stranger.lines().filter((l) => typeof l.recv === 'string').map((l) => Buffer.from(l.recv as string, 'hex'))));
      t.diagnostic(`unconfigured peer ${lab.client.ipv4}: ${JSON.stringify(stranger.lines().filter((l) => l.ready !== true))}`);
      assert.ok(!got.some((m) => m.type === 1), 'no OPEN for an address that is not a configured peer');
      for (const m of got) assert.deepEqual({ type: m.type, code: m.body.readUInt8(0), subcode: m.body.readUInt8(1) }, { type: 3, code: 6, subcode: 5 }, 'only Cease/Connection Rejected, if anything');
      assert.equal(speaker.exit(), null, 'the speaker is still running after the stranger');
    } finally {
      watching = false;
      await watcher;
    }
    assert.deepEqual(glitches, [], 'BIRD saw the session Established (no re-establishment) and the route present throughout');
    assert.equal((await bird.session(s1.ipv4)).upMarker, marker, 'BIRD\'s session was never re-established');
  });
});
