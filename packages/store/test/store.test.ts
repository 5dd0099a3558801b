import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, readdir, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import { parseOrThrow, InstanceSpecSchema, PoolSpecSchema } from '@shoal/model';
import { openStore, LOCAL_ORIGIN } from '../src/index.js';

const spec = (name: string, vip: string, extra: Record<string, unknown> = {}) => parseOrThrow(InstanceSpecSchema, { name, vip, ports: [{ port: 80 }], ...extra });

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-store-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a restarted store has every instance, backend, state change and pool', async () => {
  await withDir(async (dir) => {
    const a = await openStore({ dir });
    await a.createPool(parseOrThrow(PoolSpecSchema, { name: 'default', ranges: ['10.9.0.0/29'] }));
    const web = await a.createInstance(spec('web', '10.0.0.1', { backends: [{ ip: '10.1.0.1' }] }));
    const pooled = await a.createInstance(parseOrThrow(InstanceSpecSchema, { name: 'pooled', ports: [{ port: 443 }] }));
    await a.addBackend('web', { ip: '10.1.0.2', weight: 5, enabled: true });
    await a.setInstanceState('pooled', 'stopped');
    await a.createInstance(spec('gone', '10.0.0.3'));
    await a.deleteInstance('gone');
    const before = a.listInstances();
    await a.close();

    const b = await openStore({ dir });
    try {
      assert.deepEqual(b.listInstances(), before);
      assert.equal(b.getInstance('web')?.id, web.id);
      assert.equal(b.getInstance('web')?.backends.length, 2);
      assert.equal(b.getInstance('pooled')?.state, 'stopped');
      assert.equal(b.getInstance('pooled')?.vip, pooled.vip);
      assert.equal(b.getInstance('gone'), undefined);
      assert.equal(b.getPool('default')?.ranges[0], '10.9.0.0/29');
    } finally {
      await b.close();
    }
  });
});

test('compaction folds the log into a snapshot and nothing is lost across it', async () => {
  await withDir(async (dir) => {
    const a = await openStore({ dir, compactAfterBytes: 64 * 1024 });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 600; i++) writes.push(a.createInstance(spec(`i-${i}`, `10.0.${i >> 8}.${i & 255}`)));
    await Promise.all(writes);
    await a.compact();
    assert.ok(a.stats().log.compactions >= 1);
    await a.addBackend('i-7', { ip: '10.1.0.7', weight: 1, enabled: true });
    await a.close();
    const files = await readdir(dir);
    assert.ok(files.some((f) => f.startsWith('snapshot-')), files.join(','));
    const b = await openStore({ dir });
    try {
      assert.equal(b.listInstances().length, 600);
      assert.equal(b.getInstance('i-7')?.backends[0]?.ip, '10.1.0.7');
    } finally {
      await b.close();
    }
  });
});

test('a torn tail after a crash is dropped and the store opens cleanly', async () => {
  await withDir(async (dir) => {
    const a = await openStore({ dir });
    await a.createInstance(spec('web', '10.0.0.1'));
    await a.close();
    const wal = (await readdir(dir)).filter((f) => f.startsWith('wal-')).sort().at(-1);
    assert.ok(wal);
    await appendFile(join(dir, wal), Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5, 6]));
    const b = await openStore({ dir });
    try {
      assert.equal(b.getInstance('web')?.vip, '10.0.0.1');
      await b.createInstance(spec('after', '10.0.0.2'));
    } finally {
      await b.close();
    }
    const c = await openStore({ dir });
    try {
      assert.deepEqual(c.listInstances().map((i) => i.name), ['after', 'web']);
    } finally {
      await c.close();
    }
  });
});

