import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Awareness } from '../src/awareness.js';
import { Suspicion, remainingSuspicionTimeMs, suspicionTimeoutMs } from '../src/suspicion.js';
import { ManualClock } from './fakes.js';

test('the base suspicion timeout scales with log10 of the cluster size, never below one interval per multiple', () => {
  // memberlist util_test TestSuspicionTimeout: suspicionTimeout(3, n, 1s) / 3.
  const expected: [number, number][] = [[1, 1000], [5, 1000], [10, 1000], [50, 1698], [100, 2000], [500, 2698], [1000, 3000]];
  for (const [n, ms] of expected) assert.equal(suspicionTimeoutMs(3, n, 1000) / 3, ms, `n=${n}`);
  // The LAN profile: 4 * max(1, log10(n)) * 1 s.
  assert.equal(suspicionTimeoutMs(4, 5, 1000), 4000);
  assert.equal(suspicionTimeoutMs(4, 100, 1000), 8000);
});

test('the remaining suspicion time follows max - (max - min) * log(C + 1) / log(k + 1), floored at min', () => {
  // memberlist suspicion_test TestSuspicion_remainingSuspicionTime, by hand with min 2 s, max 30 s, k 3:
  //   C=0: 30 s;  C=1: log 2 / log 4 = 0.5 -> 30 - 14 = 16 s, 2 s elapsed -> 14 s
  //   C=2: log 3 / log 4 = 0.79248 -> 30 - 22.19 = 7.81 s, 3 s elapsed -> 4.81 s
  //   C=3: -> min 2 s, 4 s elapsed -> -2 s (fire now);  C=4, C=5: still the floor.
  const cases: [number, number, number][] = [[0, 0, 30_000], [1, 2000, 14_000], [2, 3000, 4810], [3, 4000, -2000], [4, 5000, -3000], [5, 10_000, -8000]];
  for (const [c, elapsed, want] of cases) assert.equal(remainingSuspicionTimeMs(c, 3, elapsed, 2000, 30_000), want, `C=${c}`);
});

test('a suspicion with no confirmations fires at its maximum', async () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const s = new Suspicion({ from: 'a', k: 3, minMs: 2000, maxMs: 30_000, clock, onTimeout: (n) => fired.push(n) });
  assert.equal(s.timeoutMs, 30_000);
  await clock.advance(29_999);
  assert.deepEqual(fired, []);
  await clock.advance(1);
  assert.deepEqual(fired, [0]);
});

test('independent confirmations pull the timer toward the minimum; repeats and the accuser do not count', async () => {
  const clock = new ManualClock();
  const fired: { at: number; n: number }[] = [];
  const s = new Suspicion({ from: 'a', k: 3, minMs: 2000, maxMs: 30_000, clock, onTimeout: (n) => fired.push({ at: clock.now(), n }) });
  assert.equal(s.confirm('a'), false, 'the accuser is not a confirmation');
  await clock.advance(2000);
  assert.equal(s.confirm('b'), true);
  assert.equal(s.confirm('b'), false, 'one confirmation per member');
  assert.equal(s.timeoutMs, 16_000);
  await clock.advance(1000);
  assert.equal(s.confirm('c'), true);
  assert.equal(s.timeoutMs, 7810);
  await clock.advance(4809);
  assert.deepEqual(fired, []);
  await clock.advance(1);
  assert.deepEqual(fired, [{ at: 7810, n: 2 }]);
  assert.equal(s.confirm('d'), false, 'nothing after it fired');
});

test('reaching k confirmations past the minimum fires at once, and further confirmations are not news', async () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const s = new Suspicion({ from: 'a', k: 1, minMs: 2000, maxMs: 30_000, clock, onTimeout: () => fired.push(clock.now()) });
  await clock.advance(5000);
  assert.equal(s.confirm('b'), true);
  assert.equal(s.confirm('c'), false, 'k reached');
  await clock.advance(0);
  assert.deepEqual(fired, [5000]);
});

test('with k = 0 (a cluster too small to confirm) the timer starts at the minimum; cancel stops it', async () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const s = new Suspicion({ from: 'a', k: 0, minMs: 3000, maxMs: 18_000, clock, onTimeout: () => fired.push(clock.now()) });
  assert.equal(s.confirm('b'), false);
  await clock.advance(3000);
  assert.deepEqual(fired, [3000]);
  const t = new Suspicion({ from: 'a', k: 0, minMs: 3000, maxMs: 18_000, clock, onTimeout: () => fired.push(-1) });
  t.cancel();
  await clock.advance(10_000);
  assert.deepEqual(fired, [3000]);
});

test('local health rises on trouble, falls on success, stays within 0 .. max - 1, and scales timeouts by score + 1', () => {
  const a = new Awareness(8);
  assert.equal(a.score, 0);
  assert.equal(a.scale(1000), 1000);
  a.applyDelta(-1);
  assert.equal(a.score, 0, 'never below 0');
  a.applyDelta(1); // a refutation
  a.applyDelta(2); // a failed probe with two missed nacks
  assert.equal(a.score, 3);
  assert.equal(a.scale(1000), 4000);
  assert.equal(a.scale(500), 2000);
  a.applyDelta(100);
  assert.equal(a.score, 7, 'capped at awarenessMaxMultiplier - 1');
  assert.equal(a.scale(1000), 8000, 'the probe interval backs off to 8 s, as memberlist says');
  a.applyDelta(-1);
  assert.equal(a.score, 6, 'a successful probe');
});
