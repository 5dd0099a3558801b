/**
 * A partition, for real: three shoald nodes, each in its own network namespace on one bridge;
 * nftables in node3's namespace drops everything but loopback. Both sides keep taking writes
 * (node3 only with write concern 1: a majority write there is refused), including a conflicting
 * one; after the heal all three converge to the same state and resolve the conflict alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createNetnsLab, labSkipReason, type NetnsLab, type NetnsProcess } from '@shoal/testkit';
import { CERTS_SCRIPT, SHOALD_BIN, makePki, tempDir } from './harness.js';
import { GOSSIP_KEY, labApi, until } from './cluster-harness.js';

const execFileAsync = promisify(execFile);
const skip = labSkipReason(['nft', 'curl']);
const NODES = [
  { name: 'p1', ip: '10.213.0.1' },
  { name: 'p2', ip: '10.213.0.2' },
  { name: 'p3', ip: '10.213.0.3' },
] as const;

test('a partitioned node keeps only concern-1 writes, and after the heal all nodes converge and resolve the conflict alike', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const lab: NetnsLab = createNetnsLab(`shp-${process.pid}-`);
  const root = await tempDir('partition');
  const procs = new Map<string, NetnsProcess>();
  const partitionTable = `shp${process.pid}`;
  try {
    const pki = await makePki(root.path);
    const sw = await lab.addNamespace('sw');
    await lab.bridge(sw, 'br0');
    await lab.exec(sw, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0'], { allowFailure: true });
    const ns = new Map<string, string>();
    for (const n of NODES) {
      const nsName = await lab.addNamespace(n.name);
      ns.set(n.name, nsName);
      await lab.veth(nsName, 'eth0', sw, `${n.name}p`);
      await lab.attach(sw, `${n.name}p`, 'br0');
      await lab.address(nsName, 'eth0', `${n.ip}/24`);
      await execFileAsync('bash', [CERTS_SCRIPT, 'node', '--dir', pki.dir, '--name', n.name, '--ip', n.ip]);
      const config = join(root.path, `${n.name}.yaml`);
      await writeFile(
        config,
        stringify({
          node: { name: n.name },
          dataDir: join(root.path, `data-${n.name}`),
          api: { host: n.ip, port: 8443, tls: { cert: join(pki.dir, `${n.name}.crt`), key: join(pki.dir, `${n.name}.key`), ca: join(pki.dir, 'ca.crt') } },
          dataplane: { driver: 'none' },
          ownership: { mode: 'none' },
          health: { enabled: false },
          cluster: { enabled: true, bind: { host: n.ip, port: 7946 }, seeds: [`${NODES[0].ip}:7946`], keys: [GOSSIP_KEY], profile: 'local', antiEntropyIntervalMs: 1000, writeTimeoutMs: 2000 },
        }),
      );
      const p = lab.spawn(nsName, 'node', [SHOALD_BIN, '--config', config]);
      procs.set(n.name, p);
      await until(`${n.name} ready`, 15_000, () => Promise.resolve(p.stdout().includes('"shoald ready"')));
    }
    const nsOf = (name: string): string => ns.get(name) ?? assert.fail(name);
    const ipOf = (name: string): string => NODES.find((n) => n.name === name)?.ip ?? assert.fail(name);
    const api = labApi({ lab, pki, nsOf, ipOf });
    const states = async (node: string): Promise<Record<string, string>> =>
      Object.fromEntries(((await api(node, 'GET', '/v1/members')).json.items as { name: string; state: string }[]).map((m) => [m.name, m.state]));
    const view = async (node: string): Promise<string[]> =>
      ((await api(node, 'GET', '/v1/instances')).json.items as { id: string; name: string; description?: string; status?: { conflict?: { reason: string } } }[])
        .map((i) => `${i.id} ${i.name} ${i.description ?? '-'} ${i.status?.conflict ? `conflict:${i.status.conflict.reason}` : 'ok'}`)
        .sort();
    const spec = (name: string, vip: string): Record<string, unknown> => ({ name, vip, ports: [{ port: 80 }], backends: [{ ip: '10.214.0.1', port: 8080 }] });

    await until('all alive everywhere', 30_000, async () => {
      for (const n of NODES) {
        const s = await states(n.name);
        if (!NODES.every((m) => s[m.name] === 'alive')) return false;
      }
      return true;
    });
    assert.equal((await api('p1', 'POST', '/v1/instances', spec('base', '192.0.2.10'))).status, 201);
    await until('base everywhere', 10_000, async () => (await api('p3', 'GET', '/v1/instances/base')).status === 200);

    // Cut p3 off: everything but loopback dropped in its namespace.
    const nft = `table inet ${partitionTable} {
      chain in { type filter hook input priority -10; policy accept; iifname != "lo" drop; }
      chain out { type filter hook output priority -10; policy accept; oifname != "lo" drop; }
    }`;
    await lab.exec(nsOf('p3'), 'nft', ['-f', '-'], { input: nft });
    await until('p3 dead on p1, p1 and p2 dead on p3', 30_000, async () => (await states('p1'))['p3'] === 'dead' && (await states('p3'))['p1'] === 'dead' && (await states('p3'))['p2'] === 'dead');

    // Majority side: majority writes work.
    const webMajority = await api('p1', 'POST', '/v1/instances', spec('web', '192.0.2.20'));
    assert.equal(webMajority.status, 201, JSON.stringify(webMajority.json));
    assert.equal((await api('p2', 'PATCH', '/v1/instances/base', { description: 'from-majority' })).status, 200);
    // Minority side: a majority write is refused and leaves nothing; concern 1 is taken.
    const refused = await api('p3', 'POST', '/v1/instances', spec('lost', '192.0.2.30'));
    assert.equal(refused.status, 503);
    assert.equal(refused.json.error.code, 'E_QUORUM');
    assert.equal((await api('p3', 'GET', '/v1/instances/lost')).status, 404);
    const webMinority = await api('p3', 'POST', '/v1/instances', spec('web', '192.0.2.21'), { 'shoal-write-concern': '1' });
    assert.equal(webMinority.status, 201, JSON.stringify(webMinority.json));
    assert.equal((await api('p3', 'POST', '/v1/instances', spec('island', '192.0.2.40'), { 'shoal-write-concern': '1' })).status, 201);

    // Heal.
    await lab.exec(nsOf('p3'), 'nft', ['delete', 'table', 'inet', partitionTable]);
    await until('all alive again', 30_000, async () => {
      for (const n of NODES) {
        const s = await states(n.name);
        if (!NODES.every((m) => s[m.name] === 'alive')) return false;
      }
      return true;
    });
    const final = await until('the three views converge', 20_000, async () => {
      const views = await Promise.all(NODES.map((n) => view(n.name)));
      const first = JSON.stringify(views[0]);
      return views.every((v) => JSON.stringify(v) === first) && (views[0]?.length ?? 0) === 4 ? views[0] : false;
    });
    // The older "web" (the majority side's, created first) is served; the other is in conflict everywhere.
    const majorityId = webMajority.json.id as string;
    const minorityId = webMinority.json.id as string;
    assert.ok(final.includes(`${majorityId} web - ok`), final.join('\n'));
    assert.ok(final.includes(`${minorityId} web - conflict:name`), final.join('\n'));
    assert.ok(final.some((l) => / island - ok$/.test(l)), 'the minority side kept its concern-1 write');
    assert.ok(final.some((l) => / base from-majority ok$/.test(l)), 'the majority side edit reached the healed node');
    assert.equal((await api('p3', 'GET', '/v1/instances/web')).json.id, majorityId, 'by name every node answers with the winner');
  } finally {
    for (const p of procs.values()) await p.stop();
    const problems = await lab.cleanup();
    await root.remove();
    assert.deepEqual(problems, []);
  }
});
