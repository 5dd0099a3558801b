import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BgpFsm, backoffS, jitter, keepaliveS, negotiateHoldTime, resolveCollision, type FsmAction, type FsmConfig, type FsmEvent, type FsmState } from '../src/fsm.js';

const CONFIG: FsmConfig = { holdTimeS: 90, connectRetryS: 5, connectRetryMaxS: 60, passive: false, autoRestart: true, random: () => 1 };

/** Compact action text: `connect`, `start-timer:hold=240`, `send-notification:4/0`. */
function sig(a: FsmAction): string {
  switch (a.type) {
    case 'start-timer':
      return `start-timer:${a.timer}=${Math.round(a.seconds * 1000) / 1000}`;
    case 'stop-timer':
      return `stop-timer:${a.timer}`;
    case 'send-notification':
      return `send-notification:${a.code}/${a.subcode}`;
    case 'connect':
    case 'drop-connection':
    case 'send-open':
    case 'send-keepalive':
    case 'release-resources':
      return a.type;
  }
}

const STOP_ALL = ['stop-timer:connectRetry', 'stop-timer:hold', 'stop-timer:keepalive', 'stop-timer:stable', 'drop-connection', 'release-resources'];

/** The events that bring a fresh FSM into `state` (active peer unless said otherwise). */
const PATHS: Record<string, FsmEvent[]> = {
  Idle: [],
  Connect: [{ type: 'ManualStart' }],
  Active: [{ type: 'ManualStart' }, { type: 'TcpConnectionFails' }],
  OpenSent: [{ type: 'ManualStart' }, { type: 'TcpCrAcked' }],
  OpenConfirm: [{ type: 'ManualStart' }, { type: 'TcpCrAcked' }, { type: 'BGPOpen', holdTimeS: 90 }],
  Established: [{ type: 'ManualStart' }, { type: 'TcpCrAcked' }, { type: 'BGPOpen', holdTimeS: 90 }, { type: 'KeepAliveMsg' }],
};

function fsmIn(state: FsmState, config: FsmConfig = CONFIG): BgpFsm {
  const fsm = new BgpFsm(config);
  for (const e of PATHS[state] ?? []) fsm.handle(e);
  assert.equal(fsm.state, state);
  return fsm;
}

interface Row {
  from: FsmState;
  event: FsmEvent;
  to: FsmState;
  actions: string[];
  passive?: boolean;
}

