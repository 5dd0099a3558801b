// The IPVS driver against a real IPVS kernel: Debian's kernel under qemu (this host's kernel
// has no ip_vs), booted ONCE for the suite. Inside, packages/ipvs's vm-fixture programs a
// desired state, reads it back, changes it, sends real traffic through an IPVS NAT service
// and flushes; these tests assert on what it reports. Skips saying why without root, qemu
// or the kernel package (no /dev/kvm is expected: software emulation, ~15 s in all).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ipvsVmSkipReason, prepareIpvsVm, runInIpvsVm, type IvmResult } from '@shoal/testkit';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const fixture = 'packages/ipvs/dist/test/fixtures/vm-fixture.js';
const MARKER = 'SHOAL-IVM-RESULT ';

let skip: string | false = ipvsVmSkipReason() ?? (existsSync(`${repoRoot}/${fixture}`) ? false : `${fixture} is not built (tsc -b packages/ipvs)`);
let vm: IvmResult | undefined;
let out: any;

before(async () => {
  if (skip) return;
  try {
    prepareIpvsVm((m) => process.stderr.write(`ipvs-vm: ${m}\n`));
  } catch (err) {
    skip = `cannot get Debian's kernel: ${err instanceof Error ? err.message : String(err)}`;
    return;
  }
  vm = await runInIpvsVm(['node', fixture], { cwd: repoRoot, timeoutMs: 170_000 });
  const line = vm.stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (line) out = JSON.parse(line.slice(MARKER.length));
}, { timeout: 200_000 });

const opts = (): { skip: string | false } => ({ skip });

function guestOutput(): any {
  assert.ok(vm, 'the guest did not run');
  assert.equal(vm.exitCode, 0, `guest exit ${vm.exitCode}\nstderr: ${vm.stderr}\nconsole tail: ${vm.console.slice(-1500)}`);
  assert.ok(out, `no result line in guest stdout: ${vm.stdout.slice(0, 2000)}`);
  return out;
}

test('the guest boots, resolves the IPVS family and sets the director sysctls', opts(), () => {
  const o = guestOutput();
  assert.ok(o.family.id >= 16, `family id ${o.family.id}`); // dynamic: always resolved
  assert.equal(o.family.version, 1);
  assert.deepEqual(o.sysctls.map((s: { name: string; value: string }) => `${s.name}=${s.value}`), ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.vs.conntrack=1']);
  assert.deepEqual(o.vipAddresses, ['10.99.9.9/32']);
  assert.ok(vm!.durationMs < 180_000, `VM run took ${Math.round(vm!.durationMs)} ms`);
});

test('a desired state of rr/wrr/sh/wlc, TCP/UDP, IPv4/IPv6, nat/dr/tunnel services is programmed and dumps back exactly', opts(), () => {
  const o = guestOutput();
  assert.deepEqual(o.dump1, o.desired1);
  assert.equal(o.replan1, 0);
  const save: string[] = o.ipvsadmSave1.split('\n');
  for (const line of [
    '-A -t 10.0.0.1:80 -s wrr',
    '-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 1',
    '-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 3',
    '-A -t 10.99.9.9:80 -s rr',
    '-A -u 10.0.0.1:53 -s sh -p 300 -M 255.255.255.0',
    '-a -u 10.0.0.1:53 -r 10.1.0.3:53 -g -w 1',
    '-a -u 10.0.0.1:53 -r 10.1.0.4:53 -g -w 2',
    '-A -t [fd00::1]:443 -s rr -p 60 -M 64',
    '-a -t [fd00::1]:443 -r [fd00:1::6]:8443 -m -w 1',
    '-A -u [fd00::2]:5353 -s wlc',
    '-a -u [fd00::2]:5353 -r [fd00:1::7]:5353 -g -w 4',
  ]) {
    assert.ok(save.includes(line), `ipvsadm -S lacks "${line}":\n${o.ipvsadmSave1}`);
  }
  assert.ok(save.some((l) => l.startsWith('-a -t [fd00::1]:443 -r [fd00:1::5]:443 -i -w 2')), o.ipvsadmSave1);
  assert.match(o.ipvsadmList, /UDP {2}10\.0\.0\.1:53 sh persistent 300 mask 255\.255\.255\.0/);
  assert.match(o.ipvsadmList, /-> \[fd00:1::5\]:443\s+Tunnel\s+2/);
});

test('kernel refusals arrive as typed errors: a missing scheduler, a VIP:port held by a foreign service', opts(), () => {
  const o = guestOutput();
  assert.equal(o.failures.twos.name, 'IpvsError');
  assert.equal(o.failures.twos.errnoName, 'ENOENT');
  assert.match(o.failures.twos.message, /scheduler is not available/);
  assert.equal(o.failures.foreignClash.errnoName, 'EEXIST');
  assert.equal(o.failures.foreignClash.code, 'E_CONFLICT');
});

test('real traffic through the IPVS NAT service reaches both backends in turn', opts(), () => {
  const o = guestOutput();
  assert.equal(o.traffic.length, 8, `curl answers: ${o.traffic}`);
  assert.ok(o.traffic.every((b: string) => b === 'b1' || b === 'b2'), `curl answers: ${o.traffic}`);
  assert.ok(o.traffic.filter((b: string) => b === 'b1').length >= 2 && o.traffic.filter((b: string) => b === 'b2').length >= 2, `curl answers: ${o.traffic}`);
});

test('an incremental change applies only the difference and leaves the kernel at the new desired state', opts(), () => {
  const o = guestOutput();
  assert.deepEqual(o.plan2, [
    'delete-service udp|10.0.0.1|53',
    'update-service tcp|10.0.0.1|80',
    'delete-server tcp|10.0.0.1|80 10.1.0.1|8080',
    'update-server tcp|10.0.0.1|80 10.1.0.2|8080',
    'add-server tcp|10.0.0.1|80 10.1.0.5|8080',
    'add-service tcp|10.0.0.3|25',
    'add-server tcp|10.0.0.3|25 10.1.0.6|25',
  ]);
  assert.deepEqual(o.dump2, o.desired2);
  assert.equal(o.replan2, 0);
  const save: string[] = o.ipvsadmSave2.split('\n');
  for (const line of ['-A -t 10.0.0.1:80 -s rr', '-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 5', '-a -t 10.0.0.1:80 -r 10.1.0.5:8080 -m -w 1', '-A -t 10.0.0.3:25 -s lc']) {
    assert.ok(save.includes(line), `ipvsadm -S lacks "${line}":\n${o.ipvsadmSave2}`);
  }
  assert.ok(!o.ipvsadmSave2.includes('-u 10.0.0.1:53') && !o.ipvsadmSave2.includes('10.1.0.1:8080'), o.ipvsadmSave2);
  assert.deepEqual(o.owned, ['tcp|10.0.0.1|80', 'tcp|10.0.0.3|25', 'tcp|10.99.9.9|80', 'tcp|fd00::1|443', 'udp|fd00::2|5353']);
});

test('the foreign service is never reported, changed or flushed', opts(), () => {
  const o = guestOutput();
  assert.ok(o.ipvsadmSave1.includes('-A -t 192.0.2.50:80 -s rr'));
  assert.ok(!o.dump1.some((s: { vip: string }) => s.vip === '192.0.2.50'));
  assert.equal(o.afterFlush, '-A -t 192.0.2.50:80 -s rr\n');
  assert.deepEqual(o.dumpAfterFlush, []);
});
