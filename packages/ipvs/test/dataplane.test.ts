// The IPVS driver's contract with the reconciler, against an in-memory IPVS: what it applies
// dumps back identically, and it never touches a service it did not create.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareServices, planChanges, type VirtualService } from '@shoal/dataplane';
import { ShoalError } from '@shoal/model';
import { createIpvsDataplane, enableIpvsSysctls, IpvsError, IPVS_CMD_FLUSH, IPVS_CMD_DEL_SERVICE } from '../src/index.js';
import { FakeIpvsKernel } from './fake-kernel.js';

const desired: VirtualService[] = ([
  {
    protocol: 'tcp', vip: '10.0.0.1', port: 80, family: 4, scheduler: 'wrr', persistenceTimeoutS: 0,
    servers: [{ ip: '10.1.0.1', port: 8080, weight: 1, forwarding: 'nat' }, { ip: '10.1.0.2', port: 8080, weight: 3, forwarding: 'nat' }],
  },
  { protocol: 'udp', vip: '10.0.0.1', port: 53, family: 4, scheduler: 'sh', persistenceTimeoutS: 300, persistenceNetmask: 24, servers: [{ ip: '10.1.0.3', port: 53, weight: 1, forwarding: 'dr' }] },
  { protocol: 'tcp', vip: 'fd00::1', port: 443, family: 6, scheduler: 'rr', persistenceTimeoutS: 60, persistenceNetmask: 64, servers: [{ ip: 'fd00:1::5', port: 443, weight: 2, forwarding: 'tunnel' }] },
] satisfies VirtualService[]).sort(compareServices);

const foreign = { family: 4 as const, protocol: 'tcp' as const, vip: '192.0.2.50', port: 80, scheduler: 'rr', flags: 0, timeoutS: 0, netmask: 32 };

test('what apply() programs, dump() reads back identically, so the next plan is empty', async () => {
  const kernel = new FakeIpvsKernel();
  const dp = createIpvsDataplane({ connection: kernel });
  await dp.apply(planChanges(desired, []), desired);
  const actual = await dp.dump();
  assert.deepEqual(actual, desired);
  assert.deepEqual(planChanges(desired, actual), []);
  const changed = [{ ...desired[0]!, scheduler: 'rr' as const, servers: [{ ...desired[0]!.servers[0]!, weight: 0 }] }, desired[2]!];
  await dp.apply(planChanges(changed, actual), changed);
  assert.deepEqual(await dp.dump(), changed);
  await dp.close();
});

test('services Shoal did not create are invisible to dump() and survive flush()', async () => {
  const kernel = new FakeIpvsKernel();
  kernel.addForeign(foreign);
  const dp = createIpvsDataplane({ connection: kernel });
  await dp.apply(planChanges(desired, []), desired);
  assert.deepEqual((await dp.dump()).map((s) => s.vip), ['10.0.0.1', 'fd00::1', '10.0.0.1']);
  assert.equal((await dp.dumpAll()).length, 4);
  await dp.flush();
  assert.deepEqual([...kernel.services.keys()], ['tcp|192.0.2.50|80']);
  assert.ok(!kernel.commands.includes(IPVS_CMD_FLUSH));
  assert.deepEqual(await dp.ownedServiceKeys(), []);
});

test('adding a service a foreign one already holds is a conflict and does not make it Shoal\'s', async () => {
  const kernel = new FakeIpvsKernel();
  kernel.addForeign(foreign);
  const dp = createIpvsDataplane({ connection: kernel });
  const clash: VirtualService = { protocol: 'tcp', vip: '192.0.2.50', port: 80, family: 4, scheduler: 'rr', persistenceTimeoutS: 0, servers: [] };
  await assert.rejects(dp.apply([{ op: 'add-service', service: clash }], [clash]), (err: unknown) => err instanceof IpvsError && err.code === 'E_CONFLICT' && err.errnoName === 'EEXIST');
  assert.deepEqual(await dp.ownedServiceKeys(), []);
  await assert.rejects(dp.apply([{ op: 'delete-service', service: clash }], []), (err: unknown) => err instanceof ShoalError && err.code === 'E_CONFLICT');
  await dp.flush();
  assert.equal(kernel.services.size, 1);
});

test('the ownership record survives a restart; services gone from the kernel are forgotten', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ipvs-'));
  try {
    const stateFile = join(dir, 'sub', 'ipvs-owned.json');
    const kernel = new FakeIpvsKernel();
    kernel.addForeign(foreign);
    const first = createIpvsDataplane({ connection: kernel, stateFile });
    await first.apply(planChanges(desired, []), desired);
    await first.close();
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')), { version: 1, services: ['tcp|10.0.0.1|80', 'tcp|fd00::1|443', 'udp|10.0.0.1|53'] });
    kernel.services.delete('udp|10.0.0.1|53'); // ipvsadm -D by hand
    const second = createIpvsDataplane({ connection: kernel, stateFile });
    assert.equal((await second.dump()).length, 2);
    assert.deepEqual(await second.ownedServiceKeys(), ['tcp|10.0.0.1|80', 'tcp|fd00::1|443']);
    await second.flush();
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')).services, []);
    assert.equal(kernel.services.size, 1);
    writeFileSync(stateFile, '{"version":9}');
    await assert.rejects(createIpvsDataplane({ connection: kernel, stateFile }).dump(), (err: unknown) => err instanceof ShoalError && err.code === 'E_CONFIG');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('told the whole table is Shoal\'s, dump() reports everything and flush() is one IPVS_CMD_FLUSH', async () => {
  const kernel = new FakeIpvsKernel();
  kernel.addForeign(foreign);
  const dp = createIpvsDataplane({ connection: kernel, ownsWholeTable: true });
  assert.equal((await dp.dump()).length, 1);
  await dp.flush();
  assert.equal(kernel.services.size, 0);
  assert.ok(kernel.commands.includes(IPVS_CMD_FLUSH));
  assert.ok(!kernel.commands.includes(IPVS_CMD_DEL_SERVICE));
});

test('a scheduler the kernel lacks is an IpvsError that says so', async () => {
  const kernel = new FakeIpvsKernel();
  const dp = createIpvsDataplane({ connection: kernel });
  const twos: VirtualService = { ...desired[0]!, scheduler: 'twos', servers: [] };
  await assert.rejects(dp.apply([{ op: 'add-service', service: twos }], [twos]), (err: unknown) => err instanceof IpvsError && err.errnoName === 'ENOENT' && /scheduler is not available/.test(err.message));
});

test('enableIpvsSysctls sets forwarding and vs.conntrack and reports what they were', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-sysctl-'));
  try {
    for (const [p, v] of [['net/ipv4/ip_forward', '0'], ['net/ipv6/conf/all/forwarding', '1'], ['net/ipv4/vs/conntrack', '0']] as const) {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), `${v}\n`);
    }
    const changes = await enableIpvsSysctls({ procSysDir: dir });
    assert.deepEqual(changes.map((c) => [c.name, c.previous]), [['net.ipv4.ip_forward', '0'], ['net.ipv6.conf.all.forwarding', '1'], ['net.ipv4.vs.conntrack', '0']]);
    assert.equal(readFileSync(join(dir, 'net/ipv4/vs/conntrack'), 'utf8').trim(), '1');
    rmSync(join(dir, 'net/ipv4/vs'), { recursive: true });
    await assert.rejects(enableIpvsSysctls({ procSysDir: dir }), /is ip_vs loaded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
