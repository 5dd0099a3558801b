import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankCandidates } from '@shoal/ownership';
import { renderKeepalivedConfig } from '@shoal/keepalived';
import type { Instance } from '@shoal/model';
import { keepalivedInput, type KeepalivedMember } from '../src/keepalived-mode.js';

const member = (name: string, host: number, priority = 100): KeepalivedMember => ({ name, priority, networks: [`10.0.0.${host}/24`], addresses: [`10.0.0.${host}/24`] });
const members = [member('n1', 11), member('n2', 12), member('n3', 13)];
const inst = (id: string, name: string, vip: string, createdAt: string, state: 'started' | 'stopped' = 'started'): Instance =>
  ({ id, name, vip, createdAt, state, ports: [{ port: 80, protocol: 'tcp' }], backends: [] }) as unknown as Instance;

const base = {
  members,
  isConflicted: () => false,
  vridRange: { min: 1, max: 255 },
  advertIntervalS: 0.1,
  interfaceOf: (a: string) => (a.startsWith('10.0.0.') ? 'eth0' : undefined),
};

test('each node renders one instance per VIP it is eligible for, with priorities from the election ranking and the other nodes as unicast peers', () => {
  const instances = [inst('a', 'web', '10.0.0.100', '2026-01-01T00:00:00Z'), inst('b', 'dns', '10.0.0.100', '2026-01-02T00:00:00Z'), inst('c', 'api', '10.0.0.101', '2026-01-03T00:00:00Z'), inst('d', 'far', '192.0.2.1', '2026-01-04T00:00:00Z'), inst('e', 'off', '10.0.0.102', '2026-01-05T00:00:00Z', 'stopped')];
  const perNode = members.map((m) => keepalivedInput({ ...base, self: m.name, instances, storedVrids: new Map() }));
  for (const [i, r] of perNode.entries()) {
    const self = members[i] as KeepalivedMember;
    assert.deepEqual(r.input.instances.map((x) => x.vip), ['10.0.0.100', '10.0.0.101'], 'the shared VIP once; no ineligible or stopped VIP');
    const web = r.input.instances[0];
    assert.ok(web);
    assert.equal(web.name, 'web', 'named after the oldest instance on the VIP');
    assert.equal(web.unicastSrcIp, self.addresses[0]?.split('/')[0]);
    assert.deepEqual([...web.unicastPeers].sort(), members.filter((m) => m !== self).map((m) => m.addresses[0]?.split('/')[0]).sort());
    const rank = rankCandidates('10.0.0.100', members).findIndex((c) => c.name === self.name);
    assert.equal(web.priority, 250 - 10 * rank);
    assert.doesNotThrow(() => renderKeepalivedConfig(r.input));
  }
  // Every node agrees on the ids, and they are distinct.
  const ids = perNode.map((r) => r.input.instances.map((x) => `${x.vip}=${x.vrid}`).join(','));
  assert.equal(new Set(ids).size, 1);
  // Ids are cluster-wide: a VIP no node here is eligible for still gets one (nodes elsewhere may be).
  assert.deepEqual(perNode[0]?.vridWrites, { '10.0.0.100': 1, '10.0.0.101': 2, '192.0.2.1': 3 });
});

test('ids stored concurrently twice are separated the same way everywhere, the older VIP keeping its id', () => {
  const instances = [inst('a', 'web', '10.0.0.100', '2026-01-01T00:00:00Z'), inst('c', 'api', '10.0.0.101', '2026-01-03T00:00:00Z')];
  const stored = new Map([
    ['10.0.0.100', 7],
    ['10.0.0.101', 7],
  ]);
  const r = keepalivedInput({ ...base, self: 'n2', instances, storedVrids: stored });
  assert.deepEqual(r.input.instances.map((x) => [x.vip, x.vrid]), [
    ['10.0.0.100', 7],
    ['10.0.0.101', 1],
  ]);
  assert.deepEqual(r.vridWrites, { '10.0.0.101': 1 });
  const conflicted = keepalivedInput({ ...base, self: 'n2', instances, storedVrids: stored, isConflicted: (id) => id === 'c' });
  assert.deepEqual(conflicted.input.instances.map((x) => x.vip), ['10.0.0.100'], 'a conflicted instance gets no VRRP instance');
});
