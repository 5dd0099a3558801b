import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, TimerSet, type Clock } from '../src/index.js';

/** Time moves only in advance(); due timers run in the order they were set. */
class HandClock implements Clock {
  #now = 0;
  #pending: { due: number; fn: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { due: this.#now + ms, fn, cancelled: false };
    this.#pending.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    const timer = this.#pending.find((t) => t === handle);
    if (timer !== undefined) timer.cancelled = true;
  }

  advance(ms: number): void {
    this.#now += ms;
    const due = this.#pending.filter((t) => t.due <= this.#now).sort((a, b) => a.due - b.due);
    this.#pending = this.#pending.filter((t) => t.due > this.#now);
    for (const t of due) if (!t.cancelled) t.fn();
  }
}

test('a TimerSet runs its timers when due, and a cancelled one never', () => {
  const clock = new HandClock();
  const timers = new TimerSet(clock, (err: unknown) => {
    throw err;
  });
  const ran: string[] = [];
  timers.after(10, () => ran.push('a'));
  const cancelB = timers.after(20, () => ran.push('b'));
  timers.after(-5, () => ran.push('negative delay runs at once'));
  assert.equal(timers.size, 3);
  clock.advance(0);
  cancelB();
  cancelB();
  clock.advance(30);
  assert.deepEqual(ran, ['negative delay runs at once', 'a']);
  assert.equal(timers.size, 0);
});

test('a timer that throws is reported to onError and the others still run', () => {
  const clock = new HandClock();
  const errors: unknown[] = [];
  const timers = new TimerSet(clock, (err) => errors.push(err));
  const ran: number[] = [];
  timers.after(1, () => {
    throw new Error('boom');
  });
  timers.after(2, () => ran.push(2));
  clock.advance(5);
  assert.equal(errors.length, 1);
  assert.deepEqual(ran, [2]);
});

test('close() cancels every pending timer and refuses new ones', () => {
  const clock = new HandClock();
  const timers = new TimerSet(clock, () => undefined);
  const ran: number[] = [];
  timers.after(1, () => ran.push(1));
  timers.close();
  const cancel = timers.after(1, () => ran.push(2));
  cancel();
  clock.advance(5);
  assert.deepEqual(ran, []);
  assert.equal(timers.size, 0);
});

test('the system clock is monotonic and its timers fire and cancel', async () => {
  const t0 = systemClock.now();
  await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 1));
  assert.ok(systemClock.now() >= t0);
  let fired = false;
  const handle = systemClock.setTimeout(() => (fired = true), 1);
  systemClock.clearTimeout(handle);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(fired, false);
});