// Backoff with random() = 1 (no jitter): the ManualStart connect used attempt 0 (5 s), so the
// next interval is 10 s.
const TABLE: Row[] = [
  { from: 'Idle', event: { type: 'ManualStart' }, to: 'Connect', actions: ['connect', 'start-timer:connectRetry=5'] },
  { from: 'Idle', event: { type: 'ManualStart' }, to: 'Active', actions: [], passive: true },
  { from: 'Idle', event: { type: 'HoldTimerExpires' }, to: 'Idle', actions: [] },
  { from: 'Idle', event: { type: 'TcpConnectionConfirmed' }, to: 'Idle', actions: [] },
  { from: 'Idle', event: { type: 'ManualStop' }, to: 'Idle', actions: ['stop-timer:idleHold'] },
  { from: 'Connect', event: { type: 'TcpCrAcked' }, to: 'OpenSent', actions: ['stop-timer:connectRetry', 'send-open', 'start-timer:hold=240'] },
  { from: 'Connect', event: { type: 'TcpConnectionConfirmed' }, to: 'OpenSent', actions: ['stop-timer:connectRetry', 'send-open', 'start-timer:hold=240'] },
  { from: 'Connect', event: { type: 'TcpConnectionFails' }, to: 'Active', actions: ['drop-connection'] },
  { from: 'Connect', event: { type: 'ConnectRetryTimerExpires' }, to: 'Connect', actions: ['drop-connection', 'connect', 'start-timer:connectRetry=10'] },
  { from: 'Connect', event: { type: 'ManualStop', ceaseSubcode: 2 }, to: 'Idle', actions: ['stop-timer:idleHold', ...STOP_ALL] },
  { from: 'Active', event: { type: 'ConnectRetryTimerExpires' }, to: 'Connect', actions: ['connect', 'start-timer:connectRetry=10'] },
  { from: 'Active', event: { type: 'TcpConnectionConfirmed' }, to: 'OpenSent', actions: ['stop-timer:connectRetry', 'send-open', 'start-timer:hold=240'] },
  { from: 'Active', event: { type: 'ConnectRetryTimerExpires' }, to: 'Active', actions: [], passive: true },
  { from: 'OpenSent', event: { type: 'BGPOpen', holdTimeS: 3 }, to: 'OpenConfirm', actions: ['stop-timer:connectRetry', 'send-keepalive', 'start-timer:keepalive=1', 'start-timer:hold=3'] },
  // Hold Time 0: the large OpenSent Hold Timer keeps running until the KEEPALIVE (fsm.ts header).
  { from: 'OpenSent', event: { type: 'BGPOpen', holdTimeS: 0 }, to: 'OpenConfirm', actions: ['stop-timer:connectRetry', 'send-keepalive'] },
  { from: 'OpenSent', event: { type: 'HoldTimerExpires' }, to: 'Idle', actions: ['send-notification:4/0', ...STOP_ALL, 'start-timer:idleHold=10'] },
  {
    from: 'OpenSent',
    event: { type: 'BGPOpenMsgErr', notification: { code: 2, subcode: 2 } },
    to: 'Idle',
    actions: ['send-notification:2/2', ...STOP_ALL, 'start-timer:idleHold=10'],
  },
  { from: 'OpenSent', event: { type: 'BGPHeaderErr', notification: { code: 1, subcode: 1 } }, to: 'Idle', actions: ['send-notification:1/1', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenSent', event: { type: 'NotifMsg' }, to: 'Idle', actions: [...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenSent', event: { type: 'KeepAliveMsg' }, to: 'Idle', actions: ['send-notification:5/1', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenSent', event: { type: 'UpdateMsg' }, to: 'Idle', actions: ['send-notification:5/1', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenSent', event: { type: 'TcpConnectionFails' }, to: 'Active', actions: ['stop-timer:hold', 'drop-connection', 'release-resources', 'start-timer:connectRetry=10'] },
  { from: 'OpenSent', event: { type: 'OpenCollisionDump' }, to: 'Idle', actions: ['send-notification:6/7', ...STOP_ALL] },
  { from: 'OpenSent', event: { type: 'ManualStop', ceaseSubcode: 2 }, to: 'Idle', actions: ['stop-timer:idleHold', 'send-notification:6/2', ...STOP_ALL] },
  { from: 'OpenConfirm', event: { type: 'KeepAliveMsg' }, to: 'Established', actions: ['start-timer:hold=90', 'start-timer:stable=60'] },
  { from: 'OpenConfirm', event: { type: 'KeepaliveTimerExpires' }, to: 'OpenConfirm', actions: ['send-keepalive', 'start-timer:keepalive=30'] },
  { from: 'OpenConfirm', event: { type: 'HoldTimerExpires' }, to: 'Idle', actions: ['send-notification:4/0', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenConfirm', event: { type: 'UpdateMsg' }, to: 'Idle', actions: ['send-notification:5/2', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenConfirm', event: { type: 'BGPOpen', holdTimeS: 90 }, to: 'Idle', actions: ['send-notification:5/2', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenConfirm', event: { type: 'NotifMsg' }, to: 'Idle', actions: [...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenConfirm', event: { type: 'TcpConnectionFails' }, to: 'Idle', actions: [...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'OpenConfirm', event: { type: 'OpenCollisionDump' }, to: 'Idle', actions: ['send-notification:6/7', ...STOP_ALL] },
  { from: 'Established', event: { type: 'KeepAliveMsg' }, to: 'Established', actions: ['start-timer:hold=90'] },
  { from: 'Established', event: { type: 'UpdateMsg' }, to: 'Established', actions: ['start-timer:hold=90'] },
  { from: 'Established', event: { type: 'KeepaliveTimerExpires' }, to: 'Established', actions: ['send-keepalive', 'start-timer:keepalive=30'] },
  { from: 'Established', event: { type: 'StableTimerExpires' }, to: 'Established', actions: [] },
  { from: 'Established', event: { type: 'HoldTimerExpires' }, to: 'Idle', actions: ['send-notification:4/0', ...STOP_ALL, 'start-timer:idleHold=10'] },
  {
    from: 'Established',
    event: { type: 'UpdateMsgErr', notification: { code: 3, subcode: 1 } },
    to: 'Idle',
    actions: ['send-notification:3/1', ...STOP_ALL, 'start-timer:idleHold=10'],
  },
  { from: 'Established', event: { type: 'BGPOpen', holdTimeS: 90 }, to: 'Idle', actions: ['send-notification:5/3', ...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'Established', event: { type: 'NotifMsg' }, to: 'Idle', actions: [...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'Established', event: { type: 'TcpConnectionFails' }, to: 'Idle', actions: [...STOP_ALL, 'start-timer:idleHold=10'] },
  { from: 'Established', event: { type: 'OpenCollisionDump' }, to: 'Idle', actions: ['send-notification:6/7', ...STOP_ALL] },
  { from: 'Established', event: { type: 'ManualStop', ceaseSubcode: 2 }, to: 'Idle', actions: ['stop-timer:idleHold', 'send-notification:6/2', ...STOP_ALL] },
  { from: 'Established', event: { type: 'ManualStop' }, to: 'Idle', actions: ['stop-timer:idleHold', ...STOP_ALL] },
];

test('the RFC 4271 8.2.2 transition table (state x event -> state + actions)', () => {
  for (const row of TABLE) {
    const config = { ...CONFIG, passive: row.passive ?? false };
    const fsm = fsmIn(row.from === 'Active' && row.passive === true ? 'Idle' : row.from, config);
    if (row.from === 'Active' && row.passive === true) fsm.handle({ type: 'ManualStart' });
    const t = fsm.handle(row.event);
    const label = `${row.from}${row.passive === true ? ' (passive)' : ''} + ${row.event.type}`;
    assert.equal(t.from, row.from, label);
    assert.equal(t.to, row.to, label);
    assert.equal(fsm.state, row.to, label);
    assert.deepEqual(t.actions.map(sig), row.actions, label);
  }
});

test('connect-retry backs off exponentially to the ceiling', () => {
  const fsm = fsmIn('Connect');
  const seconds: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t = fsm.handle({ type: 'ConnectRetryTimerExpires' });
    const start = t.actions.find((a) => a.type === 'start-timer');
    assert.ok(start?.type === 'start-timer');
    seconds.push(start.seconds);
  }
  assert.deepEqual(seconds, [10, 20, 40, 60, 60, 60]);
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => backoffS(n, 1, 5)), [1, 2, 4, 5, 5]);
});

test('timers are jittered by 0.75..1.0 (RFC 4271 10)', () => {
  assert.equal(jitter(4, () => 0), 3);
  assert.equal(jitter(4, () => 1), 4);
  const low = new BgpFsm({ ...CONFIG, random: () => 0 });
  const start = low.handle({ type: 'ManualStart' }).actions.find((a) => a.type === 'start-timer');
  assert.ok(start?.type === 'start-timer');
  assert.equal(start.seconds, 3.75);
  const est = fsmIn('OpenSent', { ...CONFIG, random: () => 0 });
  const keepalive = est.handle({ type: 'BGPOpen', holdTimeS: 9 }).actions.find((a) => a.type === 'start-timer' && a.timer === 'keepalive');
  assert.ok(keepalive?.type === 'start-timer');
  assert.equal(keepalive.seconds, 2.25);
});

test('a session that lasted resets the backoff and the first retry after it goes at once', () => {
  const fsm = fsmIn('Established');
  fsm.handle({ type: 'StableTimerExpires' });
  const down = fsm.handle({ type: 'HoldTimerExpires' });
  assert.deepEqual(down.actions.filter((a) => a.type === 'start-timer').map(sig), ['start-timer:idleHold=0']);
  const again = fsm.handle({ type: 'IdleHoldTimerExpires' });
  assert.equal(again.to, 'Connect');
  assert.deepEqual(again.actions.map(sig), ['connect', 'start-timer:connectRetry=5']);
});

test('a session that flaps keeps backing off between attempts', () => {
  const fsm = fsmIn('Established');
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const down = fsm.handle({ type: 'NotifMsg' });
    const idle = down.actions.find((a) => a.type === 'start-timer' && a.timer === 'idleHold');
    assert.ok(idle?.type === 'start-timer');
    delays.push(idle.seconds);
    fsm.handle({ type: 'IdleHoldTimerExpires' });
    fsm.handle({ type: 'TcpCrAcked' });
    fsm.handle({ type: 'BGPOpen', holdTimeS: 90 });
    fsm.handle({ type: 'KeepAliveMsg' });
  }
  assert.deepEqual(delays, [10, 40, 60, 60]);
});

test('after ManualStop nothing restarts, and ManualStart starts over', () => {
  const fsm = fsmIn('Established');
  fsm.handle({ type: 'ManualStop', ceaseSubcode: 2 });
  assert.deepEqual(fsm.handle({ type: 'IdleHoldTimerExpires' }).actions, []);
  assert.equal(fsm.state, 'Idle');
  assert.deepEqual(fsm.handle({ type: 'ManualStart' }).actions.map(sig), ['connect', 'start-timer:connectRetry=5']);
});

test('a collision candidate FSM ends in Idle without restarting, unless promoted', () => {
  const candidate = BgpFsm.forOpenConnection(CONFIG);
  assert.equal(candidate.state, 'Active');
  assert.equal(candidate.handle({ type: 'TcpConnectionConfirmed' }).to, 'OpenSent');
  const failed = candidate.handle({ type: 'TcpConnectionFails' });
  assert.equal(failed.to, 'Idle');
  assert.ok(!failed.actions.some((a) => a.type === 'start-timer'));

  const winner = BgpFsm.forOpenConnection(CONFIG);
  winner.handle({ type: 'TcpConnectionConfirmed' });
  winner.handle({ type: 'BGPOpen', holdTimeS: 90 });
  winner.promote(fsmIn('OpenSent'), false);
  const down = winner.handle({ type: 'HoldTimerExpires' });
  assert.ok(down.actions.some((a) => a.type === 'start-timer' && a.timer === 'idleHold'));
  assert.equal(winner.handle({ type: 'IdleHoldTimerExpires' }).to, 'Connect');
});

test('only Connect and Active take a new connection', () => {
  const accepts = (['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'] as const).map((s) => fsmIn(s).acceptsConnection);
  assert.deepEqual(accepts, [false, true, true, false, false, false]);
});

test('with a negotiated Hold Time of 0, OpenConfirm still ends at the large Hold Timer, and Established runs none', () => {
  const fsm = fsmIn('OpenSent');
  fsm.handle({ type: 'BGPOpen', holdTimeS: 0 });
  assert.equal(fsm.state, 'OpenConfirm');
  const up = fsm.handle({ type: 'KeepAliveMsg' });
  assert.equal(up.to, 'Established');
  assert.deepEqual(up.actions.map(sig), ['stop-timer:hold', 'start-timer:stable=60']);
  assert.deepEqual(fsm.handle({ type: 'KeepAliveMsg' }).actions, [], 'no Hold Timer to restart');

  const parked = fsmIn('OpenSent');
  parked.handle({ type: 'BGPOpen', holdTimeS: 0 });
  const down = parked.handle({ type: 'HoldTimerExpires' });
  assert.equal(down.to, 'Idle');
  assert.equal(down.actions.map(sig)[0], 'send-notification:4/0');
});

/** The FSM after a session that ended by `event` from Established. */
function endedBy(event: FsmEvent): BgpFsm {
  const fsm = fsmIn('Established');
  fsm.handle(event);
  assert.equal(fsm.state, 'Idle');
  return fsm;
}

test('during the idle hold after a clean end, Idle takes the peer\'s connection and goes to OpenSent (RFC 4271 8.1.1 event 5)', () => {
  const clean: FsmEvent[] = [{ type: 'NotifMsg', code: 6 }, { type: 'TcpConnectionFails' }, { type: 'HoldTimerExpires' }];
  for (const event of clean) {
    const fsm = endedBy(event);
    assert.equal(fsm.acceptsConnectionInIdleHold, true, event.type);
    assert.equal(fsm.acceptsConnection, false, 'not a listening state');
    const t = fsm.handle({ type: 'TcpConnectionConfirmed' });
    assert.equal(t.to, 'OpenSent', event.type);
    assert.deepEqual(t.actions.map(sig), ['stop-timer:idleHold', 'stop-timer:connectRetry', 'send-open', 'start-timer:hold=240']);
    assert.equal(fsm.acceptsConnectionInIdleHold, false);
    // The session goes on from there like any other: OPEN, KEEPALIVE, Established.
    fsm.handle({ type: 'BGPOpen', holdTimeS: 90 });
    assert.equal(fsm.handle({ type: 'KeepAliveMsg' }).to, 'Established');
  }
});

test('after an error NOTIFICATION either way, Idle refuses until the idle hold expires', () => {
  const errors: FsmEvent[] = [
    { type: 'NotifMsg', code: 2 },
    { type: 'NotifMsg' },
    { type: 'UpdateMsgErr', notification: { code: 3, subcode: 1 } },
    { type: 'BGPHeaderErr', notification: { code: 1, subcode: 1 } },
    { type: 'BGPOpen', holdTimeS: 90 }, // FSM Error
  ];
  for (const event of errors) {
    const fsm = endedBy(event);
    assert.equal(fsm.acceptsConnectionInIdleHold, false, event.type);
    const t = fsm.handle({ type: 'TcpConnectionConfirmed' });
    assert.equal(t.to, 'Idle');
    assert.deepEqual(t.actions, []);
    assert.equal(fsm.handle({ type: 'IdleHoldTimerExpires' }).to, 'Connect', 'the idle hold still brings it back');
  }
});

test('no early accept without a pending idle hold: before start, after ManualStop, once the timer expired, for a collision candidate', () => {
  assert.equal(new BgpFsm(CONFIG).acceptsConnectionInIdleHold, false);
  const stopped = fsmIn('Established');
  stopped.handle({ type: 'ManualStop', ceaseSubcode: 2 });
  assert.equal(stopped.acceptsConnectionInIdleHold, false);
  assert.equal(stopped.handle({ type: 'TcpConnectionConfirmed' }).to, 'Idle');
  const expired = endedBy({ type: 'TcpConnectionFails' });
  expired.handle({ type: 'IdleHoldTimerExpires' });
  assert.equal(expired.acceptsConnectionInIdleHold, false);
  const candidate = BgpFsm.forOpenConnection(CONFIG);
  candidate.handle({ type: 'TcpConnectionConfirmed' });
  candidate.handle({ type: 'BGPOpen', holdTimeS: 90 });
  candidate.handle({ type: 'KeepAliveMsg' });
  candidate.handle({ type: 'NotifMsg', code: 6 });
  assert.equal(candidate.acceptsConnectionInIdleHold, false, 'a candidate does not restart');
  // An OpenSent that never saw an OPEN and timed out is no clean end either.
  const silent = fsmIn('OpenSent');
  silent.handle({ type: 'HoldTimerExpires' });
  assert.equal(silent.acceptsConnectionInIdleHold, false);
});

test('hold time: the smaller proposal, 0 disables, 1 and 2 are unacceptable; keepalive is a third', () => {
  assert.equal(negotiateHoldTime(90, 3), 3);
  assert.equal(negotiateHoldTime(3, 90), 3);
  assert.equal(negotiateHoldTime(90, 0), 0);
  assert.equal(negotiateHoldTime(0, 90), 0);
  assert.equal(negotiateHoldTime(90, 1), undefined);
  assert.equal(negotiateHoldTime(90, 2), undefined);
  assert.equal(keepaliveS(90), 30);
  assert.equal(keepaliveS(3), 1);
  const fsm = fsmIn('OpenSent', { ...CONFIG, holdTimeS: 3 });
  fsm.handle({ type: 'BGPOpen', holdTimeS: 90 });
  assert.equal(fsm.negotiatedHoldTimeS, 3);
});

test('collision resolution keeps the connection initiated by the higher BGP Identifier (RFC 4271 6.8, RFC 6286)', () => {
  assert.equal(resolveCollision({ localId: '10.0.0.2', localAsn: 1, remoteId: '10.0.0.1', remoteAsn: 2 }), 'keep-outbound');
  assert.equal(resolveCollision({ localId: '10.0.0.1', localAsn: 1, remoteId: '10.0.0.2', remoteAsn: 2 }), 'keep-inbound');
  // Unsigned comparison: 200.x is higher than 10.x and 128.x than 127.x.
  assert.equal(resolveCollision({ localId: '200.0.0.1', localAsn: 1, remoteId: '10.0.0.1', remoteAsn: 2 }), 'keep-outbound');
  assert.equal(resolveCollision({ localId: '127.255.255.255', localAsn: 1, remoteId: '128.0.0.0', remoteAsn: 2 }), 'keep-inbound');
  // Equal identifiers (allowed between ASes): the higher AS wins.
  assert.equal(resolveCollision({ localId: '10.0.0.1', localAsn: 65002, remoteId: '10.0.0.1', remoteAsn: 65001 }), 'keep-outbound');
  assert.equal(resolveCollision({ localId: '10.0.0.1', localAsn: 65001, remoteId: '10.0.0.1', remoteAsn: 65002 }), 'keep-inbound');
});
