import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackendAddress, parsePortFlags } from '../src/flag-values.js';
import { runCli } from './fixtures.js';

const EP = ['--endpoint', 'https://127.0.0.1:1'];

test('usage errors exit 2, name the flag or argument, and print the usage line', async () => {
  const cases: { argv: string[]; says: RegExp; usage?: RegExp }[] = [
    { argv: ['instance', 'create', 'web', '--port', '80', '--bogus'], says: /unknown flag --bogus/, usage: /usage: shoalctl instance create NAME/ },
    { argv: ['instance', 'create', 'web', '--port'], says: /--port needs a value/ },
    { argv: ['instance', 'create', 'web', ...EP], says: /--port is required/ },
    { argv: ['instance', 'create', 'web', '--port', 'abc', ...EP], says: /--port: "abc" is not a whole number/ },
    { argv: ['instance', 'create', 'web', '--port', '80/sctp', ...EP], says: /--port: "sctp" is not one of tcp, udp/ },
    { argv: ['instance', 'create', 'web', '--port', '80', '--scheduler', 'fast', ...EP], says: /--scheduler: "fast" is not one of rr, wrr/ },
    { argv: ['instance', 'create', 'web', '--port', '80', '--backend', '10.0.0.1:99999', ...EP], says: /--backend: 99999 is out of range/ },
    { argv: ['instance', 'create', 'web', '--port', '80', '--label', 'novalue', ...EP], says: /--label: "novalue" is not key=value/ },
    { argv: ['instance', 'create', 'web', '--port', '80', '--health', 'tcp', '--health-path', '/x', ...EP], says: /--health-path needs --health http or https/ },
    { argv: ['instance', 'create', '-f', 'spec.json', '--port', '80', ...EP], says: /-f cannot be combined with --port/ },
    { argv: ['instance', 'create', '-f', '/nonexistent/spec.json', ...EP], says: /-f \/nonexistent\/spec.json: cannot read/ },
    { argv: ['instance', 'get', ...EP], says: /missing NAME/, usage: /usage: shoalctl instance get NAME/ },
    { argv: ['instance', 'get', 'a', 'b', ...EP], says: /unexpected argument "b"/ },
    { argv: ['instance', 'modify', 'web', ...EP], says: /nothing to change/ },
    { argv: ['instance', 'delete', 'web', '--if-generation', 'x', ...EP], says: /--if-generation: "x" is not a whole number/ },
    { argv: ['instance', 'list', '--label', 'bad key!', ...EP], says: /--label:/ },
    { argv: ['instance', 'frob'], says: /unknown instance command "frob"/ },
    { argv: ['instance'], says: /missing instance command/ },
    { argv: ['frob'], says: /unknown command "frob"/ },
    { argv: [], says: /missing command/ },
    { argv: ['status', '--stopped'], says: /unknown flag --stopped/, usage: /usage: shoalctl status/ },
    { argv: ['status', '-o', 'xml', ...EP], says: /--output: "xml" is not one of table, json, yaml/ },
    { argv: ['status', '--timeout', '0', ...EP], says: /--timeout: 0 is out of range/ },
    { argv: ['status'], says: /no endpoint: pass --endpoint URL, set SHOAL_ENDPOINTS/ },
    { argv: ['status', ...EP, '--ca', '/nonexistent/ca.crt'], says: /--ca \/nonexistent\/ca.crt: cannot read/ },
    { argv: ['status', ...EP, '--config', '/nonexistent/c.yaml'], says: /--config \/nonexistent\/c.yaml: cannot read/ },
    { argv: ['backend', 'add', 'web', 'not-an-ip', ...EP], says: /IP\[:PORT\]: "not-an-ip" is not an IPv4 or IPv6 address/ },
    { argv: ['backend', 'set', 'web', '10.0.0.1', ...EP], says: /nothing to change/ },
    { argv: ['backend', 'set', 'web', '10.0.0.1', '--enable', '--disable', ...EP], says: /contradict/ },
    { argv: ['pool', 'create', 'p', ...EP], says: /--range is required/ },
  ];
  for (const c of cases) {
    const r = await runCli(c.argv);
    assert.equal(r.code, 2, `${c.argv.join(' ')} -> exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /^shoalctl: /, c.argv.join(' '));
    assert.match(r.stderr, c.says, c.argv.join(' '));
    if (c.usage) assert.match(r.stderr, c.usage, c.argv.join(' '));
    assert.equal(r.stdout, '', 'errors never go to stdout');
  }
});

test('help is available at every level and documents the exit codes', async () => {
  const top = await runCli(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /exit codes:\n {2}0 {2}ok/);
  assert.match(top.stdout, /6 {2}unavailable/);
  assert.match(top.stdout, /shoalctl instance create NAME/);

  const group = await runCli(['instances', '-h']);
  assert.equal(group.code, 0);
  assert.match(group.stdout, /usage: shoalctl instance COMMAND/);

  const cmd = await runCli(['backend', 'rm', '--help']);
  assert.equal(cmd.code, 0);
  assert.match(cmd.stdout, /usage: shoalctl backend remove INSTANCE/);

  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^shoalctl \d+\.\d+\.\d+\n$/);
});

test('backend addresses parse in every form, IPv6 bracketed when it has a port', () => {
  const cases: [string, ReturnType<typeof parseBackendAddress>][] = [
    ['10.0.0.1', { ip: '10.0.0.1' }],
    ['10.0.0.1:8080', { ip: '10.0.0.1', port: 8080 }],
    ['10.0.0.1:8080@5', { ip: '10.0.0.1', port: 8080, weight: 5 }],
    ['10.0.0.1@0', { ip: '10.0.0.1', weight: 0 }],
    ['[2001:DB8::1]:443', { ip: '2001:db8::1', port: 443 }],
    ['[2001:db8::1]:443@2', { ip: '2001:db8::1', port: 443, weight: 2 }],
    ['2001:db8::1', { ip: '2001:db8::1' }],
    ['[::1]', { ip: '::1' }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseBackendAddress('--backend', text, true), want, text);
  for (const bad of ['x:80', '10.0.0.1:0', '[::1', '[::1]80', '10.0.0.1@x', '']) {
    assert.throws(() => parseBackendAddress('--backend', bad, true), { name: 'UsageError', message: /^--backend: / }, bad);
  }
  assert.throws(() => parseBackendAddress('IP', '10.0.0.1@3', false), /not IP\[:PORT\]/, 'no weight where none is taken');
});

test('ports take an optional protocol and may be comma-separated', () => {
  assert.deepEqual(parsePortFlags('--port', ['80', '443/tcp,53/UDP']), [
    { port: 80, protocol: 'tcp' },
    { port: 443, protocol: 'tcp' },
    { port: 53, protocol: 'udp' },
  ]);
});
