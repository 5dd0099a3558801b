import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HealthCheck } from '@shoal/model';
import { checkSignature, healthTargetsOf } from '../src/index.js';
import { backend, instance } from './fakes.js';

test('the probed port is the check port, else the backend port, else the first VIP port', () => {
  const ports = [{ port: 443, protocol: 'tcp' as const }, { port: 80, protocol: 'tcp' as const }];
  const { port: _port, ...portless } = backend(2);
  const targets = healthTargetsOf([
    instance('a', [backend(1), portless], { ports }),
    instance('b', [backend(3)], { ports, healthCheck: { type: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3, port: 9000 } }),
  ]);
  assert.deepEqual(targets.map((t) => [t.key, t.ip, t.port]), [
    ['a|b1', '10.0.0.1', 8080],
    ['a|b2', '10.0.0.2', 443],
    ['b|b3', '10.0.0.3', 9000],
  ]);
});

test('stopped instances and disabled backends are not targets; type none ones are', () => {
  const targets = healthTargetsOf([
    instance('stopped', [backend(1)], { state: 'stopped' }),
    instance('mixed', [backend(2, { enabled: false }), backend(3)]),
    instance('unchecked', [backend(4)], { healthCheck: { type: 'none' } }),
  ]);
  assert.deepEqual(targets.map((t) => t.key), ['mixed|b3', 'unchecked|b4']);
});

test('a check signature ignores key order and sees every parameter', () => {
  const a: HealthCheck = { type: 'http', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3, path: '/h', expectedStatus: [200] };
  const b: HealthCheck = { expectedStatus: [200], path: '/h', fall: 3, rise: 2, timeoutMs: 500, intervalMs: 1000, type: 'http' };
  assert.equal(checkSignature(a), checkSignature(b));
  assert.notEqual(checkSignature(a), checkSignature({ ...a, path: '/other' }));
  assert.notEqual(checkSignature(a), checkSignature({ ...a, host: 'example.org' }));
  assert.notEqual(checkSignature(a), checkSignature({ ...a, type: 'https', tlsVerify: false }));
});
