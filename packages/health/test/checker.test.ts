import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShoalError, type HealthCheck } from '@shoal/model';
import { createHealthChecker, type HealthChange, type HealthCheckerOptions } from '../src/index.js';
import { FakeProber, ManualClock, TCP, backend, instance, seededRandom } from './fakes.js';

function setup(options: HealthCheckerOptions = {}) {
  const clock = new ManualClock();
  const prober = new FakeProber(clock);
  const checker = createHealthChecker({ clock, prober, jitterFraction: 0, ...options });
  const changes: HealthChange[] = [];
  checker.onChange((c) => changes.push(c));
  return { clock, prober, checker, changes };
}

const A1 = '10.0.0.1:8080';

test('a backend is up after its first success, down after exactly fall failures, up after exactly rise successes', async () => {
  const { clock, prober, checker, changes } = setup();
  checker.setTargets([instance('i', [backend(1)])]);
  assert.equal(checker.state('i', 'b1'), 'unknown');
  await clock.advance(0);
  assert.equal(checker.state('i', 'b1'), 'up');
  assert.deepEqual(changes.map((c) => [c.from, c.to]), [['unknown', 'up']]);

  prober.behaviour.set(A1, 'fail');
  await clock.advance(2000);
  assert.equal(checker.state('i', 'b1'), 'up', 'two failures of fall 3');
  await clock.advance(1000);
  assert.equal(checker.state('i', 'b1'), 'down');
  assert.equal(changes.length, 2);
  assert.match(changes[1]?.reason ?? '', /3 consecutive failed probes \(fall 3\); last: fake fail/);

  prober.behaviour.set(A1, 'ok');
  await clock.advance(1000);
  assert.equal(checker.state('i', 'b1'), 'down', 'one success of rise 2');
  await clock.advance(1000);
  assert.equal(checker.state('i', 'b1'), 'up');
  assert.deepEqual(changes.map((c) => [c.instanceId, c.backendId, c.from, c.to]), [
    ['i', 'b1', 'unknown', 'up'], ['i', 'b1', 'up', 'down'], ['i', 'b1', 'down', 'up'],
  ]);
  assert.deepEqual(prober.callsTo(A1).map((c) => c.at), [0, 1000, 2000, 3000, 4000, 5000]);
  await checker.close();
});

test('initialState up serves at once and goes down only after fall failures', async () => {
  const { clock, prober, checker, changes } = setup({ initialState: 'up' });
  prober.defaultBehaviour = 'fail';
  checker.setTargets([instance('i', [backend(1)])]);
  assert.equal(checker.state('i', 'b1'), 'up');
  assert.deepEqual(changes.map((c) => c.to), ['up']);
  await clock.advance(1000);
  assert.equal(checker.state('i', 'b1'), 'up');
  await clock.advance(1000);
  assert.equal(checker.state('i', 'b1'), 'down');
  await checker.close();
});

test('type none backends are up without a probe; stopped instances and disabled backends are never probed', async () => {
  const { clock, prober, checker } = setup();
  checker.setTargets([
    instance('none', [backend(1)], { healthCheck: { type: 'none' } }),
    instance('stopped', [backend(2)], { state: 'stopped' }),
    instance('disabled', [backend(3, { enabled: false })]),
  ]);
  await clock.advance(10_000);
  assert.equal(prober.calls.length, 0);
  assert.equal(checker.state('none', 'b1'), 'up');
  assert.equal(checker.state('stopped', 'b2'), 'unknown');
  assert.equal(checker.state('disabled', 'b3'), 'unknown');
  assert.deepEqual(checker.states().map((s) => [s.instanceId, s.state, s.checkType]), [['none', 'up', 'none']]);
  await checker.close();
});

