// Config defaults, overrides and validation; the README kept in step with the error catalog
// and the config fields.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ANNOUNCE_DEFAULTS, ANNOUNCE_ERROR_CODES, AnnounceError, announceConfig, errnoFromStrerror, type AnnounceInit } from '../src/index.js';

test('the defaults: 3 rounds, 100 ms apart, request then reply', () => {
  const c = announceConfig();
  assert.deepEqual({ ...c, arpOps: [...c.arpOps] }, { repeat: 3, intervalMs: 100, arpOps: ['request', 'reply'] });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.arpOps) && Object.isFrozen(ANNOUNCE_DEFAULTS));
});

test('overrides apply on top of the defaults; undefined leaves a default alone', () => {
  const c = announceConfig({ repeat: 5, intervalMs: 0, arpOps: ['reply', 'request'] });
  assert.deepEqual([c.repeat, c.intervalMs, [...c.arpOps]], [5, 0, ['reply', 'request']]);
  const partial: Record<string, unknown> = { intervalMs: undefined };
  assert.equal(announceConfig(partial as AnnounceInit).intervalMs, 100);
});

test('a bad configuration fails with E_ANNOUNCE_CONFIG naming the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ repeat: 0 }, /repeat: must be >= 1/],
    [{ repeat: 2.5 }, /repeat: must be an integer/],
    [{ intervalMs: -1 }, /intervalMs: must be >= 0/],
    [{ intervalMs: 60_000 }, /intervalMs: must be <= 10000/],
    [{ arpOps: [] }, /arpOps: must name at least one ARP form/],
    [{ arpOps: ['request', 'request'] }, /arpOps: must not repeat a form/],
    [{ arpOps: ['probe'] }, /arpOps\.0/],
    [{ repat: 3 }, /repat/],
  ];
  for (const [init, message] of cases) {
    assert.throws(() => announceConfig(init), (e: unknown) => e instanceof AnnounceError && e.code === 'E_ANNOUNCE_CONFIG' && message.test(e.message), JSON.stringify(init));
  }
});

test('strerror texts from syscall-napi map back to errno names', () => {
  assert.equal(errnoFromStrerror('Operation not permitted'), 'EPERM');
  assert.equal(errnoFromStrerror('Network is down'), 'ENETDOWN');
  assert.equal(errnoFromStrerror('No such device or address'), 'ENXIO');
  assert.equal(errnoFromStrerror('Something else'), undefined);
});

test('the README documents every error code and every config field', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ANNOUNCE_ERROR_CODES)) assert.ok(readme.includes(`\`${code}\``), `README lacks ${code}`);
  for (const field of Object.keys(ANNOUNCE_DEFAULTS)) assert.ok(readme.includes(`\`${field}\``), `README lacks ${field}`);
});
