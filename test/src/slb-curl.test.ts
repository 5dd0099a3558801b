import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, hasCommand, makePki, startShoaldProcess, tempDir, type Pki, type ShoaldProcess } from './harness.js';

const skip = !hasCommand('curl') ? 'curl is not installed (this test runs slb\'s documented curl lines)' : !hasCommand('openssl') ? 'openssl is not installed' : false;
let root: Awaited<ReturnType<typeof tempDir>>;
let pki: Pki;
let shoald: ShoaldProcess;
let slbPort: number;

before(async () => {
  if (skip) return;
  root = await tempDir('slb');
  pki = await makePki(root.path);
  slbPort = await freePort();
  shoald = await startShoaldProcess({
    pki,
    root: root.path,
    config: {
      slbCompat: { enabled: true, port: slbPort },
      pools: [{ name: 'default', ranges: ['192.168.0.85-192.168.0.90'] }],
    },
  });
});

after(async () => {
  await shoald?.stop();
  await root?.remove();
});

function sh(line: string): string {
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${line}\n${r.stderr}`);
  return r.stdout;
}

/** slb's README, line for line, with only <host> (and, for mTLS, the certificate flags) filled in. */
function slbFlow(base: string, curl: string): void {
  const created = JSON.parse(sh(`${curl} -X POST ${base}/loadbalancer -H 'Content-Type: application/json' -d '{"name":"test loadbalancer", "port": 6443}'`));
  assert.equal(created.name, 'test loadbalancer');
  assert.equal(created.port, 6443);
  assert.match(created.eip, /^192\.168\.0\.(8[5-9]|90)$/);
  const uuid: string = created.uuid;
  const list = JSON.parse(sh(`${curl} -s ${base}/loadbalancers`));
  const mine = list.find((l: { uuid: string }) => l.uuid === uuid);
  assert.deepEqual(Object.keys(mine).sort(), ['backends', 'eip', 'name', 'port', 'uuid']);
  // No Content-Type header: curl sends application/x-www-form-urlencoded, as in slb's README.
  const backend = JSON.parse(sh(`${curl} -X POST ${base}/loadbalancer/${uuid}/backend -d '{"ip":"10.80.96.25", "port": 6443}'`));
  assert.equal(backend.ip, '10.80.96.25');
  assert.equal(backend.port, 6443);
  assert.equal(backend.type, 'MASQ');
  const withBackend = JSON.parse(sh(`${curl} -s ${base}/loadbalancers`)).find((l: { uuid: string }) => l.uuid === uuid);
  assert.deepEqual(withBackend.backends, [{ uuid: backend.uuid, ip: '10.80.96.25', port: 6443, type: 'MASQ' }]);
  const one = JSON.parse(sh(`${curl} -s ${base}/loadbalancer/${uuid}`));
  assert.equal(one.eip, created.eip);
  const deleted = JSON.parse(sh(`${curl} -X DELETE ${base}/loadbalancer/${uuid}`));
  assert.equal(deleted.uuid, uuid);
  const status = sh(`${curl} -s -o /dev/null -w '%{http_code}' ${base}/loadbalancer/${uuid}`);
  assert.equal(status, '404');
}

test("slb's curl lines work as written on the plain loopback listener", { skip }, () => {
  slbFlow(`http://127.0.0.1:${slbPort}`, 'curl');
});

test("slb's curl lines work over mutual TLS with certificates added", { skip }, () => {
  const d = pki.dir;
  slbFlow(`https://127.0.0.1:${shoald.port}`, `curl --cacert ${join(d, 'ca.crt')} --cert ${join(d, 'admin.crt')} --key ${join(d, 'admin.key')}`);
  // Without a client certificate curl cannot even complete the handshake.
  const r = spawnSync('sh', ['-c', `curl -s --cacert ${join(d, 'ca.crt')} https://127.0.0.1:${shoald.port}/loadbalancers`], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
});

test('a deleted loadbalancer gives its VIP back to the default pool', { skip }, () => {
  const base = `http://127.0.0.1:${slbPort}`;
  const a = JSON.parse(sh(`curl -s -X POST ${base}/loadbalancer -d '{"name":"a","port":80}'`));
  sh(`curl -s -X DELETE ${base}/loadbalancer/${a.uuid}`);
  const b = JSON.parse(sh(`curl -s -X POST ${base}/loadbalancer -d '{"name":"b","port":80}'`));
  assert.equal(b.eip, a.eip);
  sh(`curl -s -X DELETE ${base}/loadbalancer/${b.uuid}`);
});