test('a removed target stops probing, reads unknown and says so', async () => {
  const { clock, prober, checker, changes } = setup();
  checker.setTargets([instance('i', [backend(1), backend(2)])]);
  await clock.advance(0);
  checker.setTargets([instance('i', [backend(2)])]);
  const before = prober.callsTo(A1).length;
  await clock.advance(10_000);
  assert.equal(prober.callsTo(A1).length, before);
  assert.equal(prober.callsTo('10.0.0.2:8080').length, 11);
  assert.equal(checker.state('i', 'b1'), 'unknown');
  assert.deepEqual(changes.filter((c) => c.backendId === 'b1').map((c) => c.to), ['up', 'unknown']);
  // Stopping the instance removes the rest.
  checker.setTargets([instance('i', [backend(2)], { state: 'stopped' })]);
  await clock.advance(10_000);
  assert.equal(prober.callsTo('10.0.0.2:8080').length, 11);
  assert.equal(clock.pendingTimers, 0);
  await checker.close();
});

test('a hung probe fails at its timeout and the next probe of that backend never overlaps it', async () => {
  const { clock, prober, checker, changes } = setup();
  prober.behaviour.set(A1, 'hang');
  checker.setTargets([instance('i', [backend(1)])]);
  await clock.advance(499);
  assert.equal(checker.state('i', 'b1'), 'unknown');
  await clock.advance(1);
  assert.equal(checker.state('i', 'b1'), 'down');
  assert.match(changes[0]?.reason ?? '', /timeout after 500 ms/);
  assert.equal(prober.calls[0]?.signal.aborted, true, 'the prober is told to let go');
  await clock.advance(9500); // t = 10 000: probes at 0, 1000, ..., 10 000
  assert.equal(prober.callsTo(A1).length, 11);
  assert.equal(prober.maxPerTarget, 1);
  await checker.close();
});

test('a prober that ignores its abort signal stalls only its own backend', async () => {
  const { clock, prober, checker } = setup({ maxConcurrentProbes: 1 });
  prober.behaviour.set(A1, 'stuck');
  checker.setTargets([instance('i', [backend(1), backend(2)])]);
  await clock.advance(10_000);
  assert.equal(prober.callsTo(A1).length, 1, 'no second probe while the first is unsettled');
  assert.equal(checker.state('i', 'b1'), 'down', 'the deadline still counts a failure');
  assert.ok(prober.callsTo('10.0.0.2:8080').length >= 9, 'the slot went back to the other backend');
  assert.equal(checker.state('i', 'b2'), 'up');
  assert.equal(prober.maxPerTarget, 1);
  void checker.close(); // would wait forever on the stuck probe
});

test('no more than maxConcurrentProbes probes run at once, and every queued backend gets its turn', async () => {
  const { clock, prober, checker } = setup({ maxConcurrentProbes: 3 });
  prober.defaultBehaviour = 'manual';
  checker.setTargets([instance('i', Array.from({ length: 10 }, (_, n) => backend(n + 1)))]);
  await clock.advance(0);
  assert.equal(prober.inFlight, 3);
  for (let answered = 0; answered < 10; answered++) {
    assert.ok(prober.release(true));
    await clock.advance(0);
    assert.ok(prober.inFlight <= 3);
  }
  assert.equal(prober.maxTotal, 3);
  assert.equal(prober.calls.length, 10);
  assert.ok(checker.states().every((s) => s.state === 'up'));
  await checker.close();
});

test('queued probes do not use up their timeout waiting for a slot', async () => {
  const { clock, prober, checker } = setup({ maxConcurrentProbes: 1 });
  prober.defaultBehaviour = 'manual';
  checker.setTargets([instance('i', [backend(1), backend(2)])]);
  await clock.advance(400);
  assert.ok(prober.release(true, A1));
  await clock.advance(400); // b2 started at 400; 400 ms later it is still within its 500 ms
  assert.equal(checker.state('i', 'b2'), 'unknown');
  assert.ok(prober.release(true, '10.0.0.2:8080'));
  await clock.advance(0);
  assert.equal(checker.state('i', 'b2'), 'up');
  await checker.close();
});

