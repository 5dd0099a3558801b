import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ShoaldConfigSchema, loadConfigFile, parseConfig } from '../src/index.js';

const example = fileURLToPath(new URL('../../../../deploy/shoald.example.yaml', import.meta.url));
const tls = { cert: 'n.crt', key: 'n.key', ca: 'ca.crt' };

test('the annotated example config is valid and spells out every default', () => {
  const cfg = loadConfigFile(example);
  const defaults = parseConfig({ api: { tls: cfg.api.tls }, node: { name: 'node1' }, pools: cfg.pools }, '/');
  // Every value the example shows is the default, so the example documents them truthfully.
  assert.deepEqual({ ...cfg, dataDir: cfg.dataDir }, { ...defaults, dataDir: cfg.dataDir });
  assert.equal(cfg.dataDir, '/var/lib/shoal');
  // Every top-level key of the schema appears in the example.
  for (const key of Object.keys(ShoaldConfigSchema.shape)) assert.ok(key in cfg, `example lacks ${key}`);
});

test('relative TLS paths resolve against the config file', () => {
  const cfg = parseConfig({ api: { tls } }, '/etc/shoal');
  assert.equal(cfg.api.tls.cert, '/etc/shoal/n.crt');
  assert.equal(cfg.api.port, 8443);
  assert.equal(cfg.slbCompat.enabled, false);
  assert.equal(cfg.slbCompat.host, '127.0.0.1');
});

test('a bad config names every bad field', () => {
  try {
    parseConfig({ api: { port: 70000, tls: { cert: 'x' } }, logging: { level: 'loud' }, colour: 1 }, '/');
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const paths = (err.issues ?? []).map((i) => i.path).sort();
    assert.deepEqual(paths, ['api.port', 'api.tls.ca', 'api.tls.key', 'colour', 'logging.level']);
    assert.match(err.message, /api\.port/);
  }
  assert.throws(() => parseConfig({ api: { tls }, pools: [{ name: 'p', ranges: ['10.0.0.0/8'] }, { name: 'p', ranges: ['11.0.0.0/8'] }] }, '/'), /pools\.1\.name: duplicate/);
});

test('unreadable and non-YAML files are clear errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cfg-'));
  try {
    assert.throws(() => loadConfigFile(join(dir, 'absent.yaml')), /cannot read config file/);
    await writeFile(join(dir, 'bad.yaml'), 'api: [unclosed');
    assert.throws(() => loadConfigFile(join(dir, 'bad.yaml')), /not valid YAML/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the systemd unit runs shoald with the recommended V8 flags and checks its config first', async () => {
  const { readFile } = await import('node:fs/promises');
  const { RECOMMENDED_NODE_FLAGS } = await import('../src/index.js');
  const unit = await readFile(fileURLToPath(new URL('../../../../deploy/shoald.service', import.meta.url)), 'utf8');
  const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  assert.ok(exec);
  for (const f of RECOMMENDED_NODE_FLAGS) assert.ok(exec.includes(f), `ExecStart lacks ${f}`);
  assert.match(unit, /ExecStartPre=.*--check-config/);
  assert.match(unit, /RestartPreventExitStatus=78/);
});

test('a cluster config names its bad fields: no key, a seed that is not host:port, a bad write concern', () => {
  try {
    parseConfig({ api: { tls }, cluster: { enabled: true, seeds: ['10.0.0.1', '10.0.0.2:7946'], writeConcern: 'most' } }, '/');
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const paths = (err.issues ?? []).map((i) => i.path).sort();
    assert.deepEqual(paths, ['cluster.seeds.0', 'cluster.writeConcern']);
  }
  assert.throws(() => parseConfig({ api: { tls }, cluster: { enabled: true } }, '/'), (e: unknown) => e instanceof ConfigError && (e.issues ?? []).some((i) => i.path === 'cluster.keyFile'));
  const ok = parseConfig({ api: { tls }, cluster: { enabled: true, keyFile: 'gossip.keys', seeds: ['[fd00::1]:7946', 'lb2.example:7946'], writeConcern: 2 } }, '/etc/shoal');
  assert.equal(ok.cluster.keyFile, '/etc/shoal/gossip.keys');
  assert.equal(ok.cluster.writeConcern, 2);
  assert.equal(ok.cluster.profile, 'lan');
});

test('bgp: a bad peer, community or mode names its field', () => {
  const paths = (raw: unknown): string[] => {
    try {
      parseConfig(raw, '/');
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return (err.issues ?? []).map((i) => i.path).sort();
    }
  };
  assert.deepEqual(paths({ api: { tls }, bgp: { enabled: true } }), ['bgp.asn']);
  assert.deepEqual(
    paths({
      api: { tls },
      bgp: {
        enabled: true,
        asn: 4_294_967_296,
        peers: [{ address: '10.0.0.1', asn: 65000 }, { address: 'router', asn: 0, holdTimeS: 2, families: ['ipv4-multicast'] }],
        advertisements: [{ communities: ['64512:100', '70000:1'], largeCommunities: ['1:2'], prefixes: ['10.96.0.0/24', 'nope'] }],
      },
    }),
    ['bgp.advertisements.0.communities.1', 'bgp.advertisements.0.largeCommunities.0', 'bgp.asn', 'bgp.peers.1.address', 'bgp.peers.1.asn', 'bgp.peers.1.families.0', 'bgp.peers.1.holdTimeS'],
  );
  assert.deepEqual(paths({ api: { tls }, ownership: { mode: 'none' }, bgp: { enabled: true, asn: 64512, mode: 'owner' } }), ['bgp.mode']);
  const ok = parseConfig({ api: { tls }, bgp: { enabled: true, asn: 4200000001, peers: [{ address: 'fd00:240::2', asn: 65000 }] } }, '/');
  assert.equal(ok.bgp.peers[0]?.holdTimeS, 90);
  assert.equal(ok.bgp.peers[0]?.families, undefined, "the speaker's default: the session's own family");
  assert.equal(ok.bgp.gracefulRestart.restartTimeS, 30);
});
