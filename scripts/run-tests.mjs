#!/usr/bin/env node
// Runs every compiled test file with node's built-in test runner.
// Node 20 takes no globs and Node 22+ no directories, so we collect the files
// ourselves and hand the runner an explicit list: the same command works on both.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const unitOnly = process.argv.includes('--unit');

function collect(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(join(root, 'packages')).sort()) {
  collect(join(root, 'packages', pkg, 'dist', 'test'), files);
}
if (!unitOnly) collect(join(root, 'test', 'dist'), files);

if (files.length === 0) {
  console.error('run-tests: no compiled test files found; did `tsc -b` run?');
  process.exit(1);
}
// Integration suites start daemons and namespaces: run files one at a time so
// two labs never fight over the same ports or names.
const args = ['--test', '--test-concurrency=1', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
