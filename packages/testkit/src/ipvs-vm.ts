/**
 * Runs one command under a kernel that has IPVS: Debian's stock kernel (what
 * linux-image-amd64 depends on) booted under qemu with a busybox initramfs, the host's root
 * shared read-only over 9p and the command run in a chroot of it. The development and CI
 * hosts run a kernel without ip_vs, so this is where the IPVS driver meets a real kernel.
 *
 * Follows /work/shared/recipes/ipvs-in-a-vm.md (measured there): TCG only (KVM guests hang on
 * the dev machines), the ELF vmlinux booted through its PVH entry (~3 s faster than the
 * bzImage under TCG), `acpi=noirq` (~1 s), the root mounted cache=loose (node starts in
 * 0.6 s instead of 5-9 s), output on virtio serial ports (the console carries kernel noise).
 *
 * Boot once per suite: ~4-6 s per boot, 2-5 s per cold node process in the guest.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Cache of the kernel .deb, vmlinux and initramfs (~110 MB); SHOAL_IVM_CACHE overrides. */
export const IVM_CACHE_DIR = process.env.SHOAL_IVM_CACHE ?? '/var/cache/shoal-ivm';

/** Bump when the initramfs layout or /init changes: the cache is rebuilt from the kept .deb. */
const BUILD_ID = 'shoal-ivm-4';

/** Loaded at boot in this order, each after its dependency closure (kmod --show-depends). */
const MODULES = [
  'virtio_pci', 'virtio_console', 'virtio_rng', '9pnet_virtio', '9p',
  // libcrc32c needs a crc32c provider that modules.dep does not name
  'crc32c_generic', 'libcrc32c',
  'nf_conntrack', 'nf_nat', 'ip_vs',
  'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_sh', 'ip_vs_mh', 'ip_vs_dh', 'ip_vs_lblc', 'ip_vs_lblcr',
  'ip_vs_sed', 'ip_vs_nq', 'ip_vs_fo', 'ip_vs_ovf', 'ip_vs_twos',
  'veth', 'bridge', 'dummy', 'ipip', 'ip6_tunnel',
  // /tmp in the guest is an overlay on the host's /tmp: a checkout there (CI clones into
  // temp directories) must be visible to the command.
  'overlay',
];

export interface IvmPrepared {
  readonly kernelVersion: string;
  /** The ELF vmlinux when one with a PVH note could be extracted, else the bzImage. */
  readonly kernel: string;
  readonly initrd: string;
}

export interface IvmRunOptions {
  /** Host-side wall limit for boot + command + power-off; qemu is killed by PID after it. */
  readonly timeoutMs?: number;
  readonly memMb?: number;
  readonly cwd?: string;
  /** Extra environment for the command (PATH and HOME come from the host). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface IvmResult {
  /** The command's exit code; 124 timeout; 125 no result (boot failure, panic). */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Kernel + init messages (for failures). */
  readonly console: string;
  readonly durationMs: number;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; input?: Buffer } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.status)}): ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

/** Why the VM cannot run here, or null. Cheap: no download. */
export function ipvsVmSkipReason(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs x86-64 Linux';
  if (process.getuid?.() !== 0) return 'needs root (9p export of /, the cache under /var/cache)';
  for (const c of ['qemu-system-x86_64', 'cpio', 'depmod', 'modprobe', 'dpkg', 'gzip']) {
    if (!has(c)) return `needs ${c} (Debian: qemu-system-x86 cpio kmod dpkg gzip)`;
  }
  if (!existsSync('/bin/busybox')) return 'needs a static /bin/busybox (Debian: busybox-static)';
  if (has('readelf') && /program interpreter/.test(run('readelf', ['-l', '/bin/busybox']))) return '/bin/busybox is dynamic; install busybox-static';
  if (!existsSync(join(IVM_CACHE_DIR, 'deb')) && !has('apt-get')) return 'needs apt-get to download the kernel package';
  return null;
}