test('changed check parameters restart the loop and keep the verdict; a changed address starts afresh', async () => {
  const { clock, prober, checker, changes } = setup();
  const http: HealthCheck = { type: 'http', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3, path: '/a', expectedStatus: [200] };
  checker.setTargets([instance('i', [backend(1)], { healthCheck: http })]);
  await clock.advance(500);
  assert.equal(checker.state('i', 'b1'), 'up');
  checker.setTargets([instance('i', [backend(1)], { healthCheck: { ...http, path: '/b' } })]);
  assert.equal(checker.state('i', 'b1'), 'up');
  await clock.advance(0);
  const last = prober.calls.at(-1)?.target.check;
  assert.equal(last?.type === 'http' ? last.path : undefined, '/b');
  assert.equal(prober.calls.length, 2, 'restarted at once, not after the old interval');
  assert.equal(changes.length, 1);

  // Same parameters, other object: nothing restarts.
  checker.setTargets([instance('i', [backend(1)], { healthCheck: { ...http, path: '/b' } })]);
  await clock.advance(0);
  assert.equal(prober.calls.length, 2);

  prober.defaultBehaviour = 'fail';
  checker.setTargets([instance('i', [backend(1, { ip: '10.0.0.9' })], { healthCheck: { ...http, path: '/b' } })]);
  assert.equal(checker.state('i', 'b1'), 'unknown');
  assert.match(changes.at(-1)?.reason ?? '', /address changed to 10\.0\.0\.9:8080/);
  await clock.advance(0);
  assert.equal(checker.state('i', 'b1'), 'down');
  assert.equal(prober.calls.at(-1)?.addr, '10.0.0.9:8080');

  checker.setTargets([instance('i', [backend(1, { ip: '10.0.0.9' })], { healthCheck: { type: 'none' } })]);
  assert.equal(checker.state('i', 'b1'), 'up');
  const probes = prober.calls.length;
  await clock.advance(5000);
  assert.equal(prober.calls.length, probes);
  await checker.close();
});

test('jitter keeps every interval within ±jitterFraction and spreads first probes', async () => {
  const { clock, prober, checker } = setup({ jitterFraction: 0.1, random: seededRandom(42) });
  checker.setTargets([instance('i', Array.from({ length: 20 }, (_, n) => backend(n + 1)))]);
  await clock.advance(20_000);
  const firsts = new Set<number>();
  for (let n = 1; n <= 20; n++) {
    const at = prober.callsTo(`10.0.0.${n}:8080`).map((c) => c.at);
    firsts.add(at[0] ?? -1);
    assert.ok((at[0] ?? -1) >= 0 && (at[0] ?? -1) <= 100, `first probe within 10% of the interval: ${at[0]}`);
    for (let i = 1; i < at.length; i++) {
      const gap = (at[i] ?? 0) - (at[i - 1] ?? 0);
      assert.ok(gap >= 900 && gap <= 1100, `gap ${gap}`);
    }
  }
  assert.ok(firsts.size > 10, 'first probes are spread, not simultaneous');
  await checker.close();
});

test('close cancels every timer and aborts probes in flight; no events after', async () => {
  const { clock, prober, checker, changes } = setup();
  prober.defaultBehaviour = 'hang';
  checker.setTargets([instance('i', [backend(1), backend(2)])]);
  await clock.advance(100);
  assert.equal(prober.inFlight, 2);
  await checker.close();
  assert.equal(prober.inFlight, 0);
  assert.ok(prober.calls.every((c) => c.signal.aborted));
  assert.equal(clock.pendingTimers, 0);
  await clock.advance(10_000);
  assert.equal(prober.calls.length, 2);
  assert.equal(changes.length, 0);
  assert.equal(checker.state('i', 'b1'), 'unknown');
});

test('a listener that throws does not stop the others; unsubscribing works', async () => {
  const { clock, checker } = setup();
  const seen: string[] = [];
  checker.onChange(() => { throw new Error('boom'); });
  const off = checker.onChange((c) => seen.push(c.to));
  checker.setTargets([instance('i', [backend(1)], { healthCheck: TCP })]);
  await clock.advance(0);
  off();
  checker.setTargets([]);
  assert.deepEqual(seen, ['up']);
  await checker.close();
});

test('bad options fail with E_CONFIG naming the field', () => {
  assert.throws(() => createHealthChecker({ maxConcurrentProbes: 0 }), (err: unknown) =>
    err instanceof ShoalError && err.code === 'E_CONFIG' && err.issues?.[0]?.path === 'maxConcurrentProbes');
  assert.throws(() => createHealthChecker({ jitterFraction: 0.9 }), (err: unknown) => err instanceof ShoalError && err.issues?.[0]?.path === 'jitterFraction');
});
