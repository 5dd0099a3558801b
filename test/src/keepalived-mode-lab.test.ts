/**
 * ownership.mode keepalived for real: three shoald nodes in namespaces render keepalived.conf
 * from the replicated state; real keepalived processes (one per node namespace) elect. An
 * instance created through one node's API comes up on exactly one node; the master's crash
 * (keepalived SIGKILLed, link down) moves the VIP; shoald reports the holder from netlink.
 * Needs root, keepalived and curl; skips saying why otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { DEFAULT_TEMPLATE_PATH, spawnKeepalived, type KeepalivedProcess } from '@shoal/keepalived';
import { createNetnsLab, labSkipReason, type NetnsLab, type NetnsProcess } from '@shoal/testkit';
import { CERTS_SCRIPT, SHOALD_BIN, makePki, tempDir } from './harness.js';
import { GOSSIP_KEY, labApi, until } from './cluster-harness.js';

const execFileAsync = promisify(execFile);
const skip = labSkipReason(['keepalived', 'curl', 'nft']);
const VIP = '10.220.0.50';
const NODES = [1, 2, 3].map((i) => ({ name: `k${i}`, ip: `10.220.0.1${i}` }));
const BACKENDS = [1, 2, 3].map((i) => ({ name: `kb${i}`, ip: `10.220.0.2${i}` }));
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[1] + '\\n')).listen(8080, '0.0.0.0', () => console.log('ready'));`;
/** One line per request: {t, ok, who}; a request gets 300 ms. */
const LOOP = `
const http = require('http');
const one = () => new Promise((resolve) => {
  const t = Date.now();
  const req = http.get(process.argv[1], { agent: false, timeout: 300 }, (res) => {
    let body = ''; res.on('data', (c) => (body += c));
    res.on('end', () => { console.log(JSON.stringify({ t, ok: true, who: body.trim() })); resolve(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => { console.log(JSON.stringify({ t, ok: false })); resolve(); });
});
(async () => { for (;;) { await one(); await new Promise((r) => setTimeout(r, 20)); } })();
`;

