// The keepalived driver against a stand-in keepalived (a shell script of that name: `-t`
// refuses files containing INVALID, otherwise it idles and records SIGHUPs), then against the
// real `keepalived -t` when it is installed.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { KeepalivedConfigError, createKeepalivedDriver, runningKeepalivedPid } from '../src/index.js';

const logger = pino({ level: 'silent' });

const FAKE = `#!/bin/sh
# A stand-in for keepalived. -t -f FILE: refuse files containing INVALID; count the checks.
if [ "$1" = "-t" ]; then
  echo check >> "$(dirname "$0")/checks"
  if grep -q INVALID "$3"; then echo "(Line 1) Unknown keyword 'INVALID'" >&2; exit 5; fi
  exit 0
fi
# Daemon mode: FAKE PIDFILE HUPLOG
trap 'echo hup >> "$2"' HUP
echo $$ > "$1"
while :; do sleep 0.02; done
`;

interface Sandbox {
  dir: string;
  bin: string;
  conf: string;
  pidFile: string;
  checks(): number;
  tmpFiles(): string[];
  cleanup(): void;
}

function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'shk-driver-'));
  const binDir = join(dir, 'bin');
  spawnSync('mkdir', [binDir]);
  const bin = join(binDir, 'keepalived');
  writeFileSync(bin, FAKE);
  chmodSync(bin, 0o755);
  const confDir = join(dir, 'etc');
  spawnSync('mkdir', [confDir]);
  return {
    dir,
    bin,
    conf: join(confDir, 'keepalived.conf'),
    pidFile: join(dir, 'keepalived.pid'),
    checks: () => (existsSync(join(binDir, 'checks')) ? readFileSync(join(binDir, 'checks'), 'utf8').split('\n').filter(Boolean).length : 0),
    tmpFiles: () => readdirSync(confDir).filter((f) => f.endsWith('.tmp')),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function startFake(s: Sandbox, hupLog: string): Promise<ChildProcess> {
  const child = spawn(s.bin, [s.pidFile, hupLog], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(s.pidFile); i++) await new Promise((r) => setTimeout(r, 20));
  return child;
}

async function stopFake(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

test('driver: first apply writes the file (0600, no temp left) and says written when keepalived is not running', async () => {
  const s = sandbox();
  try {
    const d = createKeepalivedDriver({ configPath: s.conf, logger, keepalivedBin: s.bin, pidFile: s.pidFile });
    assert.equal(await d.apply('global_defs {\n}\n'), 'written');
    assert.equal(readFileSync(s.conf, 'utf8'), 'global_defs {\n}\n');
    assert.equal(statSync(s.conf).mode & 0o777, 0o600);
    assert.deepEqual(s.tmpFiles(), []);
    assert.equal(s.checks(), 1);
  } finally {
    s.cleanup();
  }
});

test('driver: an identical config is neither checked, written nor signalled', async () => {
  const s = sandbox();
  const hupLog = join(s.dir, 'hups');
  const fake = await startFake(s, hupLog);
  try {
    const d = createKeepalivedDriver({ configPath: s.conf, logger, keepalivedBin: s.bin, pidFile: s.pidFile });
    assert.equal(await d.apply('a\n'), 'reloaded');
    const mtime = statSync(s.conf).mtimeMs;
    assert.equal(await d.apply('a\n'), 'unchanged');
    assert.equal(s.checks(), 1);
    assert.equal(statSync(s.conf).mtimeMs, mtime);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(readFileSync(hupLog, 'utf8'), 'hup\n', 'one reload, for the first apply only');
  } finally {
    await stopFake(fake);
    s.cleanup();
  }
});

test('driver: a config keepalived refuses is a KeepalivedConfigError with its message, and the old file stays', async () => {
  const s = sandbox();
  const hupLog = join(s.dir, 'hups');
  const fake = await startFake(s, hupLog);
  try {
    const d = createKeepalivedDriver({ configPath: s.conf, logger, keepalivedBin: s.bin, pidFile: s.pidFile });
    await d.apply('good\n');
    await assert.rejects(d.apply('INVALID {\n'), (err: unknown) => {
      assert.ok(err instanceof KeepalivedConfigError);
      assert.equal(err.code, 'E_CONFIG');
      assert.equal(err.exitCode, 5);
      assert.match(err.keepalivedOutput, /Unknown keyword 'INVALID'/);
      assert.match(err.message, /Unknown keyword 'INVALID'/);
      return true;
    });
    assert.equal(readFileSync(s.conf, 'utf8'), 'good\n');
    assert.deepEqual(s.tmpFiles(), []);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(readFileSync(hupLog, 'utf8'), 'hup\n', 'no reload for the refused config');
  } finally {
    await stopFake(fake);
    s.cleanup();
  }
});

test('driver: a stale pid file naming another process gets no signal (written, not reloaded)', async () => {
  const s = sandbox();
  try {
    // This test runner is alive but is not keepalived: SIGHUP would kill it.
    writeFileSync(s.pidFile, `${process.pid}\n`);
    assert.equal(await runningKeepalivedPid(s.pidFile), null);
    const d = createKeepalivedDriver({ configPath: s.conf, logger, keepalivedBin: s.bin, pidFile: s.pidFile });
    assert.equal(await d.apply('x\n'), 'written');
    writeFileSync(s.pidFile, 'garbage');
    assert.equal(await d.apply('y\n'), 'written');
  } finally {
    s.cleanup();
  }
});

test('driver: overlapping applies run one at a time, in call order', async () => {
  const s = sandbox();
  try {
    const d = createKeepalivedDriver({ configPath: s.conf, logger, keepalivedBin: s.bin, pidFile: s.pidFile });
    const results = await Promise.all([d.apply('one\n'), d.apply('two\n'), d.apply('two\n'), d.apply('three\n')]);
    assert.deepEqual(results, ['written', 'written', 'unchanged', 'written']);
    assert.equal(readFileSync(s.conf, 'utf8'), 'three\n');
    assert.deepEqual(s.tmpFiles(), []);
  } finally {
    s.cleanup();
  }
});

test('driver: a missing keepalived binary is E_UNAVAILABLE and leaves nothing behind', async () => {
  const s = sandbox();
  try {
    const d = createKeepalivedDriver({ configPath: s.conf, logger, keepalivedBin: join(s.dir, 'nope'), pidFile: s.pidFile });
    await assert.rejects(d.apply('x\n'), (err: unknown) => (err as { code?: string }).code === 'E_UNAVAILABLE');
    assert.equal(existsSync(s.conf), false);
    assert.deepEqual(s.tmpFiles(), []);
  } finally {
    s.cleanup();
  }
});

const realSkip = spawnSync('keepalived', ['--version'], { stdio: 'ignore' }).error === undefined ? false : 'keepalived is not installed';

test('driver: the real keepalived -t refuses an unknown keyword with its own message', { skip: realSkip, timeout: 30_000 }, async () => {
  const s = sandbox();
  try {
    const d = createKeepalivedDriver({ configPath: s.conf, logger, pidFile: s.pidFile });
    assert.equal(await d.apply('global_defs {\n    router_id shoal-test\n}\n'), 'written');
    await assert.rejects(d.apply('global_defs {\n    router_id shoal-test\n}\nvrrp_bogus {\n}\n'), (err: unknown) => {
      assert.ok(err instanceof KeepalivedConfigError);
      assert.match(err.keepalivedOutput, /Unknown keyword 'vrrp_bogus'/);
      return true;
    });
    assert.equal(readFileSync(s.conf, 'utf8'), 'global_defs {\n    router_id shoal-test\n}\n');
  } finally {
    s.cleanup();
  }
});
