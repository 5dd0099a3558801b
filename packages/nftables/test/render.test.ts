import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { approximations, renderFlush, renderIncremental, renderRuleset } from '../src/index.js';
import { SAMPLE } from './sample.js';

// dist/test/*.js -> the source fixtures directory
const fixture = (name: string): URL => new URL(`../../test/fixtures/${name}`, import.meta.url);

test('the sample set renders exactly as the golden file (UPDATE_GOLDEN=1 rewrites it)', () => {
  const text = renderRuleset(SAMPLE);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(fixture('sample.nft'), text);
  assert.equal(text, readFileSync(fixture('sample.nft'), 'utf8'));
});

test('the ruleset replaces only its own table atomically (create, delete, define in one script)', () => {
  const text = renderRuleset(SAMPLE, { tableName: 'lbtest' });
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 3), ['table inet lbtest', 'delete table inet lbtest', 'table inet lbtest {']);
  assert.ok(!/flush ruleset|table ip |table ip6 /.test(text));
  assert.match(text, /jhash ip saddr mod 12 seed 0x5eed map @v4_tcp_sh_12/);
  assert.match(text, /dnat ip6 to ip6 daddr \. tcp dport \. numgen inc mod 12 map @v6_tcp_rr_12/);
  assert.match(text, /type nat hook output priority -100/);
  assert.match(text, /ct status dnat ct original ip daddr \. ct original proto-dst @v4_tcp_services masquerade/);
  assert.equal(renderFlush({ tableName: 'lbtest' }), 'table inet lbtest\ndelete table inet lbtest\n');
});

test('rendering does not depend on the order of services', () => {
  assert.equal(renderRuleset([...SAMPLE].reverse()), renderRuleset(SAMPLE));
});

test('an incremental change names only the changed service', () => {
  const before = SAMPLE[1];
  assert.ok(before);
  const after = { ...before, servers: before.servers.map((r) => ({ ...r, weight: r.weight === 0 ? 2 : r.weight })) };
  const script = renderIncremental({ before: [before], after: [after] });
  for (const line of script.trim().split('\n')) {
    assert.match(line, /^(delete|add) element inet shoal \w+ \{ /);
    // every element key starts with the changed service's VIP . port
    const body = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    for (const el of body.split(',')) assert.match(el.trim(), /^10\.0\.0\.10 \. 81( |$)/);
  }
  assert.ok(!script.includes(' . 80 '));
  assert.match(script, /^delete element inet shoal v4_tcp_rr_12 \{ (10\.0\.0\.10 \. 81 \. \d+(, )?){12} \}$/m);
  assert.match(script, /^add element inet shoal v4_tcp_servers_v4 \{ .*10\.0\.0\.10 \. 81 \. 10\.1\.0\.13 \. 8080 comment "w=2 f=nat"/m);
  assert.equal(renderIncremental({ before: [], after: [] }), '');
});

test('a deleted service only loses elements; an added one only gains them', () => {
  const s = SAMPLE[0];
  assert.ok(s);
  assert.ok(renderIncremental({ before: [s], after: [] }).split('\n').filter(Boolean).every((l) => l.startsWith('delete element')));
  assert.ok(renderIncremental({ before: [], after: [s] }).split('\n').filter(Boolean).every((l) => l.startsWith('add element')));
});

test('approximations name dr/tunnel/local forwarding, persistence and lossy schedulers', () => {
  const [rr, weighted, , , udp] = SAMPLE;
  assert.ok(rr && weighted && udp);
  assert.deepEqual(approximations(rr), []);
  assert.match(approximations(weighted).join('\n'), /forwarding dr cannot be expressed/);
  assert.match(approximations(udp).join('\n'), /source-address hashing: no timeout, netmask ignored/);
  assert.match(approximations({ ...rr, scheduler: 'wlc' }).join('\n'), /weighted round robin/);
});
