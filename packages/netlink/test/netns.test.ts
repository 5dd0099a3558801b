// The rtnetlink API against the real kernel, in a private network namespace: needs root and
// iproute2; skips saying why otherwise. The API runs in a fixture process started with
// `ip netns exec` (a netlink socket talks to the namespace of the process that opened it);
// `ip -j addr` cross-checks what it did.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const NS = `shl-nl-${process.pid}`;
const IF = 'shl0';
const fixture = fileURLToPath(new URL('./fixtures/netns-fixture.js', import.meta.url));

function prerequisite(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'needs iproute2 (ip)';
  return null;
}

const skip = prerequisite();
let linkKind = 'dummy';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function runFixture(step: 'add' | 'delete'): Record<string, any> {
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, fixture, step, IF], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `fixture ${step} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

function kernelAddresses(): string[] {
  const j = JSON.parse(ip('-n', NS, '-j', 'addr', 'show', 'dev', IF)) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[];
  return (j[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`).sort();
}

before(() => {
  if (skip) return;
  ip('netns', 'add', NS);
  // Hosts without the dummy module (some CI kernels) get an empty bridge: a link that holds
  // addresses and has no ports is all this test needs.
  if (spawnSync('ip', ['-n', NS, 'link', 'add', IF, 'type', 'dummy']).status !== 0) {
    linkKind = 'bridge';
    ip('-n', NS, 'link', 'add', IF, 'type', 'bridge');
  }
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  ip('-n', NS, 'link', 'set', IF, 'up');
});

after(() => {
  if (skip) return;
  spawnSync('ip', ['netns', 'del', NS]);
});

test('a /32 and a /128 VIP are added, listed, refused twice and deleted through rtnetlink', { skip: skip ?? false }, () => {
  const added = runFixture('add');
  assert.ok(added.links.includes(IF), `links ${added.links} (${linkKind})`);
  assert.deepEqual(
    added.addresses.map((a: { cidr: string }) => a.cidr).filter((c: string) => !c.startsWith('fe80')).sort(),
    ['198.51.100.7/32', 'fd00:5ea1::7/128'],
  );
  assert.ok(added.addresses.every((a: { ifname: string }) => a.ifname === IF));
  assert.deepEqual(added.duplicate, { errnoName: 'EEXIST', code: 'E_CONFLICT' });
  assert.deepEqual(added.noSuchLink, { errnoName: 'ENODEV', code: 'E_NOT_FOUND' });
  assert.equal(added.genlCtrl, 16);
  assert.deepEqual(kernelAddresses(), ['198.51.100.7/32', 'fd00:5ea1::7/128']);

  const deleted = runFixture('delete');
  assert.deepEqual(deleted.addresses.filter((a: { cidr: string }) => !a.cidr.startsWith('fe80')), []);
  assert.deepEqual(deleted.missing, { errnoName: 'EADDRNOTAVAIL', code: 'E_NOT_FOUND' });
  assert.deepEqual(kernelAddresses(), []);
});