test('keepalived mode: shoald renders, keepalived elects, a crashed master hands the VIP over under traffic', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const lab: NetnsLab = createNetnsLab(`shm-${process.pid}-`);
  const root = await tempDir('kamode');
  const shoald = new Map<string, NetnsProcess>();
  const keepalived = new Map<string, KeepalivedProcess>();
  try {
    const pki = await makePki(root.path);
    const sw = await lab.addNamespace('sw');
    await lab.bridge(sw, 'br0');
    await lab.exec(sw, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0'], { allowFailure: true });
    const attach = async (short: string, ip: string): Promise<string> => {
      const ns = await lab.addNamespace(short);
      await lab.veth(ns, 'eth0', sw, `${short}p`);
      await lab.attach(sw, `${short}p`, 'br0');
      await lab.address(ns, 'eth0', `${ip}/24`);
      return ns;
    };
    for (const b of BACKENDS) {
      const p = lab.spawn(await attach(b.name, b.ip), 'node', ['-e', SERVER, b.name]);
      await until(`${b.name} listening`, 10_000, () => Promise.resolve(p.stdout().includes('ready')));
    }
    const client = await attach('cl', '10.220.0.100');
    // An operator's template: Shoal's own with a marker line, to show an override is used.
    const template = join(root.path, 'operator.conf.hbs');
    await writeFile(template, '# rendered from the operator template\n' + (await readFile(DEFAULT_TEMPLATE_PATH, 'utf8')));
    for (const n of NODES) {
      const ns = await attach(n.name, n.ip);
      await execFileAsync('bash', [CERTS_SCRIPT, 'node', '--dir', pki.dir, '--name', n.name, '--ip', n.ip]);
      const config = join(root.path, `${n.name}.yaml`);
      await writeFile(
        config,
        stringify({
          node: { name: n.name },
          dataDir: join(root.path, `data-${n.name}`),
          api: { host: n.ip, port: 8443, tls: { cert: join(pki.dir, `${n.name}.crt`), key: join(pki.dir, `${n.name}.key`), ca: join(pki.dir, 'ca.crt') } },
          dataplane: { driver: 'nftables', nftablesTable: 'shoal' },
          health: { enabled: false },
          ownership: { mode: 'keepalived' },
          keepalived: { configPath: join(root.path, `${n.name}-keepalived.conf`), pidFile: join(root.path, `${n.name}-keepalived.pid`), advertIntervalS: 0.1, template },
          cluster: { enabled: true, bind: { host: n.ip, port: 7946 }, seeds: [`${NODES[0]?.ip ?? ''}:7946`], keys: [GOSSIP_KEY], profile: 'local', antiEntropyIntervalMs: 1000 },
        }),
      );
      const p = lab.spawn(ns, 'node', [SHOALD_BIN, '--config', config]);
      shoald.set(n.name, p);
      await until(`${n.name} ready`, 15_000, () => Promise.resolve(p.stdout().includes('"shoald ready"')));
    }
    const nsOf = (name: string): string => lab.name(name);
    const ipOf = (name: string): string => NODES.find((n) => n.name === name)?.ip ?? assert.fail(name);
    const api = labApi({ lab, pki, nsOf, ipOf, maxTimeS: 5, allowFailure: true });
    const holders = async (among = NODES.map((n) => n.name)): Promise<string[]> => {
      const out: string[] = [];
      for (const name of among) if ((await lab.exec(nsOf(name), 'ip', ['-4', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`${VIP}/32`)) out.push(name);
      return out;
    };
    const names = NODES.map((n) => n.name);
    await until('three members alive', 30_000, async () => {
      const r = await api('k1', 'GET', '/v1/members');
      return r.status === 200 && (r.json.items as { state: string }[]).filter((m) => m.state === 'alive').length === 3;
    });
    // keepalived as its own service, one per node, reading the file shoald writes.
    for (const n of NODES) {
      const k = spawnKeepalived({ configPath: join(root.path, `${n.name}-keepalived.conf`), pidFile: join(root.path, `${n.name}-keepalived.pid`), vrrpPidFile: join(root.path, `${n.name}-vrrp.pid`), netns: nsOf(n.name) });
      keepalived.set(n.name, k);
    }
    await until('keepalived running everywhere', 10_000, () => Promise.resolve([...keepalived.values()].every((k) => k.running())));

    const created = await api('k2', 'POST', '/v1/instances', { name: 'web', vip: VIP, ports: [{ port: 80 }], backends: BACKENDS.map((b) => ({ ip: b.ip, port: 8080 })) });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    // The node that got the POST renders first, and its keepalived may be master for a moment
    // before the others load the instance and the highest priority preempts: wait for a holder
    // that stays 2 s.
    let candidate: string | undefined;
    let since = 0;
    const [master] = await until('the VIP on exactly one node, for 2 s', 30_000, async () => {
      const h = await holders();
      if (h.length !== 1 || h[0] !== candidate) {
        candidate = h.length === 1 ? h[0] : undefined;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= 2_000 ? h : false;
    });
    assert.ok(master !== undefined);
    // Every node rendered the same VRID for it, and the id is in the replicated state.
    const conf = await Promise.all(NODES.map(async (n) => (await execFileAsync('cat', [join(root.path, `${n.name}-keepalived.conf`)])).stdout));
    const vrids = conf.map((c) => /virtual_router_id (\d+)/.exec(c)?.[1]);
    assert.equal(new Set(vrids).size, 1, `vrids ${vrids.join(',')}`);
    for (const c of conf) assert.match(c, /^# rendered from the operator template/, 'the operator template is used');
    const loop = lab.spawn(client, 'node', ['-e', LOOP, `http://${VIP}/`]);
    const answered = (): { t: number; ok: boolean; who?: string }[] =>
      loop
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { t: number; ok: boolean; who?: string });
    await until('traffic through the VIP from all three backends', 15_000, () => Promise.resolve(new Set(answered().filter((x) => x.ok).map((x) => x.who)).size === 3));
    // shoald learns from netlink (events, backed by a listing every 2 s) that keepalived made it
    // the holder, and reports it; the others report nothing.
    const heldOn = async (name: string): Promise<string[] | null> => {
      const r = await api(name, 'GET', '/v1/status');
      return r.status === 200 ? ((r.json.ownership as { held?: string[] }).held ?? []) : null;
    };
    try {
      await until(`${master} reports holding the VIP`, 10_000, async () => (await heldOn(master))?.includes(VIP) === true);
    } catch (err) {
      const addr = await lab.exec(nsOf(master), 'ip', ['-4', 'addr', 'show'], { allowFailure: true });
      const log = (shoald.get(master)?.stdout() ?? '').split('\n').filter((l) => /presence|keepalived|VIP/.test(l)).slice(-30).join('\n');
      assert.fail(`${(err as Error).message}\nip addr on ${master}:\n${addr.stdout}\nstatus: ${JSON.stringify(await heldOn(master))}\nshoald log:\n${log}`);
    }
    for (const n of names.filter((x) => x !== master)) assert.deepEqual(await heldOn(n), [], `${n} reports no VIP`);

    // Crash the master: keepalived killed, its link down. Another node takes the VIP.
    const crashedAt = Date.now();
    await keepalived.get(master)?.stop('SIGKILL');
    await lab.ip(sw, ['link', 'set', `${master}p`, 'down']);
    const rest = names.filter((n) => n !== master);
    const [next] = await until('the VIP moves to one surviving node', 10_000, async () => {
      const h = await holders(rest);
      return h.length === 1 ? h : false;
    });
    assert.ok(next !== undefined);
    await until("the client's loop is answered through the new holder", 10_000, () => Promise.resolve(answered().some((x) => x.ok && x.t > crashedAt + 100)));
    const firstAfter = answered().find((x) => x.ok && x.t > crashedAt);
    console.log(`keepalived mode: ${master} crashed, ${next} took the VIP; first answer ${(firstAfter?.t ?? 0) - crashedAt} ms after the crash`);
    await loop.stop();
  } finally {
    for (const k of keepalived.values()) if (k.running()) await k.stop('SIGTERM');
    for (const p of shoald.values()) await p.stop();
    const problems = await lab.cleanup();
    await root.remove();
    assert.deepEqual(problems, []);
  }
});
