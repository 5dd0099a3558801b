import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import { openDurableLog } from '../src/durable-log.js';

const WRITER = fileURLToPath(new URL('./fixtures/log-writer.js', import.meta.url));
const ROUNDS = 5;
/** Seqs of round r start at r * SEQ_STRIDE, so every round writes keys no other round touches. */
const SEQ_STRIDE = 1_000_000;

interface Round {
  acked: number[];
  killAfterMs: number;
}

/** Runs the writer until it has recovered, lets it write for killAfterMs, then SIGKILLs it. */
function runAndKill(dir: string, firstSeq: number, killAfterMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(firstSeq)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.startsWith('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`log-writer exited by itself (code ${code}, signal ${signal}): ${stderr}`));
        return;
      }
      // A line cut by the kill has no newline and was never acknowledged as a whole number.
      const lines = stdout.split('\n').slice(1, -1);
      resolve({ acked: lines.map(Number), killAfterMs });
    });
  });
}

test('every append acknowledged before a SIGKILL survives, across repeated crashes and compactions', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-log-'));
  try {
    const acked: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const killAfterMs = 300 + Math.floor(Math.random() * 1200);
      const result = await runAndKill(dir, round * SEQ_STRIDE, killAfterMs);
      t.diagnostic(`round ${round}: killed after ${killAfterMs} ms with ${result.acked.length} acknowledged appends`);
      assert.ok(result.acked.length > 0, `round ${round} acknowledged nothing`);
      assert.ok(result.acked.every(Number.isInteger), `round ${round} printed a malformed seq`);
      acked.push(...result.acked);
    }

    const { log, recovered } = await openDurableLog({ dir });
    await log.close();
    t.diagnostic(`recovered epoch ${recovered.epoch}, ${recovered.updates.length} WAL updates, ${recovered.tornTailBytes} torn bytes`);
    assert.ok(recovered.epoch > 0, 'the writers never compacted; the test did not exercise compaction');

    const doc = new Y.Doc();
    if (recovered.snapshot) Y.applyUpdate(doc, recovered.snapshot);
    for (const u of recovered.updates) Y.applyUpdate(doc, u);
    const map = doc.getMap<number>('m');
    // Batches are written in append order, so what survives is dependency-closed: nothing waits
    // on a missing update.
    assert.equal(doc.store.pendingStructs, null, 'recovered updates depend on an update that was lost');
    const lost = acked.filter((seq) => map.get(`k${seq}`) !== seq);
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged appends lost`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
