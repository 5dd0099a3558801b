// keepalived.conf rendering: golden files (UPDATE_GOLDEN=1 rewrites them), then the real
// `keepalived -t` on each golden file, validation errors that name the field, and templates.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ValidationError } from '@shoal/model';
import { DEFAULT_TEMPLATE_PATH, GARP_DEFAULTS, renderKeepalivedConfig, sanitizeInstanceName, type KeepalivedConfigInput } from '../src/index.js';

const GOLDEN_DIR = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

const node1 = { name: 'n1', routerId: 'shoal-n1' };
const v4 = (over: Partial<KeepalivedConfigInput['instances'][number]> = {}): KeepalivedConfigInput['instances'][number] => ({
  name: 'web',
  vip: '10.216.0.100',
  family: 4,
  interface: 'eth0',
  vrid: 1,
  priority: 150,
  unicastSrcIp: '10.216.0.11',
  unicastPeers: ['10.216.0.12', '10.216.0.13'],
  ...over,
});

const GOLDEN: Record<string, KeepalivedConfigInput> = {
  ipv4: { node: node1, advertIntervalS: 1, garp: { ...GARP_DEFAULTS }, instances: [v4()] },
  ipv6: {
    node: node1,
    advertIntervalS: 1,
    garp: { ...GARP_DEFAULTS },
    // Non-canonical spellings on purpose: the file carries RFC 5952 text.
    instances: [v4({ name: 'web6', vip: 'FD00:216:0:0::100', family: 6, unicastSrcIp: 'fd00:216::11', unicastPeers: ['fd00:216:0::12', 'fd00:216::13'] })],
  },
  'sub-second': {
    node: node1,
    advertIntervalS: 0.1,
    garp: { ...GARP_DEFAULTS },
    notifyFifo: '/run/shoal/keepalived.fifo',
    instances: [v4({ trackFile: '/run/shoal/keepalived-priority' })],
  },
  auth: {
    node: { name: 'n2', routerId: 'shoal-n2' },
    advertIntervalS: 2,
    authentication: { type: 'PASS', password: 's3cr3t' },
    garp: { masterDelayS: 5, masterRepeat: 5, masterRefreshS: 0 },
    instances: [v4({ priority: 100, unicastSrcIp: '10.216.0.12', unicastPeers: ['10.216.0.11', '10.216.0.13'] })],
  },
  several: {
    node: { name: 'n3', routerId: 'shoal-n3' },
    advertIntervalS: 0.25,
    garp: { masterDelayS: 0, masterRepeat: 2, masterRefreshS: 0 },
    notifyFifo: '/run/shoal/keepalived.fifo',
    // Listed out of order: the file is sorted by instance name.
    instances: [
      v4({ name: 'tenant-b/api', vip: '10.216.0.102', vrid: 3, priority: 50, unicastSrcIp: '10.216.0.13', unicastPeers: ['10.216.0.11', '10.216.0.12'], trackFile: '/run/shoal/keepalived-priority' }),
      v4({ name: 'tenant-a/web', vip: '10.216.0.101', vrid: 2, priority: 50, unicastSrcIp: '10.216.0.13', unicastPeers: ['10.216.0.11', '10.216.0.12'], trackFile: '/run/shoal/keepalived-priority' }),
      v4({ name: 'tenant-a/web6', vip: 'fd00:216::101', family: 6, vrid: 2, priority: 50, unicastSrcIp: 'fd00:216::13', unicastPeers: ['fd00:216::11', 'fd00:216::12'], trackFile: '/run/shoal/v6-priority' }),
      v4({ name: 'backup-net', vip: '10.217.0.10', interface: 'eth1', vrid: 2, priority: 200, unicastSrcIp: '10.217.0.13', unicastPeers: ['10.217.0.11'] }),
    ],
  },
};

