import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstanceSpecSchema, ValidationError } from '@shoal/model';
import { isFlexLbTemplate, translateFlexLbTemplate } from '../src/index.js';
import { FLEXLB_TEMPLATE } from './fixtures.js';

test("FlexLB's example template becomes a valid Shoal spec, and what has no meaning is reported", () => {
  assert.ok(isFlexLbTemplate(FLEXLB_TEMPLATE));
  assert.ok(!isFlexLbTemplate({ name: 'web', ports: [{ port: 80 }] }));
  const { spec, ignored } = translateFlexLbTemplate(FLEXLB_TEMPLATE);
  assert.deepEqual(spec, {
    name: 'inst1',
    vip: '192.168.2.1',
    ports: [{ port: 8080, protocol: 'tcp' }],
    scheduler: 'rr',
    backends: [
      { name: 'app1', ip: '192.168.1.141', port: 30080, weight: 100 },
      { name: 'app2', ip: '192.168.1.142', port: 30080, weight: 100 },
      { name: 'app3', ip: '192.168.1.143', port: 30080, weight: 100 },
    ],
    healthCheck: { type: 'http', path: '/', expectedStatus: [200], intervalMs: 2000, rise: 2, fall: 2 },
  });
  assert.deepEqual(ignored, [
    'frontend_interface',
    'frontend_net_prefix',
    'state',
    'priority',
    'backend_default_server: downinter 5s',
    'backend_default_server: slowstart 60s',
    'backend_default_server: maxconn 2000',
    'backend_default_server: maxqueue 2000',
  ]);
  // The translation is only useful if the server will take it.
  const parsed = InstanceSpecSchema.safeParse(spec);
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
});

test('balance algorithms map onto IPVS schedulers; ones with no layer-4 meaning are refused by field', () => {
  const withBalance = (balance: string): unknown => ({ ...FLEXLB_TEMPLATE, balance });
  assert.equal(translateFlexLbTemplate(withBalance('leastconn')).spec.scheduler, 'lc');
  assert.equal(translateFlexLbTemplate(withBalance('source')).spec.scheduler, 'sh');
  assert.equal(translateFlexLbTemplate(withBalance('static-rr')).spec.scheduler, 'wrr');
  assert.throws(
    () => translateFlexLbTemplate(withBalance('uri')),
    (err: unknown) => err instanceof ValidationError && err.issues?.[0]?.path === 'balance',
  );
});

test('server names that are not DNS labels are lowercased or dropped; no "check" means no health check', () => {
  const { spec, ignored } = translateFlexLbTemplate({
    name: 'inst2',
    frontend_ipaddress: '10.0.0.1',
    frontend_port: '53',
    mode: 'udp',
    backend_servers: [
      { name: 'App1', ipaddress: '10.1.0.1', port: 53, options: 'weight 5' },
      { name: 'bad_name', ipaddress: '10.1.0.2', port: 53, options: 'backup' },
    ],
  });
  assert.deepEqual(spec.ports, [{ port: 53, protocol: 'udp' }]);
  assert.deepEqual(spec.backends, [
    { name: 'app1', ip: '10.1.0.1', port: 53, weight: 5 },
    { ip: '10.1.0.2', port: 53 },
  ]);
  assert.deepEqual(spec.healthCheck, { type: 'none' });
  assert.deepEqual(ignored, ['backend_servers.1.options: backup', 'backend_servers.1.name "bad_name" (not a DNS label)']);
});

test('a template missing what matters fails with every problem named', () => {
  assert.throws(
    () => translateFlexLbTemplate({ frontend_ipaddress: '10.0.0.1', frontend_port: 0, mode: 'sctp', backend_servers: [{ port: 80 }] }),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual(
        err.issues?.map((i) => i.path),
        ['name', 'mode', 'frontend_port', 'backend_servers.0.ipaddress'],
      );
      return true;
    },
  );
});
