import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../src/index.js';
import { readGossipKeys } from '../src/cluster.js';

const tls = { cert: 'n.crt', key: 'n.key', ca: 'ca.crt' };
const k1 = Buffer.alloc(32, 1).toString('base64');
const k2 = Buffer.alloc(32, 2).toString('base64');

test('the gossip key file gives the primary first and older keys after it; comments and blank lines are skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-keys-'));
  try {
    const file = join(dir, 'gossip.keys');
    await writeFile(file, `# rotated 2026-11-23\n${k2}\n\n${k1}\n`);
    const ring = readGossipKeys(parseConfig({ api: { tls }, cluster: { enabled: true, keyFile: file } }, dir).cluster);
    assert.deepEqual(
      ring.keys().map((k) => Buffer.from(k).toString('base64')),
      [k2, k1],
    );
    await writeFile(file, 'not-a-key\n');
    assert.throws(() => readGossipKeys(parseConfig({ api: { tls }, cluster: { enabled: true, keyFile: file } }, dir).cluster), (e: unknown) => e instanceof ConfigError && /cluster\.keyFile/.test(e.message));
    await writeFile(file, '# nothing\n');
    assert.throws(() => readGossipKeys(parseConfig({ api: { tls }, cluster: { enabled: true, keyFile: file } }, dir).cluster), /no key found/);
    assert.throws(() => readGossipKeys(parseConfig({ api: { tls }, cluster: { enabled: true, keyFile: join(dir, 'absent') } }, dir).cluster), /cannot read/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
