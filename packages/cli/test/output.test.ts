import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import type { Instance } from '@shoal/model';
import { ShoalApiError, ShoalConnectionError } from '@shoal/client';
import { EXIT, exitCodeFor } from '../src/index.js';
import { UsageError } from '../src/exit-codes.js';
import { backendTable, instanceTable, render, renderTable } from '../src/output.js';
import { sampleInstance } from './fixtures.js';

const web = sampleInstance('web', 7) as unknown as Instance;
const api = { ...sampleInstance('api-gateway', 12), vip: '2001:db8::10', ports: [{ port: 443, protocol: 'tcp' }, { port: 443, protocol: 'udp' }], backends: [], state: 'stopped' } as unknown as Instance;

test('tables align columns to the widest cell and do not pad the last one', () => {
  assert.equal(renderTable(['A', 'LONGER'], [['xyz', '1'], ['', '22']]), 'A    LONGER\nxyz  1\n     22\n');
  assert.equal(
    instanceTable([web, api]),
    [
      'NAME         VIP           PORTS            SCHEDULER  BACKENDS  STATE    GEN',
      'web          10.0.0.10     80/tcp           rr         1         started  7',
      'api-gateway  2001:db8::10  443/tcp,443/udp  rr         0         stopped  12',
      '',
    ].join('\n'),
  );
  assert.equal(
    backendTable(web.backends),
    'ID                                    IP        PORT  WEIGHT  ENABLED  HEALTH\n0b7e9f1c-2222-4a2b-8c3d-000000000001  10.1.0.1  8080  1       yes      -\n',
  );
  assert.equal(
    backendTable(web.backends.map((b) => ({ ...b, status: { health: 'down' as const } }))),
    'ID                                    IP        PORT  WEIGHT  ENABLED  HEALTH\n0b7e9f1c-2222-4a2b-8c3d-000000000001  10.1.0.1  8080  1       yes      down\n',
    'the health the node observed is shown',
  );
});

test('json is pretty-printed with two spaces and yaml round-trips', () => {
  const value = { items: [web] };
  assert.equal(render('json', value, () => 'table'), `${JSON.stringify(value, null, 2)}\n`);
  assert.deepEqual(parseYaml(render('yaml', value, () => 'table')), value);
  assert.equal(render('table', value, () => 'table'), 'table');
});

test('every failure maps to its documented exit code', () => {
  const api = (code: ConstructorParameters<typeof ShoalApiError>[0]['code'], status: number): ShoalApiError =>
    new ShoalApiError({ code, message: 'x', status, body: '', endpoint: 'https://n1' });
  const cases: [unknown, number][] = [
    [new UsageError('bad flag'), EXIT.usage],
    [api('E_VALIDATION', 400), EXIT.error],
    [api('E_INTERNAL', 500), EXIT.error],
    [api('E_NOT_FOUND', 404), EXIT.notFound],
    [api('E_CONFLICT', 409), EXIT.conflict],
    [api('E_GENERATION_MISMATCH', 409), EXIT.conflict],
    [api('E_POOL_EXHAUSTED', 409), EXIT.conflict],
    [api('E_UNAUTHENTICATED', 401), EXIT.denied],
    [api('E_FORBIDDEN', 403), EXIT.denied],
    [api('E_QUORUM', 503), EXIT.unavailable],
    [api('E_UNAVAILABLE', 503), EXIT.unavailable],
    [new ShoalConnectionError('down', [{ endpoint: 'https://n1', phase: 'connect', code: 'ECONNREFUSED', message: '' }], 'r', false), EXIT.unavailable],
    [new ShoalConnectionError('refused', [{ endpoint: 'https://n1', phase: 'tls', code: 'ECONNRESET', message: '' }], 'r', false), EXIT.denied],
    [new Error('bug'), EXIT.error],
  ];
  for (const [err, code] of cases) assert.equal(exitCodeFor(err), code, (err as Error).message + ' ' + String((err as { code?: string }).code));
  assert.deepEqual(Object.values(EXIT), [0, 1, 2, 3, 4, 5, 6]);
});
