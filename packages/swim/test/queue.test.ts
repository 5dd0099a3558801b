import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BroadcastQueue, retransmitLimit } from '../src/queue.js';

const msg = (n: number, len = 10) => new Uint8Array(len).fill(n);

test('the retransmit limit is retransmitMult * ceil(log10(n + 1))', () => {
  // memberlist util_test TestRetransmitLimit, and the steps of the logarithm.
  assert.equal(retransmitLimit(3, 0), 0);
  assert.equal(retransmitLimit(3, 1), 3);
  assert.equal(retransmitLimit(3, 99), 6);
  assert.equal(retransmitLimit(4, 9), 4);
  assert.equal(retransmitLimit(4, 10), 8);
  assert.equal(retransmitLimit(4, 999), 12);
  assert.equal(retransmitLimit(4, 1000), 16);
});

test('a broadcast is sent exactly the retransmit limit times, which grows with the cluster', () => {
  for (const [n, limit] of [[5, 4], [50, 8], [500, 12]] as const) {
    const q = new BroadcastQueue({ retransmitMult: 4, numMembers: () => n });
    let finished = 0;
    q.queue({ name: 'x', message: msg(1), onFinished: () => { finished++; } });
    let sent = 0;
    while (q.getBroadcasts(2, 1400).length > 0) sent++;
    assert.equal(sent, limit, `n=${n}`);
    assert.equal(finished, 1);
    assert.equal(q.length, 0);
  }
});

test('a newer broadcast about the same member replaces the older one and finishes it', () => {
  const q = new BroadcastQueue({ retransmitMult: 4, numMembers: () => 5 });
  const finished: string[] = [];
  q.queue({ name: 'node-a', message: msg(1), onFinished: () => finished.push('old a') });
  q.queue({ name: 'node-b', message: msg(2), onFinished: () => finished.push('b') });
  q.getBroadcasts(2, 1400);
  q.queue({ name: 'node-a', message: msg(3), onFinished: () => finished.push('new a') });
  assert.deepEqual(finished, ['old a']);
  assert.equal(q.length, 2);
  const out = q.getBroadcasts(2, 1400);
  assert.deepEqual(out.map((m) => m[0]), [3, 2], 'the new one (0 transmits) goes before the older b (1 transmit)');
});

test('fewest transmits first, then larger, then newer; within the byte budget and the count limit', () => {
  const q = new BroadcastQueue({ retransmitMult: 10, numMembers: () => 5 });
  q.queue({ name: 'a', message: msg(1, 100) });
  q.getBroadcasts(2, 1400); // a: 1 transmit
  q.queue({ name: 'b', message: msg(2, 50) });
  q.queue({ name: 'c', message: msg(3, 200) });
  q.queue({ name: 'd', message: msg(4, 50) });
  assert.deepEqual(q.getBroadcasts(2, 1400).map((m) => m[0]), [3, 4, 2, 1]);
  // Budget: 2 bytes overhead each; only what fits is taken, smaller ones fill the rest.
  q.queue({ name: 'e', message: msg(5, 300) });
  q.queue({ name: 'f', message: msg(6, 100) });
  assert.deepEqual(q.getBroadcasts(2, 310).map((m) => m[0]), [5]);
  assert.deepEqual(q.getBroadcasts(2, 160, 1).map((m) => m[0]), [6], 'count limit');
});