for (const [name, input] of Object.entries(GOLDEN)) {
  test(`golden: ${name}.conf is what the renderer produces`, () => {
    const text = renderKeepalivedConfig(input);
    const file = `${GOLDEN_DIR}${name}.conf`;
    if (UPDATE) writeFileSync(file, text);
    assert.equal(text, readFileSync(file, 'utf8'), `${file} differs (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
  });
}

test('golden: every file in test/golden has a case (no stale golden files)', () => {
  const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.conf')).sort();
  assert.deepEqual(files, Object.keys(GOLDEN).map((n) => `${n}.conf`).sort());
});

test('render: instance order in the input does not change the text', () => {
  const input = GOLDEN['several'];
  assert.ok(input);
  assert.equal(renderKeepalivedConfig({ ...input, instances: [...input.instances].reverse() }), renderKeepalivedConfig(input));
});

test('render: VRRPv3 for sub-second and whole-second adverts alike; VRRPv2 only with authentication', () => {
  const version = (input: KeepalivedConfigInput): string | undefined => /vrrp_version (\d)/.exec(renderKeepalivedConfig(input))?.[1];
  assert.equal(version({ node: node1, advertIntervalS: 0.1, garp: GARP_DEFAULTS, instances: [v4()] }), '3');
  assert.equal(version({ node: node1, advertIntervalS: 3, garp: GARP_DEFAULTS, instances: [v4()] }), '3');
  assert.equal(version({ node: node1, advertIntervalS: 3, authentication: { type: 'PASS', password: 'x' }, garp: GARP_DEFAULTS, instances: [v4()] }), '2');
});

test('render: advert_int is printed in centiseconds without float noise', () => {
  const advert = (s: number): string | undefined => /advert_int (\S+)/.exec(renderKeepalivedConfig({ node: node1, advertIntervalS: s, garp: GARP_DEFAULTS, instances: [v4()] }))?.[1];
  assert.deepEqual([0.01, 0.1, 0.3, 0.7, 1, 1.5, 2.05, 40.95].map(advert), ['0.01', '0.1', '0.3', '0.7', '1', '1.5', '2.05', '40.95']);
});

test('render: no instances still gives a valid global_defs only file', () => {
  const text = renderKeepalivedConfig({ node: node1, advertIntervalS: 1, garp: GARP_DEFAULTS, instances: [] });
  assert.match(text, /global_defs \{/);
  assert.doesNotMatch(text, /vrrp_instance/);
});

test('render: instance names become one keepalived word', () => {
  assert.equal(sanitizeInstanceName('tenant-a/web prod'), 'tenant-a_web_prod');
  assert.equal(sanitizeInstanceName(''), '_');
  assert.equal(sanitizeInstanceName('x'.repeat(100)).length, 64);
});

function issuePaths(input: unknown): string[] {
  try {
    renderKeepalivedConfig(input as KeepalivedConfigInput);
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    assert.equal(err.code, 'E_VALIDATION');
    return (err.issues ?? []).map((i) => i.path);
  }
  return [];
}

const base: KeepalivedConfigInput = { node: node1, advertIntervalS: 0.1, garp: GARP_DEFAULTS, instances: [v4()] };
const invalid: { name: string; input: unknown; paths: string[] }[] = [
  { name: 'priority 255 is the address owner', input: { ...base, instances: [v4({ priority: 255 })] }, paths: ['instances.0.priority'] },
  { name: 'vrid 0', input: { ...base, instances: [v4({ vrid: 0 })] }, paths: ['instances.0.vrid'] },
  { name: 'authentication with sub-second adverts', input: { ...base, authentication: { type: 'PASS', password: 'pw' } }, paths: ['advertIntervalS'] },
  { name: 'authentication with an IPv6 instance', input: { ...base, advertIntervalS: 1, authentication: { type: 'PASS', password: 'pw' }, instances: [v4({ vip: 'fd00::1', family: 6, unicastSrcIp: 'fd00::11', unicastPeers: ['fd00::12'] })] }, paths: ['instances.0.family'] },
  { name: 'a password longer than 8', input: { ...base, advertIntervalS: 1, authentication: { type: 'PASS', password: '123456789' } }, paths: ['authentication.password'] },
  { name: 'a password with a comment character', input: { ...base, advertIntervalS: 1, authentication: { type: 'PASS', password: 'a#b' } }, paths: ['authentication.password'] },
  { name: 'an advert that is not whole centiseconds', input: { ...base, advertIntervalS: 0.123 }, paths: ['advertIntervalS'] },
  { name: 'an advert beyond VRRPv3\'s 40.95 s', input: { ...base, advertIntervalS: 41 }, paths: ['advertIntervalS'] },
  { name: 'a VIP of the other family', input: { ...base, instances: [v4({ vip: 'fd00::1' })] }, paths: ['instances.0.vip'] },
  { name: 'a VIP that is a CIDR', input: { ...base, instances: [v4({ vip: '10.0.0.1/32' })] }, paths: ['instances.0.vip'] },
  { name: 'a source of the other family', input: { ...base, instances: [v4({ unicastSrcIp: 'fd00::11' })] }, paths: ['instances.0.unicastSrcIp'] },
  { name: 'no peers', input: { ...base, instances: [v4({ unicastPeers: [] })] }, paths: ['instances.0.unicastPeers'] },
  { name: 'this node among its peers, and a peer twice', input: { ...base, instances: [v4({ unicastPeers: ['10.216.0.11', '10.216.0.12', '10.216.0.12'] })] }, paths: ['instances.0.unicastPeers.0', 'instances.0.unicastPeers.2'] },
  { name: 'a peer that is not an address', input: { ...base, instances: [v4({ unicastPeers: ['node-2'] })] }, paths: ['instances.0.unicastPeers.0'] },
  { name: 'two instances with one vrid on one interface and family', input: { ...base, instances: [v4(), v4({ name: 'api', vip: '10.216.0.101' })] }, paths: ['instances.1.vrid'] },
  { name: 'two instances that sanitize to one name', input: { ...base, instances: [v4({ name: 'a/b' }), v4({ name: 'a b', vip: '10.216.0.101', vrid: 2 })] }, paths: ['instances.1.name'] },
  { name: 'one VIP twice (two spellings)', input: { ...base, instances: [v4({ vip: 'fd00::1', family: 6, unicastSrcIp: 'fd00::11', unicastPeers: ['fd00::12'] }), v4({ name: 'b', vip: 'fd00:0::1', family: 6, vrid: 2, unicastSrcIp: 'fd00::11', unicastPeers: ['fd00::12'] })] }, paths: ['instances.1.vip'] },
  { name: 'an interface name longer than IFNAMSIZ', input: { ...base, instances: [v4({ interface: 'a-very-long-ifname' })] }, paths: ['instances.0.interface'] },
  { name: 'a relative track file', input: { ...base, instances: [v4({ trackFile: 'prio' })] }, paths: ['instances.0.trackFile'] },
  { name: 'a FIFO path with a space', input: { ...base, notifyFifo: '/run/my fifo' }, paths: ['notifyFifo'] },
  { name: 'a router id of two words', input: { ...base, node: { name: 'n1', routerId: 'shoal n1' } }, paths: ['node.routerId'] },
  { name: 'an unknown field', input: { ...base, garp: { ...GARP_DEFAULTS, interval: 1 } }, paths: ['garp.interval'] },
  { name: 'a missing field', input: { node: node1, garp: GARP_DEFAULTS, instances: [] }, paths: ['advertIntervalS'] },
];
for (const c of invalid) {
  test(`render refuses ${c.name}, naming ${c.paths.join(', ')}`, () => {
    assert.deepEqual(issuePaths(c.input), c.paths);
  });
}

test('render: an operator template gets the same view; a field the view lacks fails the render', () => {
  const mine = '{{#each instances}}{{name}} {{vip}}/{{prefixLength}} vrid {{vrid}} advert {{advertInt}}\n{{/each}}';
  assert.equal(renderKeepalivedConfig(base, mine), 'web 10.216.0.100/32 vrid 1 advert 0.1\n');
  assert.throws(() => renderKeepalivedConfig(base, '{{#each instances}}{{virtualRouterId}}{{/each}}'), /virtualRouterId/);
});

test('render: the default template is deploy/keepalived/keepalived.conf.hbs', () => {
  assert.ok(existsSync(DEFAULT_TEMPLATE_PATH), DEFAULT_TEMPLATE_PATH);
  assert.equal(renderKeepalivedConfig(base, readFileSync(DEFAULT_TEMPLATE_PATH, 'utf8')), renderKeepalivedConfig(base));
});

// ---- the real keepalived checks every golden file ----

const have = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const hasKeepalived = spawnSync('keepalived', ['--version'], { stdio: 'ignore' }).error === undefined;
const isRoot = process.getuid?.() === 0;
// The golden files name eth0 and eth1 and `keepalived -t` insists they exist: as root, check in
// a scratch namespace holding exactly those; otherwise only where this host has both.
const hostHasInterfaces = existsSync('/sys/class/net/eth0') && existsSync('/sys/class/net/eth1');
const checkSkip = !hasKeepalived
  ? 'keepalived is not installed (apt-get install keepalived)'
  : !isRoot && !hostHasInterfaces
    ? 'the golden files use eth0 and eth1, which keepalived -t requires to exist: needs root (a scratch namespace) or both interfaces here'
    : isRoot && !have('ip', ['-V'])
      ? 'needs iproute2 (ip) to build the scratch namespace'
      : false;

test('keepalived -t accepts every golden file', { skip: checkSkip, timeout: 60_000 }, () => {
  const ns = isRoot ? `shk-golden-${process.pid}` : null;
  const sh = (args: string[]): void => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  try {
    if (ns !== null) {
      sh(['netns', 'add', ns]);
      sh(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    }
    const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.conf'));
    assert.ok(files.length >= 5);
    for (const f of files) {
      const argv = ['-t', '-f', `${GOLDEN_DIR}${f}`];
      const r = ns === null ? spawnSync('keepalived', argv, { encoding: 'utf8' }) : spawnSync('ip', ['netns', 'exec', ns, 'keepalived', ...argv], { encoding: 'utf8' });
      assert.equal(r.status, 0, `keepalived -t ${f}: ${r.stderr}${r.stdout}`);
      assert.equal(r.stderr.trim(), '', `keepalived -t ${f} warned: ${r.stderr}`);
    }
  } finally {
    if (ns !== null) spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('keepalived -t refuses what the schema refuses: authentication under VRRPv3', { skip: hasKeepalived ? false : 'keepalived is not installed', timeout: 30_000 }, () => {
  // Why the schema ties authentication to VRRPv2: keepalived ignores it under v3 and -t fails.
  const text = renderKeepalivedConfig(base).replace(/(virtual_ipaddress \{)/, 'authentication {\n        auth_type PASS\n        auth_pass pw\n    }\n    $1');
  const dir = mkdtempSync(join(tmpdir(), 'shk-auth-'));
  try {
    writeFileSync(join(dir, 'keepalived.conf'), text);
    const r = spawnSync('keepalived', ['-t', '-f', join(dir, 'keepalived.conf')], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /VRRP version 3 does not support authentication/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
