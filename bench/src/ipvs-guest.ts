/**
 * Runs INSIDE the IPVS guest (Debian's kernel under qemu, see @shoal/testkit's ipvs-vm):
 * programs N services x 4 destinations with the IPVS driver from empty, then one incremental
 * change with N in place, and the same two with ipvsadm (the baseline: `ipvsadm -R` of the
 * same state, and one `ipvsadm -e`). Prints one JSON line after MARKER.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { planChanges, type VirtualService } from '@shoal/dataplane';
import { createIpvsDataplane } from '@shoal/ipvs';

export const IPVS_GUEST_MARKER = 'SHOAL-IPVS-BENCH ';

function state(n: number): VirtualService[] {
  const out: VirtualService[] = [];
  for (let i = 0; i < n; i++) {
    const vip = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    out.push({
      protocol: 'tcp',
      vip,
      port: 80,
      family: 4,
      scheduler: 'rr',
      persistenceTimeoutS: 0,
      servers: [1, 2, 3, 4].map((b) => ({ ip: `10.200.${b}.${i & 255}`, port: 8000 + (i >> 8), weight: 1, forwarding: 'nat' as const })),
    });
  }
  return out;
}

function ipvsadmRules(services: readonly VirtualService[]): string {
  // Every service here is TCP; ipvsadm's -t.
  const lines: string[] = [];
  for (const s of services) {
    lines.push(`-A -t ${s.vip}:${s.port} -s ${s.scheduler}`);
    for (const r of s.servers) lines.push(`-a -t ${s.vip}:${s.port} -r ${r.ip}:${r.port} -m -w ${r.weight}`);
  }
  return `${lines.join('\n')}\n`;
}

const time = async (fn: () => unknown): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? '10000');
  const desired = state(n);
  execFileSync('ipvsadm', ['-C']);
  const dp = createIpvsDataplane({ ownsWholeTable: true });
  const changesFromEmpty = planChanges(desired, []);
  const driverFull = await time(() => dp.apply(changesFromEmpty, desired));
  let dumped: VirtualService[] = [];
  const driverDump = await time(async () => {
    dumped = await dp.dump();
  });
  const first = desired[0];
  if (!first) throw new Error('no services');
  const changed = desired.map((s, i) => (i === 0 ? { ...s, servers: s.servers.map((r, j) => (j === 0 ? { ...r, weight: 5 } : r)) } : s));
  let incrementalChanges = 0;
  const driverIncremental = await time(async () => {
    const changes = planChanges(changed, await dp.dump());
    incrementalChanges = changes.length;
    await dp.apply(changes, changed);
  });
  const driverIncrementalApplyOnly = await time(() => dp.apply(planChanges(desired, changed), desired));
  const driverFlush = await time(() => dp.flush());
  await dp.close();

  writeFileSync('/tmp/shoal-bench.rules', ipvsadmRules(desired));
  const ipvsadmRestore = await time(() => execFileSync('sh', ['-c', 'ipvsadm -R < /tmp/shoal-bench.rules']));
  const r0 = first.servers[0];
  if (!r0) throw new Error('no servers');
  const ipvsadmEdit = await time(() => execFileSync('ipvsadm', ['-e', '-t', `${first.vip}:${first.port}`, '-r', `${r0.ip}:${r0.port}`, '-m', '-w', '5']));
  const ipvsadmList = await time(() => execFileSync('ipvsadm', ['-Ln'], { maxBuffer: 256 * 1024 * 1024 }));
  execFileSync('ipvsadm', ['-C']);
  process.stdout.write(
    `${IPVS_GUEST_MARKER}${JSON.stringify({
      services: n,
      destinations: n * 4,
      dumpedServices: dumped.length,
      incrementalChanges,
      driverFullMs: driverFull,
      driverDumpMs: driverDump,
      driverIncrementalMs: driverIncremental,
      driverIncrementalApplyOnlyMs: driverIncrementalApplyOnly,
      driverFlushMs: driverFlush,
      ipvsadmRestoreMs: ipvsadmRestore,
      ipvsadmEditMs: ipvsadmEdit,
      ipvsadmListMs: ipvsadmList,
    })}\n`,
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
