import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compareServices } from '@shoal/dataplane';
import { ShoalError } from '@shoal/model';
import { FORMAT_MARKER_SET, parseTableSets } from '../src/index.js';
import { SAMPLE } from './sample.js';

// Captured from nft 1.0.6: `nft -j list sets table inet shoal` after loading renderRuleset(SAMPLE).
const captured = readFileSync(new URL('../../test/fixtures/list-sets.json', import.meta.url), 'utf8');

test('a captured nft -j dump parses back into exactly the services that were loaded', () => {
  const parsed = parseTableSets(captured);
  assert.equal(parsed.owned, true);
  assert.deepEqual(parsed.ignored, []);
  assert.deepEqual(parsed.services, [...SAMPLE].sort(compareServices));
});

test('a table without the format marker is not ours', () => {
  const doc = JSON.parse(captured) as { nftables: { set?: { name: string } }[] };
  doc.nftables = doc.nftables.filter((o) => o.set?.name !== FORMAT_MARKER_SET);
  assert.equal(parseTableSets(JSON.stringify(doc)).owned, false);
});

test('hand-added elements without our comments are ignored and reported', () => {
  const doc = {
    nftables: [
      { set: { name: FORMAT_MARKER_SET } },
      { set: { name: 'v4_tcp_services', elem: [{ concat: ['10.9.9.9', 80] }, { elem: { val: { concat: ['10.9.9.8', 80] }, comment: 's=rr p=0' } }] } },
      { set: { name: 'v4_tcp_servers_v4', elem: [{ elem: { val: { concat: ['10.9.9.7', 80, '10.1.1.1', 80] }, comment: 'w=1 f=nat' } }] } },
    ],
  };
  const parsed = parseTableSets(JSON.stringify(doc));
  assert.equal(parsed.services.length, 1);
  assert.equal(parsed.services[0]?.vip, '10.9.9.8');
  assert.equal(parsed.ignored.length, 2);
});

test('IPv6 addresses are canonicalised as the model writes them', () => {
  const doc = { nftables: [{ set: { name: 'v6_udp_services', elem: [{ elem: { val: { concat: ['FD00:0:0::10', 53] }, comment: 's=sh p=0' } }] } }] };
  assert.equal(parseTableSets(JSON.stringify(doc)).services[0]?.vip, 'fd00::10');
});

test('output that is not JSON is a typed error', () => {
  assert.throws(() => parseTableSets('Error: nope'), (e: unknown) => e instanceof ShoalError && e.code === 'E_INTERNAL');
});