test('updates stream to listeners with their origin and a peer catches up from a state vector', async () => {
  const a = await openStore();
  const b = await openStore();
  try {
    const seen: unknown[] = [];
    a.onUpdate((_u, origin) => seen.push(origin));
    await a.createInstance(spec('web', '10.0.0.1'));
    assert.deepEqual(seen, [LOCAL_ORIGIN]);
    await b.createInstance(spec('api', '10.0.0.2'));
    // Yjs sync step 2 both ways: each sends what the other's state vector lacks.
    const toB = a.encodeStateAsUpdate(b.encodeStateVector());
    const toA = b.encodeStateAsUpdate(a.encodeStateVector());
    await b.applyRemoteUpdate(toB, 'peer-a');
    await a.applyRemoteUpdate(toA, 'peer-b');
    assert.deepEqual(a.listInstances(), b.listInstances());
    assert.equal(a.listInstances().length, 2);
    assert.equal(seen.at(-1), 'peer-b');
    await assert.rejects(a.applyRemoteUpdate(new Uint8Array([1, 2, 3, 250, 251]), 'junk'), /malformed Yjs update/);
    assert.equal(a.listInstances().length, 2, 'garbage from a peer changes nothing');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a malformed instance record from a peer is ignored, not fatal', async () => {
  const a = await openStore();
  try {
    const doc = new Y.Doc();
    const bad = new Y.Map<unknown>();
    doc.getMap('instances').set('bogus', bad);
    bad.set('spec', { name: 42 });
    await a.applyRemoteUpdate(Y.encodeStateAsUpdate(doc), 'peer');
    assert.deepEqual(a.listInstances(), []);
    await a.createInstance(spec('web', '10.0.0.1'));
    assert.equal(a.listInstances().length, 1);
  } finally {
    await a.close();
  }
});

test('every acknowledged write survives SIGKILL of the writing process, across several crashes', async () => {
  const writer = fileURLToPath(new URL('./fixtures/store-writer.js', import.meta.url));
  await withDir(async (dir) => {
    const acked = new Set<string>();
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [writer, dir, String(round)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      let firstAck: () => void = () => undefined;
      const acking = new Promise<void>((r) => (firstAck = r));
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        firstAck();
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) if (l) acked.add(l);
      });
      const exited = new Promise((r) => child.once('exit', r));
      // Kill at a random moment once the writer is acknowledging (start-up time varies with load).
      await Promise.race([acking, exited]);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 700));
      child.kill('SIGKILL');
      await exited;
    }
    assert.ok(acked.size > 50, `the writer acknowledged only ${acked.size} writes`);
    for (let round = 0; round < 4; round++) assert.ok([...acked].some((n) => n.startsWith(`r${round}-`)), `round ${round} acknowledged writes after recovering`);
    const store = await openStore({ dir });
    try {
      const names = new Set(store.listInstances().map((i) => i.name));
      const missing = [...acked].filter((n) => !names.has(n));
      assert.deepEqual(missing, [], `${missing.length} acknowledged writes lost of ${acked.size}`);
    } finally {
      await store.close();
    }
  });
});

test('backends added to one instance on two nodes at once both survive the merge', async () => {
  const a = await openStore();
  const b = await openStore();
  try {
    await a.createInstance(spec('web', '10.0.0.1'));
    await b.applyRemoteUpdate(a.encodeStateAsUpdate(b.encodeStateVector()), 'peer-a');
    // Concurrent: neither has seen the other's write.
    await a.addBackend('web', { ip: '10.1.0.1', weight: 1, enabled: true });
    await b.addBackend('web', { ip: '10.1.0.2', weight: 1, enabled: true });
    await b.applyRemoteUpdate(a.encodeStateAsUpdate(b.encodeStateVector()), 'peer-a');
    await a.applyRemoteUpdate(b.encodeStateAsUpdate(a.encodeStateVector()), 'peer-b');
    assert.deepEqual(a.getInstance('web')?.backends.map((x) => x.ip), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(a.listInstances(), b.listInstances());
  } finally {
    await a.close();
    await b.close();
  }
});

test('a delete wins over a concurrent edit on another node, and the orphaned backend is never shown', async () => {
  const a = await openStore();
  const b = await openStore();
  try {
    await a.createInstance(spec('web', '10.0.0.1'));
    await b.applyRemoteUpdate(a.encodeStateAsUpdate(), 'peer-a');
    await a.deleteInstance('web');
    await b.addBackend('web', { ip: '10.1.0.9', weight: 1, enabled: true });
    await a.applyRemoteUpdate(b.encodeStateAsUpdate(a.encodeStateVector()), 'peer-b');
    await b.applyRemoteUpdate(a.encodeStateAsUpdate(b.encodeStateVector()), 'peer-a');
    assert.deepEqual(a.listInstances(), []);
    assert.deepEqual(b.listInstances(), []);
    await a.createInstance(spec('web', '10.0.0.1'));
    assert.deepEqual(a.getInstance('web')?.backends, [], 'a new instance does not inherit the orphan');
  } finally {
    await a.close();
    await b.close();
  }
});
