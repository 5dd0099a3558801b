import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ERROR_CATALOG,
  InstancePatchSchema,
  InstanceSpecSchema,
  PoolSpecSchema,
  ShoalError,
  ValidationError,
  firstVipClash,
  matchesLabels,
  parseLabelSelector,
  parseOrThrow,
} from '../src/index.js';

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return [...(err.issues ?? [])];
  }
  assert.fail('expected a ValidationError');
}

test('a minimal instance spec gets its documented defaults', () => {
  const s = parseOrThrow(InstanceSpecSchema, { name: 'web', ports: [{ port: 80 }] });
  assert.equal(s.scheduler, 'rr');
  assert.equal(s.forwarding, 'nat');
  assert.equal(s.state, 'started');
  assert.equal(s.persistenceTimeoutS, 0);
  assert.deepEqual(s.backends, []);
  assert.deepEqual(s.labels, {});
  assert.equal(s.healthCheck, undefined, 'resolved by the store from the ports');
});

test('cross-field rules: duplicate ports and backends, DR cannot rewrite ports, families match', () => {
  const issues = issuesOf(() =>
    parseOrThrow(InstanceSpecSchema, {
      name: 'web',
      vip: '10.0.0.1',
      forwarding: 'dr',
      ports: [{ port: 80 }, { port: 80 }],
      backends: [{ ip: '10.1.0.1', port: 8080 }, { ip: '10.1.0.2' }, { ip: '10.1.0.2' }, { ip: '2001:db8::1', forwarding: 'tunnel' }],
    }),
  );
  const paths = issues.map((i) => i.path);
  assert.deepEqual(paths.sort(), ['backends.0.port', 'backends.2', 'ports.1'].sort());
});

test('health checks validate their timing and HTTP fields', () => {
  const issues = issuesOf(() =>
    parseOrThrow(InstanceSpecSchema, { name: 'w', ports: [{ port: 80 }], healthCheck: { type: 'http', intervalMs: 1000, timeoutMs: 2000, path: 'health', expectedStatus: [999] } }),
  );
  assert.deepEqual(issues.map((i) => i.path).sort(), ['healthCheck.expectedStatus.0', 'healthCheck.path', 'healthCheck.timeoutMs']);
  const ok = parseOrThrow(InstanceSpecSchema, { name: 'w', ports: [{ port: 443 }], healthCheck: { type: 'https', path: '/ready' } });
  assert.deepEqual(ok.healthCheck, { type: 'https', path: '/ready', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expectedStatus: [200], tlsVerify: false });
});

test('unknown fields are named so a typo points at itself', () => {
  const issues = issuesOf(() => parseOrThrow(InstanceSpecSchema, { name: 'w', ports: [{ port: 80, proto: 'tcp' }], schedular: 'rr' }));
  assert.deepEqual(issues.map((i) => i.path).sort(), ['ports.0.proto', 'schedular']);
});

test('patches accept null to clear optional fields and nothing else', () => {
  const p = parseOrThrow(InstancePatchSchema, { description: null });
  assert.equal(p.description, null);
  assert.equal(issuesOf(() => parseOrThrow(InstancePatchSchema, { ports: null }))[0]?.path, 'ports');
});

test('pools reject overlapping ranges inside one pool', () => {
  const issues = issuesOf(() => parseOrThrow(PoolSpecSchema, { name: 'p', ranges: ['10.0.0.0/24', '10.0.0.128-10.0.0.130', 'bogus'] }));
  assert.deepEqual(issues.map((i) => i.path).sort(), ['ranges.1', 'ranges.2']);
});

test('label selectors: equality, inequality, existence, absence', () => {
  const sel = parseLabelSelector(['env=prod,tier', '!legacy', 'team!=ops']);
  assert.ok(matchesLabels({ env: 'prod', tier: 'web' }, sel));
  assert.ok(!matchesLabels({ env: 'prod' }, sel));
  assert.ok(!matchesLabels({ env: 'prod', tier: 'web', legacy: 'y' }, sel));
  assert.ok(!matchesLabels({ env: 'prod', tier: 'web', team: 'ops' }, sel));
  assert.throws(() => parseLabelSelector(['bad key=x']), ValidationError);
});

test('VIP sharing needs the same key and disjoint ports', () => {
  const a = { id: 'a', name: 'a', vip: '10.0.0.1', sharingKey: 'k', ports: [{ port: 53, protocol: 'udp' as const }] };
  assert.equal(firstVipClash({ ...a, id: 'b', name: 'b', ports: [{ port: 53, protocol: 'tcp' }] }, [a]), null);
  assert.equal(firstVipClash({ ...a, id: 'b', name: 'b' }, [a])?.path, 'ports');
  assert.equal(firstVipClash({ ...a, id: 'b', name: 'b', sharingKey: 'other', ports: [{ port: 54, protocol: 'tcp' }] }, [a])?.path, 'vip');
  assert.equal(firstVipClash({ ...a, id: 'b', name: 'b', vip: '10.0.0.2' }, [a]), null);
});

test('every error code has a status and errors serialise to the documented body', () => {
  for (const [code, e] of Object.entries(ERROR_CATALOG)) assert.ok(e.status >= 400 && e.status < 600, code);
  const err = new ValidationError([{ path: 'vip', message: 'bad' }]);
  assert.equal(err.status, 400);
  assert.deepEqual(err.toBody('r1'), { error: { code: 'E_VALIDATION', message: 'vip: bad', issues: [{ path: 'vip', message: 'bad' }], requestId: 'r1' } });
  assert.ok(new ShoalError('E_QUORUM', 'x') instanceof Error);
});
