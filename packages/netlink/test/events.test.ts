// The address events stream: pure decoding of RTM_NEWADDR/RTM_DELADDR datagrams, and the
// real kernel's multicast in a private network namespace (root and iproute2; skips otherwise).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RTM_DELADDR, RTM_NEWADDR, buildAddAddress, decodeAddressEvents, encodeNlMsg, encodeSockaddrNl } from '../src/index.js';

test('sockaddr_nl for the IPv4 and IPv6 address groups is 12 bytes: family, pad, pid, groups', () => {
  assert.equal(encodeSockaddrNl(0x110).toString('hex'), '100000000000000010010000');
});

test('address datagrams decode into added and removed events; other and malformed messages are skipped', () => {
  const add = buildAddAddress(3, '10.9.8.7/32');
  const payload = add.payload;
  const datagram = Buffer.concat([
    encodeNlMsg({ type: RTM_NEWADDR, flags: 0, seq: 0, pid: 0 }, payload),
    encodeNlMsg({ type: 16 /* RTM_NEWLINK */, flags: 0, seq: 0, pid: 0 }, Buffer.alloc(16)),
    encodeNlMsg({ type: RTM_DELADDR, flags: 0, seq: 0, pid: 0 }, payload),
    encodeNlMsg({ type: RTM_DELADDR, flags: 0, seq: 0, pid: 0 }, Buffer.alloc(3)),
  ]);
  const bad: unknown[] = [];
  const events = decodeAddressEvents(datagram, (e) => bad.push(e));
  assert.deepEqual(events.map((e) => [e.kind, e.address.cidr, e.address.ifindex]), [
    ['added', '10.9.8.7/32', 3],
    ['removed', '10.9.8.7/32', 3],
  ]);
  assert.equal(bad.length, 1, 'the truncated ifaddrmsg was reported, not thrown');
  assert.deepEqual(decodeAddressEvents(Buffer.from([1, 2, 3])), []);
});

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : spawnSync('ip', ['-V']).status !== 0 ? 'needs iproute2 (ip)' : false;

test('a VIP added and removed by hand arrives as events from the kernel', { skip, timeout: 30_000 }, async () => {
  const ns = `shl-nle-${process.pid}`;
  const ip = (...args: string[]): void => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  const fixture = fileURLToPath(new URL('./fixtures/events-fixture.js', import.meta.url));
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, fixture, '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(out.includes('ready'), 'the watcher started');
    ip('-n', ns, 'addr', 'add', '10.77.0.9/32', 'dev', 'lo');
    ip('-n', ns, 'addr', 'del', '10.77.0.9/32', 'dev', 'lo');
    assert.equal(await exited, 0, `watcher output: ${out}`);
    const events = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { kind: string; cidr: string });
    assert.deepEqual(events.map((e) => [e.kind, e.cidr]), [
      ['added', '10.77.0.9/32'],
      ['removed', '10.77.0.9/32'],
    ]);
  } finally {
    child.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
