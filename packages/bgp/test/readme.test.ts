import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { BGP_PEER_DEFAULTS, BGP_SPEAKER_DEFAULTS } from '../src/config.js';
import { BGP_ERROR_CODES } from '../src/errors.js';

// dist/test/readme.test.js -> packages/bgp/README.md
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The rows of the first table after `heading`, as [first cell, second cell]. */
function tableAfter(heading: string): [string, string][] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no "${heading}" section`);
  const lines = readme.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: [string, string][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    rows.push([cells[0] ?? '', cells[1] ?? '']);
  }
  return rows;
}

test('the README error table is BGP_ERROR_CODES: every code, no other, with its meaning', () => {
  const documented = tableAfter('## Errors').map(([code, meaning]) => [code.replace(/^`|`$/g, ''), meaning] as const);
  assert.deepEqual(Object.fromEntries(documented), { ...BGP_ERROR_CODES });
  assert.equal(documented.length, Object.keys(BGP_ERROR_CODES).length, 'no code twice');
});

test('the README configuration table names every default', () => {
  const fields = tableAfter('## Configuration').map(([field]) => field);
  const expected = [
    ...Object.keys(BGP_PEER_DEFAULTS),
    ...Object.keys(BGP_SPEAKER_DEFAULTS.gracefulRestart).map((k) => `gracefulRestart.${k}`),
    'restarting',
    'listen', // BGP_SPEAKER_DEFAULTS.listenPort
  ];
  for (const field of expected) assert.ok(fields.includes(`\`${field}\``), `README configuration table lacks ${field}`);
});
