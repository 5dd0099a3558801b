import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SWIM_ERROR_CODES, SwimError, swimConfig } from '../src/index.js';

test('the lan profile carries memberlist DefaultLANConfig values', () => {
  const c = swimConfig('lan');
  assert.deepEqual(
    [c.probeIntervalMs, c.probeTimeoutMs, c.indirectChecks, c.retransmitMult, c.suspicionMult, c.suspicionMaxTimeoutMult, c.awarenessMaxMultiplier, c.gossipIntervalMs, c.gossipNodes, c.gossipToTheDeadMs, c.pushPullIntervalMs, c.tcpTimeoutMs, c.udpBufferSize, c.metaMaxBytes],
    [1000, 500, 3, 4, 4, 6, 8, 200, 3, 30_000, 30_000, 10_000, 1400, 512],
  );
  assert.ok(Object.isFrozen(c));
});

test('the local profile is lan with memberlist DefaultLocalConfig overrides', () => {
  const lan = swimConfig('lan');
  const local = swimConfig('local');
  const changed = Object.keys(lan).filter((k) => lan[k as keyof typeof lan] !== local[k as keyof typeof local]).sort();
  assert.deepEqual(changed, ['deadNodeReclaimTimeMs', 'gossipIntervalMs', 'gossipToTheDeadMs', 'indirectChecks', 'probeTimeoutMs', 'pushPullIntervalMs', 'reconnectIntervalMs', 'retransmitMult', 'suspicionMult', 'tcpTimeoutMs']);
  assert.deepEqual(
    [local.tcpTimeoutMs, local.indirectChecks, local.retransmitMult, local.suspicionMult, local.pushPullIntervalMs, local.probeTimeoutMs, local.probeIntervalMs, local.gossipIntervalMs, local.gossipToTheDeadMs],
    [1000, 1, 2, 3, 15_000, 200, 1000, 100, 15_000],
  );
});

test('overrides apply on top of the profile', () => {
  const c = swimConfig('local', { probeIntervalMs: 300, probeTimeoutMs: 100 });
  assert.equal(c.probeIntervalMs, 300);
  assert.equal(c.suspicionMult, 3);
});

test('a bad configuration fails with E_CONFIG naming the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ probeIntervalMs: 0 }, /probeIntervalMs: must be >= 1/],
    [{ probeTimeoutMs: 1000 }, /probeTimeoutMs: must be less than probeIntervalMs/],
    [{ gossipNodes: 1.5 }, /gossipNodes: must be an integer/],
    [{ replayWindow: 100 }, /replayWindow: must be a multiple of 32/],
    [{ udpBufferSize: 500 }, /udpBufferSize: must be >= 1024/],
    [{ metaMaxBytes: 1200 }, /metaMaxBytes: must be <= \d+: an alive message/],
    [{ probeIntervalMsTypo: 5 }, /probeIntervalMsTypo|Unrecognized key/],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(() => swimConfig('lan', overrides), (e: unknown) => e instanceof SwimError && e.code === 'E_CONFIG' && message.test(e.message), JSON.stringify(overrides));
  }
  assert.throws(() => swimConfig('wan' as 'lan'), (e: unknown) => e instanceof SwimError && e.code === 'E_CONFIG' && /profile/.test(e.message));
});

test('the README documents every error code and every config field', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const code of Object.keys(SWIM_ERROR_CODES)) assert.ok(readme.includes(`\`${code}\``), `README lacks ${code}`);
  for (const field of Object.keys(swimConfig('lan'))) assert.ok(readme.includes(`\`${field}\``), `README lacks ${field}`);
});
