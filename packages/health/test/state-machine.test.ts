import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialHealth, recordProbe, resetCounters, type HealthState, type InitialState } from '../src/index.js';

const LETTER: Record<string, HealthState> = { u: 'unknown', U: 'up', D: 'down' };

/**
 * probes: S success, F failure. states: the state after each probe (U up, D down), with the
 * state before the first probe in front (u unknown).
 */
const rows: { name: string; initial: InitialState; rise: number; fall: number; probes: string; states: string }[] = [
  { name: 'unknown goes up on the first success', initial: 'down', rise: 3, fall: 3, probes: 'S', states: 'u U' },
  { name: 'unknown goes down on the first failure', initial: 'down', rise: 2, fall: 3, probes: 'F', states: 'u D' },
  { name: 'down needs rise consecutive successes', initial: 'down', rise: 2, fall: 3, probes: 'FSS', states: 'u D D U' },
  { name: 'a failure restarts the rise count', initial: 'down', rise: 3, fall: 3, probes: 'FSSFSSS', states: 'u D D D D D D U' },
  { name: 'up goes down after exactly fall consecutive failures', initial: 'down', rise: 2, fall: 3, probes: 'SFFF', states: 'u U U U D' },
  { name: 'a success restarts the fall count', initial: 'down', rise: 2, fall: 3, probes: 'SFFSFFF', states: 'u U U U U U U D' },
  { name: 'rise 1 and fall 1 follow every probe', initial: 'down', rise: 1, fall: 1, probes: 'SFSF', states: 'u U D U D' },
  { name: 'initial up serves until fall failures', initial: 'up', rise: 2, fall: 2, probes: 'FFSS', states: 'U U D D U' },
  { name: 'initial up is not brought down by a lone failure', initial: 'up', rise: 2, fall: 2, probes: 'FSF', states: 'U U U U' },
  { name: 'a flapping backend stays down', initial: 'down', rise: 2, fall: 3, probes: 'FSFSFS', states: 'u D D D D D D' },
];

for (const row of rows) {
  test(`state machine: ${row.name} (rise ${row.rise}, fall ${row.fall}, ${row.probes})`, () => {
    const expected = row.states.split(' ').map((l) => LETTER[l]);
    let h = initialHealth(row.initial);
    const seen: (HealthState | undefined)[] = [h.state];
    const reasons: string[] = [];
    for (const p of row.probes) {
      const step = recordProbe(h, p === 'S', row);
      // A reason comes with a change of state, and only then.
      assert.equal(step.reason !== undefined, step.health.state !== h.state, `reason iff change at probe ${seen.length}`);
      if (step.reason !== undefined) reasons.push(step.reason);
      h = step.health;
      seen.push(h.state);
    }
    assert.deepEqual(seen, expected);
  });
}

test('counters count consecutive results and a restart keeps the verdict', () => {
  let h = initialHealth('down');
  for (const ok of [true, false, false]) h = recordProbe(h, ok, { rise: 2, fall: 5 }).health;
  assert.deepEqual(h, { state: 'up', successes: 0, failures: 2 });
  assert.deepEqual(resetCounters(h), { state: 'up', successes: 0, failures: 0 });
  const down = recordProbe({ state: 'up', successes: 0, failures: 2 }, false, { rise: 2, fall: 3 });
  assert.match(down.reason ?? '', /3 consecutive failed probes \(fall 3\)/);
});
