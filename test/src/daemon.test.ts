import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHOALD_BIN, hasCommand, makePki, startShoaldProcess, tempDir, writeShoaldConfig } from './harness.js';
import { httpsJson } from './http.js';

const skip = hasCommand('openssl') ? false : 'openssl is not installed (the test PKI is made with it)';

test('SIGTERM stops shoald cleanly and a restart serves everything it acknowledged', { skip }, async () => {
  const root = await tempDir('daemon');
  try {
    const pki = await makePki(root.path);
    const admin = await pki.pem('admin');
    const first = await startShoaldProcess({ pki, root: root.path });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await httpsJson(`${first.url}/v1/instances`, admin, 'POST', { name: `web-${i}`, vip: `10.0.0.${i + 1}`, ports: [{ port: 80 }] });
        assert.equal(r.status, 201);
      }
      assert.equal(await first.stop('SIGTERM'), 0);
      assert.match(first.logs(), /"shoald stopped"/);
    } finally {
      await first.stop('SIGKILL');
    }
    const second = await startShoaldProcess({ pki, root: root.path, dataDir: first.dataDir, port: first.port });
    try {
      const list = await httpsJson(`${second.url}/v1/instances`, admin);
      assert.equal(list.json.items.length, 20);
      const status = await httpsJson(`${second.url}/v1/status`, admin);
      assert.equal(status.json.node.name, 'node1');
      assert.equal(status.json.store.instances, 20);
      assert.equal((await httpsJson(`${second.url}/readyz`, admin)).json.status, 'ready');
    } finally {
      await second.stop();
    }
  } finally {
    await root.remove();
  }
});

test('a bad config is refused at startup with exit 78 and the path of each bad field', { skip }, async () => {
  const root = await tempDir('badcfg');
  try {
    const bad = join(root.path, 'bad.yaml');
    await writeFile(bad, 'api:\n  port: 99999\n  tls: { cert: a, key: b }\nlogging: { level: loud }\n');
    const r = spawnSync(process.execPath, [SHOALD_BIN, '--config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 78);
    for (const p of ['api.port', 'api.tls.ca', 'logging.level']) assert.match(r.stderr, new RegExp(p.replace('.', '\\.')));
    const pki = await makePki(root.path);
    const { configPath } = await writeShoaldConfig({ pki, root: root.path, config: {} });
    const missingCert = join(root.path, 'missing.yaml');
    await writeFile(missingCert, (await import('node:fs')).readFileSync(configPath, 'utf8').replace(/node1\.crt/, 'nope.crt'));
    const r2 = spawnSync(process.execPath, [SHOALD_BIN, '--config', missingCert], { encoding: 'utf8' });
    assert.equal(r2.status, 78);
    assert.match(r2.stderr, /api\.tls\.cert: cannot read .*nope\.crt/);
    const check = spawnSync(process.execPath, [SHOALD_BIN, '--config', configPath, '--check-config'], { encoding: 'utf8' });
    assert.equal(check.status, 0);
    assert.match(check.stdout, /valid/);
    const unknownFlag = spawnSync(process.execPath, [SHOALD_BIN, '--colour'], { encoding: 'utf8' });
    assert.equal(unknownFlag.status, 2);
    assert.match(unknownFlag.stderr, /--colour/);
  } finally {
    await root.remove();
  }
});
