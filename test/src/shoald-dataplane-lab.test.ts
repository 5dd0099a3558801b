/**
 * shoald end to end on a real kernel: a client namespace -> an LB namespace running shoald
 * (data plane nftables, health checks on) -> three backends. Driven with the real shoalctl
 * inside the LB namespace. Proves the reconciler with traffic: round robin through the VIP, a
 * dead backend taken out within its health-check bound and back after restart, a hand-deleted
 * table restored by the resync, stop and delete leaving nothing, and `shoald --cleanup`.
 * Needs root, nft and ip; skips saying why otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SHOALCTL_BIN, SHOALD_BIN, makePki, tempDir } from './harness.js';
import { createNetnsLab, labSkipReason, type NetnsLab } from '@shoal/testkit';

const skip = labSkipReason(['nft', 'node', 'openssl']);

const VIP = '10.203.1.10';
const BACKENDS = [1, 2, 3].map((i) => ({ name: `b${i}`, ip: `10.203.2.1${i}` }));
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[1] + '\\n')).listen(8080, '0.0.0.0', () => console.log('ready'));`;
const CLIENT = `
const http = require('http');
const [url, n] = [process.argv[1], Number(process.argv[2])];
const counts = {};
const one = () => new Promise((resolve) => {
  const req = http.get(url, { agent: false, timeout: 1500 }, (res) => {
    let body = ''; res.on('data', (c) => (body += c));
    res.on('end', () => { const who = body.trim(); counts[who] = (counts[who] || 0) + 1; resolve(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { const k = 'error:' + (e.code || e.message); counts[k] = (counts[k] || 0) + 1; resolve(); });
});
(async () => { for (let i = 0; i < n; i++) await one(); console.log(JSON.stringify(counts)); })();
`;

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('shoald programs nftables from the API and keeps it right as backends die, return and the kernel is edited', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const lab: NetnsLab = createNetnsLab(`shd-${process.pid}-`);
  const root = await tempDir('dplab');
  let shoaldLog = (): string => '(shoald not started)';
  try {
    const cl = await lab.addNamespace('cl');
    const lb = await lab.addNamespace('lb');
    await lab.sysctl(lb, 'net.ipv4.ip_forward=1');
    await lab.exec(lb, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0'], { allowFailure: true });
    await lab.veth(cl, 'eth0', lb, 'eth0');
    await lab.address(cl, 'eth0', '10.203.1.2/24');
    // The VIP on the LB's interface: adding it is the VIP owner's job (ownership release).
    await lab.address(lb, 'eth0', '10.203.1.1/24', `${VIP}/32`);
    await lab.bridge(lb, 'br0');
    await lab.address(lb, 'br0', '10.203.2.1/24');
    const servers = new Map<string, ReturnType<NetnsLab['spawn']>>();
    const startServer = async (b: (typeof BACKENDS)[number]): Promise<void> => {
      const p = lab.spawn(lab.name(b.name), 'node', ['-e', SERVER, b.name]);
      servers.set(b.name, p);
      await until(`${b.name} listening`, 10_000, () => Promise.resolve(p.stdout().includes('ready')));
    };
    for (const b of BACKENDS) {
      const ns = await lab.addNamespace(b.name);
      await lab.veth(ns, 'eth0', lb, `${b.name}p`);
      await lab.attach(lb, `${b.name}p`, 'br0');
      await lab.address(ns, 'eth0', `${b.ip}/24`);
      await lab.ip(ns, ['route', 'add', 'default', 'via', '10.203.2.1']);
      await startServer(b);
    }

    const pki = await makePki(root.path);
    const config = join(root.path, 'shoald.yaml');
    await writeFile(
      config,
      stringify({
        node: { name: 'lab1' },
        dataDir: join(root.path, 'data'),
        api: { host: '127.0.0.1', port: 18443, tls: { cert: join(pki.dir, 'node1.crt'), key: join(pki.dir, 'node1.key'), ca: join(pki.dir, 'ca.crt') } },
        // A resync period far beyond the test: what it sees is triggered by events.
        dataplane: { driver: 'nftables', resyncIntervalMs: 600_000, nftablesTable: 'shoal' },
        // The lab puts the VIP on the interface itself; election and announcement have their own lab.
        ownership: { mode: 'none' },
        health: { enabled: true },
      }),
    );
    const shoald = lab.spawn(lb, 'node', [SHOALD_BIN, '--config', config]);
    shoaldLog = () => shoald.stdout() + shoald.stderr();
    await until('shoald ready', 15_000, () => Promise.resolve(shoald.stdout().includes('"shoald ready"')));
    assert.match(shoald.stdout(), /"dataplane":"nftables"/);

    const ctl = async (...args: string[]): Promise<string> =>
      (await lab.exec(lb, 'node', [SHOALCTL_BIN, '--endpoint', 'https://127.0.0.1:18443', '--ca', join(pki.dir, 'ca.crt'), '--cert', join(pki.dir, 'admin.crt'), '--key', join(pki.dir, 'admin.key'), ...args])).stdout;
    const health = async (): Promise<Record<string, string>> => {
      const items = (JSON.parse(await ctl('backend', 'list', 'web', '-o', 'json')) as { items: { ip: string; status?: { health: string } }[] }).items;
      return Object.fromEntries(items.map((b) => [b.ip, b.status?.health ?? '?']));
    };
    const traffic = async (n: number): Promise<Record<string, number>> => JSON.parse((await lab.exec(cl, 'node', ['-e', CLIENT, `http://${VIP}/`, String(n)])).stdout) as Record<string, number>;

    const spec = join(root.path, 'web.json');
    await writeFile(
      spec,
      JSON.stringify({
        name: 'web',
        vip: VIP,
        ports: [{ port: 80 }],
        backends: BACKENDS.map((b) => ({ ip: b.ip, port: 8080 })),
        healthCheck: { type: 'http', path: '/', intervalMs: 300, timeoutMs: 200, rise: 2, fall: 2 },
      }),
    );
    await ctl('instance', 'create', '-f', spec);
    await until('all backends up', 10_000, async () => Object.values(await health()).every((h) => h === 'up'));
    const all = await traffic(60);
    assert.deepEqual(Object.keys(all).sort(), ['b1', 'b2', 'b3'], JSON.stringify(all));
    for (const b of BACKENDS) assert.ok((all[b.name] ?? 0) >= 12, `round robin: ${JSON.stringify(all)}`);

    // b2 dies: down within fall x interval + timeout (+ reconcile), then no new connection goes there.
    await servers.get('b2')?.stop();
    const downMs = await until('b2 down', 10_000, async () => (await health())['10.203.2.12'] === 'down');
    await until('b2 quiesced in the kernel', 5_000, async () => (await traffic(6))['b2'] === undefined);
    const without = await traffic(30);
    assert.equal(without['b2'], undefined, JSON.stringify(without));
    assert.equal(Object.keys(without).filter((k) => k.startsWith('error')).length, 0, JSON.stringify(without));
    assert.ok(downMs < 5_000, `b2 marked down after ${downMs} ms`);

    // b2 returns: up after `rise` successes, and gets traffic again.
    await startServer(BACKENDS[1]!);
    await until('b2 up', 10_000, async () => (await health())['10.203.2.12'] === 'up');
    await until('b2 serves again', 5_000, async () => ((await traffic(12))['b2'] ?? 0) > 0);

    // A hand-deleted table comes back at once: the driver watches `nft monitor`.
    await lab.exec(lb, 'nft', ['delete', 'table', 'inet', 'shoal']);
    await until('table restored', 5_000, async () => (await lab.exec(lb, 'nft', ['list', 'tables'])).stdout.includes('inet shoal'));
    await until('traffic restored', 5_000, async () => ((await traffic(3))['b1'] ?? 0) + ((await traffic(3))['b3'] ?? 0) > 0);

    // Stopped: nothing in the kernel for it; deleted: no trace at all.
    await ctl('instance', 'stop', 'web');
    await until('stopped instance gone from the kernel', 5_000, async () => !(await lab.exec(lb, 'nft', ['list', 'ruleset'])).stdout.includes(VIP));
    await ctl('instance', 'start', 'web');
    await until('started again', 5_000, async () => (await lab.exec(lb, 'nft', ['list', 'ruleset'])).stdout.includes(VIP));
    await ctl('instance', 'delete', 'web');
    await until('deleted instance leaves no trace', 5_000, async () => !(await lab.exec(lb, 'nft', ['list', 'ruleset'])).stdout.includes(VIP));

    await shoald.stop();
    await lab.exec(lb, 'node', [SHOALD_BIN, '--config', config, '--cleanup']);
    assert.equal((await lab.exec(lb, 'nft', ['list', 'ruleset'])).stdout.trim(), '', '--cleanup removes the table Shoal owns');
  } catch (err) {
    // The daemon's log is the first thing to read when this fails.
    process.stderr.write(`shoald log:\n${shoaldLog()}\n`);
    throw err;
  } finally {
    const problems = await lab.cleanup();
    await root.remove();
    assert.deepEqual(problems, []);
  }
});