function moduleClosure(root: string, kver: string, names: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const m of names) {
    const r = spawnSync('modprobe', ['-d', root, '-S', kver, '--show-depends', m], { encoding: 'utf8' });
    if (r.status !== 0) continue; // not in this kernel (ip_vs_twos is not in 6.1)
    for (const line of r.stdout.split('\n')) {
      const match = /^insmod (\S+)/.exec(line);
      if (!match?.[1]) continue;
      const rel = match[1].slice(`${root}/lib/modules/${kver}/`.length);
      if (!seen.has(rel)) {
        seen.add(rel);
        out.push(rel);
      }
    }
  }
  return out;
}

/** The uncompressed ELF kernel inside the xz bzImage, for qemu's PVH boot; null if not possible. */
function extractVmlinux(bzImage: string, out: string): boolean {
  if (!has('xz')) return false;
  const img = readFileSync(bzImage);
  const off = img.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (off < 0) return false;
  // xz stops with "corrupt data" at the bzImage trailer after the stream: expected.
  const r = spawnSync('xz', ['-dc'], { input: img.subarray(off), maxBuffer: 512 << 20 });
  const elf = r.stdout;
  if (elf.length < 4 || elf.readUInt32BE(0) !== 0x7f454c46) return false;
  writeFileSync(out, elf);
  if (has('readelf') && !run('readelf', ['-n', out]).includes('(0x00000012)')) {
    rmSync(out);
    return false;
  }
  return true;
}

const INIT = `#!/bin/sh
# /init of the Shoal IPVS test guest: modules, the host root over 9p (read-only), the command
# in a chroot with stdout/stderr on two virtio serial ports, its exit code to the control share.
PATH=/bin:/sbin; export PATH
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/null >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
K=$(uname -r)
while read -r m; do insmod "/lib/modules/$K/$m" || echo "ivm: insmod $m failed"; done </etc/ivm/modules
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
hostname ivm
P9=trans=virtio,version=9p2000.L,msize=262144
R=/host
mount -t 9p -o "$P9,ro,cache=loose" hostroot $R || { echo "ivm: cannot mount the host root"; poweroff -f; }
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=755 run $R/run
mkdir -p /ivmtmp && mount -t tmpfs -o mode=755 ivmtmp /ivmtmp && mkdir -p /ivmtmp/u /ivmtmp/w
mount -t overlay -o lowerdir=$R/tmp,upperdir=/ivmtmp/u,workdir=/ivmtmp/w tmpov $R/tmp || { echo "ivm: no /tmp overlay, an empty /tmp instead"; mount -t tmpfs -o mode=1777 tmp $R/tmp; }
mkdir -p $R/run/ivm
mount -t 9p -o "$P9,cache=mmap" ivmctl $R/run/ivm || { echo "ivm: cannot mount the control share"; poweroff -f; }
OUT=/dev/null ERR=/dev/null
for p in /sys/class/virtio-ports/*; do
  case $(cat "$p/name" 2>/dev/null) in
    ivm.out) OUT=/dev/\${p##*/} ;;
    ivm.err) ERR=/dev/\${p##*/} ;;
  esac
done
echo "ivm: running"
chroot $R /bin/sh /run/ivm/cmd.sh </dev/null >"$OUT" 2>"$ERR"
echo "$?" >$R/run/ivm/rc.tmp && mv $R/run/ivm/rc.tmp $R/run/ivm/rc
sync
poweroff -f
`;

/**
 * Downloads and unpacks the kernel, builds the initramfs; cached (a second call costs a
 * stat). The .deb is kept: the same kernel is used until the cache is removed.
 */
