/**
 * IPVS programming speed, measured where IPVS exists: Debian's kernel under qemu (software
 * emulation, so every figure is ~15x a native one; the ratio to ipvsadm is what carries
 * over). The guest half is ipvs-guest.ts.
 */
import { fileURLToPath } from 'node:url';
import { ipvsVmSkipReason, prepareIpvsVm, runInIpvsVm } from '@shoal/testkit';
import { IPVS_GUEST_MARKER } from './ipvs-guest.js';
import type { TargetRow } from './report.js';

export interface IpvsBenchResult {
  readonly services: number;
  readonly destinations: number;
  readonly dumpedServices: number;
  readonly incrementalChanges: number;
  readonly driverFullMs: number;
  readonly driverDumpMs: number;
  readonly driverIncrementalMs: number;
  readonly driverIncrementalApplyOnlyMs: number;
  readonly driverFlushMs: number;
  readonly ipvsadmRestoreMs: number;
  readonly ipvsadmEditMs: number;
  readonly ipvsadmListMs: number;
  readonly vmWallMs: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function runIpvsBench(opts: { services: number; progress: (line: string) => void }): Promise<IpvsBenchResult | { skipped: string }> {
  const skip = ipvsVmSkipReason();
  if (skip !== null) return { skipped: skip };
  prepareIpvsVm((m) => opts.progress(`  ipvs-vm: ${m}`));
  opts.progress(`  programming ${opts.services} services x 4 in the guest (driver, then ipvsadm -R) ...`);
  const started = performance.now();
  const r = await runInIpvsVm(['node', 'bench/dist/ipvs-guest.js', String(opts.services)], { cwd: REPO_ROOT, timeoutMs: 900_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith(IPVS_GUEST_MARKER));
  if (r.exitCode !== 0 || line === undefined) throw new Error(`ipvs guest exited ${r.exitCode}: ${r.stderr.slice(-800)}`);
  return { ...(JSON.parse(line.slice(IPVS_GUEST_MARKER.length)) as Omit<IpvsBenchResult, 'vmWallMs'>), vmWallMs: performance.now() - started };
}

const ms = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));

export function formatIpvs(r: IpvsBenchResult | { skipped: string }): string {
  if ('skipped' in r) return `IPVS (qemu guest): skipped: ${r.skipped}`;
  return [
    `IPVS driver vs ipvsadm, ${r.services.toLocaleString('en-US')} services x 4 destinations, inside the qemu guest (TCG: ~15x native; compare ratios)`,
    `what                          driver ms  ipvsadm ms  driver/ipvsadm`,
    `program from empty            ${ms(r.driverFullMs).padStart(9)}  ${ms(r.ipvsadmRestoreMs).padStart(10)}  ${(r.driverFullMs / r.ipvsadmRestoreMs).toFixed(1).padStart(14)}   (ipvsadm -R of the same state)`,
    `one weight change (apply)     ${ms(r.driverIncrementalApplyOnlyMs).padStart(9)}  ${ms(r.ipvsadmEditMs).padStart(10)}  ${(r.driverIncrementalApplyOnlyMs / r.ipvsadmEditMs).toFixed(1).padStart(14)}   (one ipvsadm -e)`,
    `dump (services + dests)       ${ms(r.driverDumpMs).padStart(9)}  ${ms(r.ipvsadmListMs).padStart(10)}  ${(r.driverDumpMs / r.ipvsadmListMs).toFixed(1).padStart(14)}   (ipvsadm -Ln)`,
    `reconcile one change          ${ms(r.driverIncrementalMs).padStart(9)}           -               -   (dump + plan + apply; ${r.incrementalChanges} change)`,
    `flush                         ${ms(r.driverFlushMs).padStart(9)}`,
    `  whole guest run ${ms(r.vmWallMs)} ms; dumped ${r.dumpedServices} services back`,
  ].join('\n');
}

export function ipvsRows(r: IpvsBenchResult | { skipped: string } | undefined): TargetRow[] {
  if (r === undefined || 'skipped' in r) return [];
  return [
    { figure: `ipvs (qemu): program ${r.services} svc x 4`, measured: r.driverFullMs, unit: 'ms', comparison: null, target: null, pass: null, note: `ipvsadm -R ${ms(r.ipvsadmRestoreMs)} ms, ratio ${(r.driverFullMs / r.ipvsadmRestoreMs).toFixed(1)}` },
    { figure: `ipvs (qemu): one change, ${r.services} in place`, measured: r.driverIncrementalApplyOnlyMs, unit: 'ms', comparison: null, target: null, pass: null, note: `ipvsadm -e ${ms(r.ipvsadmEditMs)} ms` },
  ];
}
