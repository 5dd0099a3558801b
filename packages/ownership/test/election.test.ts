import { test } from 'node:test';
import assert from 'node:assert/strict';
import { electOwners, hasQuorum, quorumSize, rankCandidates, vipsToHold, type Candidate } from '../src/index.js';

const lan = ['10.0.0.0/24', 'fd00::/64'];
const node = (name: string, priority = 100, networks: readonly string[] = lan): Candidate => ({ name, priority, networks });
const vips = Array.from({ length: 300 }, (_, i) => `10.0.0.${(i % 250) + 1}`).filter((v, i, a) => a.indexOf(v) === i);

test('every node computes the same owners from the same view, whatever order it lists members in', () => {
  const members = [node('a'), node('b'), node('c')];
  const one = electOwners({ vips, candidates: members });
  const other = electOwners({ vips: [...vips].reverse(), candidates: [...members].reverse() });
  assert.deepEqual([...one.entries()].sort(), [...other.entries()].sort());
  assert.equal(one.size, vips.length);
});

test('VIPs spread over equal-priority members (rendezvous hashing), roughly evenly', () => {
  const owners = electOwners({ vips, candidates: [node('a'), node('b'), node('c')] });
  const counts: Record<string, number> = {};
  for (const o of owners.values()) counts[o] = (counts[o] ?? 0) + 1;
  for (const n of ['a', 'b', 'c']) assert.ok((counts[n] ?? 0) > vips.length / 3 * 0.7, `${n} got ${counts[n] ?? 0} of ${vips.length}: ${JSON.stringify(counts)}`);
});

test('when a member dies only its VIPs move, and they come back when it returns', () => {
  const all = electOwners({ vips, candidates: [node('a'), node('b'), node('c')] });
  const withoutB = electOwners({ vips, candidates: [node('a'), node('c')] });
  for (const [vip, owner] of all) {
    if (owner === 'b') assert.notEqual(withoutB.get(vip), 'b');
    else assert.equal(withoutB.get(vip), owner, `${vip} moved from ${owner} though ${owner} stayed`);
  }
  assert.deepEqual(electOwners({ vips, candidates: [node('c'), node('a'), node('b')] }), all);
});

test('a higher priority takes every VIP it is eligible for; eligibility follows the networks', () => {
  const owners = electOwners({ vips: ['10.0.0.5', '10.1.0.5', 'fd00::5', '192.0.2.1'], candidates: [node('a', 100), node('big', 200, ['10.0.0.0/24']), node('far', 100, ['10.1.0.0/16'])] });
  assert.equal(owners.get('10.0.0.5'), 'big');
  assert.equal(owners.get('10.1.0.5'), 'far', 'only far has 10.1/16');
  assert.equal(owners.get('fd00::5'), 'a', 'big holds no IPv6 network');
  assert.equal(owners.has('192.0.2.1'), false, 'nobody is eligible: no owner rather than a wrong one');
  assert.deepEqual(rankCandidates('10.0.0.5', [node('a', 100), node('big', 200, ['10.0.0.0/24']), node('far', 100, ['10.1.0.0/16'])]).map((c) => c.name), ['big', 'a']);
});

test('quorum: majority by default, or a count; without it a node holds nothing', () => {
  assert.equal(quorumSize(3, 'majority'), 2);
  assert.equal(quorumSize(4, 'majority'), 3);
  assert.equal(quorumSize(1, 'majority'), 1);
  assert.equal(quorumSize(5, 2), 2);
  assert.equal(quorumSize(2, 5), 2, 'a count above the cluster is capped at its size');
  assert.equal(hasQuorum({ live: 1, clusterSize: 3, quorum: 'majority' }), false);
  assert.equal(hasQuorum({ live: 2, clusterSize: 3, quorum: 'majority' }), true);
  const candidates = [node('a')];
  assert.deepEqual(vipsToHold({ self: 'a', vips: ['10.0.0.1'], candidates, quorum: { live: 1, clusterSize: 3, quorum: 'majority' } }), []);
  assert.deepEqual(vipsToHold({ self: 'a', vips: ['10.0.0.1'], candidates, quorum: { live: 1, clusterSize: 1, quorum: 'majority' } }), ['10.0.0.1']);
});

test('the two sides of a partition never both hold a VIP: the minority holds nothing', () => {
  const everyone = [node('a'), node('b'), node('c'), node('d'), node('e')];
  for (const split of [2, 1]) {
    const minority = everyone.slice(0, split);
    const majority = everyone.slice(split);
    const held = new Map<string, string[]>();
    for (const side of [minority, majority]) {
      for (const self of side) {
        for (const vip of vipsToHold({ self: self.name, vips, candidates: side, quorum: { live: side.length, clusterSize: 5, quorum: 'majority' } })) {
          held.set(vip, [...(held.get(vip) ?? []), self.name]);
        }
      }
    }
    for (const [vip, holders] of held) assert.equal(holders.length, 1, `${vip} held by ${holders.join(', ')}`);
    assert.equal(held.size, vips.length, 'the majority side holds every VIP');
  }
});

test('a member that is not ready is left out of every election, and comes back in when ready', () => {
  const nets = ['10.0.0.0/24'];
  const vips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
  const all = electOwners({ vips, candidates: [{ name: 'a', priority: 200, networks: nets }, { name: 'b', priority: 100, networks: nets }] });
  assert.ok([...all.values()].every((o) => o === 'a'));
  const notReady = electOwners({ vips, candidates: [{ name: 'a', priority: 200, networks: nets, ready: false }, { name: 'b', priority: 100, networks: nets }] });
  assert.ok([...notReady.values()].every((o) => o === 'b'));
  assert.deepEqual(rankCandidates('10.0.0.1', [{ name: 'a', priority: 200, networks: nets, ready: false }, { name: 'b', priority: 100, networks: nets, ready: true }]).map((c) => c.name), ['b']);
  assert.equal(electOwners({ vips, candidates: [{ name: 'a', priority: 200, networks: nets, ready: false }] }).size, 0);
});
