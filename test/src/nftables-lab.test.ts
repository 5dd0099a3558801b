/**
 * The nftables data plane against the real kernel: client -> LB namespace (the driver, with
 * its `netns` option) -> three backends behind a bridge, each a Node HTTP server answering
 * "<name> <peer address>". Needs root, nft and ip; skips saying why otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareServices, planChanges, type RealServer, type VirtualService } from '@shoal/dataplane';
import { createNftablesDataplane } from '@shoal/nftables';
import { createNetnsLab, labSkipReason, type NetnsLab } from '@shoal/testkit';

const skip = labSkipReason(['nft', 'node']);

const VIP4 = '10.201.1.10';
const VIP6 = 'fd00:201:1::10';
const BACKENDS = [1, 2, 3].map((i) => ({ name: `b${i}`, ip4: `10.201.2.1${i}`, ip6: `fd00:201:2::1${i}` }));

const SERVER = `
const http = require('http');
const name = process.argv[1];
http.createServer((q, s) => s.end(name + ' ' + q.socket.remoteAddress + '\\n')).listen(8080, '::', () => console.log('ready'));
`;

// n sequential requests, each on a new connection; prints {"b1": count, ...} and the peer addresses seen.
const CLIENT = `
const http = require('http');
const [url, n] = [process.argv[1], Number(process.argv[2])];
const counts = {}; const peers = {};
const one = () => new Promise((resolve) => {
  const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
    let body = ''; res.on('data', (c) => (body += c));
    res.on('end', () => { const [who, peer] = body.trim().split(' '); counts[who] = (counts[who] || 0) + 1; peers[peer] = true; resolve(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { counts['error:' + (e.code || e.message)] = (counts['error:' + (e.code || e.message)] || 0) + 1; resolve(); });
});
(async () => { for (let i = 0; i < n; i++) await one(); console.log(JSON.stringify({ counts, peers: Object.keys(peers) })); })();
`;

interface Tally {
  counts: Record<string, number>;
  peers: string[];
}

async function requests(lab: NetnsLab, ns: string, url: string, n: number): Promise<Tally> {
  const r = await lab.exec(ns, 'node', ['-e', CLIENT, url, String(n)]);
  return JSON.parse(r.stdout) as Tally;
}

const server = (i: number, weight: number, family: 4 | 6 = 4): RealServer => {
  const b = BACKENDS[i];
  assert.ok(b);
  return { ip: family === 4 ? b.ip4 : b.ip6, port: 8080, weight, forwarding: 'nat' };
};
const service = (port: number, servers: RealServer[], extra: Partial<VirtualService> = {}): VirtualService => ({
  protocol: 'tcp', vip: VIP4, port, family: 4, scheduler: 'rr', persistenceTimeoutS: 0, servers, ...extra,
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('nftables data plane: client -> VIP -> three backends in namespaces', { skip: skip ?? false, timeout: 90_000 }, async (t) => {
  const lab = createNetnsLab();
  try {
    const cl = await lab.addNamespace('cl');
    const lb = await lab.addNamespace('lb');
    await lab.sysctl(lb, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    // br_netfilter (when built in) makes bridged frames pass the IP hooks in a new netns; the
    // recipe saw that break hairpin. Not every kernel has the knob.
    await lab.exec(lb, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0'], { allowFailure: true });
    await lab.veth(cl, 'eth0', lb, 'eth0');
    await lab.address(cl, 'eth0', '10.201.1.2/24', 'fd00:201:1::2/64');
    await lab.address(lb, 'eth0', '10.201.1.1/24', 'fd00:201:1::1/64', `${VIP4}/32`, `${VIP6}/128`);
    await lab.ip(cl, ['route', 'add', 'default', 'via', '10.201.1.1']);
    await lab.ip(cl, ['-6', 'route', 'add', 'default', 'via', 'fd00:201:1::1']);
    await lab.bridge(lb, 'br0');
    await lab.address(lb, 'br0', '10.201.2.1/24', 'fd00:201:2::1/64');
    for (const b of BACKENDS) {
      const ns = await lab.addNamespace(b.name);
      await lab.veth(ns, 'eth0', lb, `${b.name}p`);
      await lab.attach(lb, `${b.name}p`, 'br0');
      await lab.address(ns, 'eth0', `${b.ip4}/24`, `${b.ip6}/64`);
      // No route back to the client on purpose: replies only work because the LB masquerades.
      lab.spawn(ns, 'node', ['-e', SERVER, b.name]);
    }
    for (const b of BACKENDS) {
      await waitFor(async () => (await requests(lab, lb, `http://${b.ip4}:8080/`, 1)).counts[b.name] === 1, 10_000, `${b.name} to answer`);
    }

    const dp = createNftablesDataplane({ netns: lb });
    const rr = service(80, [server(0, 1), server(1, 1), server(2, 1)]);
    const weighted = service(81, [server(0, 3), server(1, 1)], { scheduler: 'wrr' });
    const rr6 = service(80, [server(0, 1, 6), server(1, 1, 6), server(2, 1, 6)], { vip: VIP6, family: 6 });
    let desired = [rr, weighted, rr6];
    await dp.apply(planChanges(desired, await dp.dump()), desired);
    assert.equal(dp.lastApply()?.mode, 'full');

    await t.test('round robin spreads new connections evenly over the three backends, masqueraded', async () => {
      const r = await requests(lab, cl, `http://${VIP4}:80/`, 120);
      for (const b of BACKENDS) assert.ok(Math.abs((r.counts[b.name] ?? 0) - 40) <= 6, JSON.stringify(r.counts));
      assert.deepEqual(r.peers.map((p) => p.replace(/^::ffff:/, '')), ['10.201.2.1'], 'backends see the LB bridge address (masquerade), not the client');
    });

    await t.test('IPv6 VIP round robin through the same inet table', async () => {
      const r = await requests(lab, cl, `http://[${VIP6}]:80/`, 30);
      for (const b of BACKENDS) assert.ok(Math.abs((r.counts[b.name] ?? 0) - 10) <= 3, JSON.stringify(r.counts));
    });

    await t.test('weights 3:1 shape the split', async () => {
      const r = await requests(lab, cl, `http://${VIP4}:81/`, 200);
      assert.ok(Math.abs((r.counts['b1'] ?? 0) - 150) <= 25, JSON.stringify(r.counts));
      assert.equal((r.counts['b1'] ?? 0) + (r.counts['b2'] ?? 0), 200, JSON.stringify(r.counts));
    });

    await t.test('changing one service rewrites only its elements; rules and other services stay', async () => {
      const rulesBefore = (await lab.exec(lb, 'nft', ['-a', 'list', 'chain', 'inet', 'shoal', 'prerouting'])).stdout;
      const monitor = lab.spawn(lb, 'nft', ['monitor']);
      await new Promise((r) => setTimeout(r, 300));
      const changed = service(81, [server(0, 3), server(1, 0), server(2, 1)], { scheduler: 'wrr' });
      desired = [rr, changed, rr6];
      const changes = planChanges(desired, await dp.dump());
      assert.deepEqual(changes.map((c) => c.op).sort(), ['add-server', 'update-server']);
      await dp.apply(changes, desired);
      assert.equal(dp.lastApply()?.mode, 'incremental');
      await new Promise((r) => setTimeout(r, 300));
      await monitor.stop();
      const events = monitor.stdout().split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      assert.ok(events.length > 0, 'nft monitor saw the update');
      for (const e of events) assert.match(e, /^(add|delete) element inet shoal \w+ \{ 10\.201\.1\.10 \. 81 /, e);
      assert.equal((await lab.exec(lb, 'nft', ['-a', 'list', 'chain', 'inet', 'shoal', 'prerouting'])).stdout, rulesBefore);
      const dumped = await dp.dump();
      assert.deepEqual(dumped, [...desired].sort(compareServices));
      const r = await requests(lab, cl, `http://${VIP4}:81/`, 40);
      assert.equal(r.counts['b2'] ?? 0, 0, `weight 0 gets no new connections: ${JSON.stringify(r.counts)}`);
      assert.ok((r.counts['b1'] ?? 0) > (r.counts['b3'] ?? 0) && (r.counts['b3'] ?? 0) > 0, JSON.stringify(r.counts));
    });

    await t.test('deleting the services and flushing leave no trace in the ruleset', async () => {
      const changes = planChanges([], await dp.dump());
      assert.equal(changes.length, 3);
      await dp.apply(changes, []);
      assert.equal(dp.lastApply()?.mode, 'incremental');
      assert.deepEqual(await dp.dump(), []);
      const ruleset = (await lab.exec(lb, 'nft', ['list', 'ruleset'])).stdout;
      assert.ok(!ruleset.includes('10.201.') && !ruleset.includes('fd00:201'), ruleset);
      const refused = await requests(lab, cl, `http://${VIP4}:80/`, 1);
      assert.deepEqual(Object.keys(refused.counts), ['error:ECONNREFUSED']);
      await dp.flush();
      assert.equal((await lab.exec(lb, 'nft', ['list', 'ruleset'])).stdout.trim(), '');
      await dp.flush(); // idempotent: flushing a missing table is not an error
    });
  } finally {
    const problems = await lab.cleanup();
    assert.deepEqual(problems, []);
  }
});