export function prepareIpvsVm(log: (msg: string) => void = () => undefined): IvmPrepared {
  const dir = IVM_CACHE_DIR;
  mkdirSync(dir, { recursive: true });
  const ready = join(dir, 'ready');
  const kernelOf = (): IvmPrepared => {
    const kver = readFileSync(join(dir, 'kver'), 'utf8').trim();
    const vmlinux = join(dir, 'vmlinux');
    return { kernelVersion: kver, kernel: existsSync(vmlinux) ? vmlinux : join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
  };
  if (existsSync(ready) && readFileSync(ready, 'utf8').trim() === BUILD_ID) return kernelOf();

  const debDir = join(dir, 'deb');
  let deb = existsSync(debDir) ? readdirSync(debDir).find((f) => f.endsWith('.deb')) : undefined;
  if (deb === undefined) {
    const depends = run('apt-cache', ['depends', 'linux-image-amd64']);
    const pkg = /Depends:\s+(linux-image-\d\S*)/.exec(depends)?.[1];
    if (pkg === undefined) throw new Error('cannot resolve the kernel package of linux-image-amd64 (apt-get update?)');
    log(`downloading ${pkg}`);
    const tmp = join(dir, 'deb.new');
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    run('apt-get', ['download', '-q', pkg], { cwd: tmp });
    rmSync(debDir, { recursive: true, force: true });
    renameSync(tmp, debDir);
    deb = readdirSync(debDir).find((f) => f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download ${pkg} left no .deb`);
  }
  log(`unpacking ${deb}`);
  const kroot = join(dir, 'kernel');
  rmSync(kroot, { recursive: true, force: true });
  run('dpkg', ['-x', join(debDir, deb), kroot]);
  const kver = readdirSync(join(kroot, 'lib/modules'))[0];
  if (kver === undefined) throw new Error(`no modules in ${deb}`);
  run('depmod', ['-b', kroot, kver]);

  const stage = join(dir, 'stage');
  rmSync(stage, { recursive: true, force: true });
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'host', 'etc/ivm', `lib/modules/${kver}`]) mkdirSync(join(stage, d), { recursive: true });
  run('cp', ['/bin/busybox', join(stage, 'bin/busybox')]);
  for (const applet of run('/bin/busybox', ['--list']).split('\n').filter(Boolean)) {
    const target = join(stage, 'bin', applet);
    if (!existsSync(target)) run('ln', ['-s', 'busybox', target]);
  }
  // The kernel's module autoloader runs /sbin/modprobe in the initramfs root: busybox's.
  run('ln', ['-s', '../bin/busybox', join(stage, 'sbin/modprobe')]);
  run('mknod', ['-m', '600', join(stage, 'dev/console'), 'c', '5', '1']);
  run('mknod', ['-m', '666', join(stage, 'dev/null'), 'c', '1', '3']);
  const mods = moduleClosure(kroot, kver, MODULES);
  for (const rel of mods) {
    mkdirSync(join(stage, 'lib/modules', kver, dirname(rel)), { recursive: true });
    run('cp', [join(kroot, 'lib/modules', kver, rel), join(stage, 'lib/modules', kver, rel)]);
  }
  writeFileSync(join(stage, 'etc/ivm/modules'), `${mods.join('\n')}\n`);
  run('depmod', ['-b', stage, kver]);
  writeFileSync(join(stage, 'init'), INIT, { mode: 0o755 });
  const files = run('find', ['.', '-mindepth', '1'], { cwd: stage }).split('\n').filter(Boolean).sort().join('\n');
  const cpio = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], { cwd: stage, input: `${files}\n`, maxBuffer: 256 << 20 });
  if (cpio.status !== 0) throw new Error(`cpio failed: ${cpio.stderr.toString()}`);
  const gz = spawnSync('gzip', ['-1'], { input: cpio.stdout, maxBuffer: 256 << 20 });
  writeFileSync(join(dir, 'initrd.img'), gz.stdout);
  run('cp', [join(kroot, 'boot', `vmlinuz-${kver}`), join(dir, 'vmlinuz')]);
  rmSync(join(dir, 'vmlinux'), { force: true });
  if (!extractVmlinux(join(dir, 'vmlinuz'), join(dir, 'vmlinux'))) log('no PVH vmlinux; booting the bzImage (slower)');
  writeFileSync(join(dir, 'kver'), `${kver}\n`);
  rmSync(stage, { recursive: true, force: true });
  rmSync(kroot, { recursive: true, force: true });
  writeFileSync(ready, `${BUILD_ID}\n`);
  log(`ready: kernel ${kver}, ${mods.length} modules`);
  return kernelOf();
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Boots the guest, runs `argv` in `cwd` (default: ours) and powers off. One boot per call. */
export async function runInIpvsVm(argv: readonly string[], options: IvmRunOptions = {}): Promise<IvmResult> {
  const prepared = prepareIpvsVm();
  const started = performance.now();
  const runDir = mkdtempSync(join(tmpdir(), 'shoal-ivm-'));
  const ctl = join(runDir, 'ctl');
  mkdirSync(ctl);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', IPVS_VM_GUEST: '1', ...options.env };
  writeFileSync(
    join(ctl, 'cmd.sh'),
    [...Object.entries(env).map(([k, v]) => `export ${k}=${shq(v)}`), `cd ${shq(options.cwd ?? process.cwd())} || exit 125`, `exec ${argv.map(shq).join(' ')}`, ''].join('\n'),
  );
  for (const f of ['out', 'err', 'console']) closeSync(openSync(join(runDir, `${f}.txt`), 'w'));
  const smp = Math.min(2, Math.max(1, (await import('node:os')).availableParallelism()));
  const args = [
    '-nodefaults', '-no-user-config', '-accel', 'tcg', '-machine', 'pc', '-cpu', 'max',
    '-m', String(options.memMb ?? 2048), '-smp', String(smp), '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-kernel', prepared.kernel, '-initrd', prepared.initrd,
    '-append', 'console=ttyS0 quiet loglevel=1 panic=-1 acpi=noirq',
    '-chardev', `file,id=con,path=${join(runDir, 'console.txt')}`, '-serial', 'chardev:con',
    '-device', 'virtio-rng-pci',
    '-device', 'virtio-serial-pci,id=vser',
    '-chardev', `file,id=out,path=${join(runDir, 'out.txt')}`, '-device', 'virtserialport,bus=vser.0,nr=1,chardev=out,name=ivm.out',
    '-chardev', `file,id=err,path=${join(runDir, 'err.txt')}`, '-device', 'virtserialport,bus=vser.0,nr=2,chardev=err,name=ivm.err',
    '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev', `local,id=ivmctl,path=${ctl},security_model=none`, '-device', 'virtio-9p-pci,fsdev=ivmctl,mount_tag=ivmctl',
  ];
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  qemu.stderr.on('data', (d: Buffer) => (qemuErr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill('SIGKILL'); // only the qemu this call started
  }, options.timeoutMs ?? 600_000);
  await new Promise<void>((resolve) => qemu.on('close', () => resolve()));
  clearTimeout(timer);
  const read = (f: string): string => (existsSync(join(runDir, f)) ? readFileSync(join(runDir, f), 'utf8') : '');
  const rcText = read('ctl/rc').trim();
  const exitCode = timedOut ? 124 : /^\d+$/.test(rcText) ? Number(rcText) : 125;
  const result: IvmResult = {
    exitCode,
    stdout: read('out.txt'),
    stderr: read('err.txt') + (exitCode === 125 ? `\nqemu: ${qemuErr}` : ''),
    console: read('console.txt'),
    durationMs: performance.now() - started,
  };
  if (process.env.SHOAL_IVM_KEEP !== '1') rmSync(runDir, { recursive: true, force: true });
  return result;
}

/** For diagnostics: the cache's size in bytes. */
export function ipvsVmCacheBytes(): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else total += s.size;
    }
  };
  if (existsSync(IVM_CACHE_DIR)) walk(IVM_CACHE_DIR);
  return total;
}
