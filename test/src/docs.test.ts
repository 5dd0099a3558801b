import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CATALOG } from '@shoal/model';
import { REPO_ROOT } from './harness.js';

test("the README's error table is the error catalog, code for code", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| (E_[A-Z_]+) \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  const catalog = Object.entries(ERROR_CATALOG).map(([code, e]) => [code, e.status, e.description]);
  assert.deepEqual(rows, catalog);
});

test('the README test command is what CI runs', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
  const testLine = 'bash deploy/setup.sh && pnpm test';
  assert.ok(readme.includes(`\n${testLine}\n`), 'README shows the test command');
  assert.ok(ci.includes(`\n${testLine}\n`), '.ci/run runs it');
});
