import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring, SwimError, generateKey } from '../src/index.js';
import { FrameError, FrameReader, ReplayGuard, WIRE_VERSION, encodeFrame, newBootId, open, seal, sealOverhead } from '../src/security.js';

const keyA = new Uint8Array(32).fill(1);
const keyB = new Uint8Array(32).fill(2);
const body = Uint8Array.from([3, 0, 0, 0, 42]);
const header = { sender: 'node-a', bootId: 123456789n, seq: 17 };

test('a sealed packet opens with the same key and gives back sender, boot, sequence and body', () => {
  const ring = new Keyring(keyA);
  const sealed = seal(ring, 'packet', header, body);
  assert.equal(sealed[0], WIRE_VERSION);
  assert.equal(sealed.length, body.length + sealOverhead(Buffer.byteLength(header.sender)));
  const opened = open(ring, 'packet', sealed);
  assert.ok(opened.ok);
  assert.equal(opened.sender, 'node-a');
  assert.equal(opened.bootId, 123456789n);
  assert.equal(opened.seq, 17);
  assert.deepEqual([...opened.body], [...body]);
  // A fresh nonce every time: the same message never seals to the same bytes.
  assert.notDeepEqual(seal(ring, 'packet', header, body), sealed);
});

test('a packet sealed with another key is refused as a decrypt failure', () => {
  const opened = open(new Keyring(keyB), 'packet', seal(new Keyring(keyA), 'packet', header, body));
  assert.deepEqual(opened.ok ? 'opened' : opened.reason, 'decrypt');
});

test('any flipped bit in nonce, ciphertext or tag is refused as a decrypt failure', () => {
  const ring = new Keyring(keyA);
  const sealed = seal(ring, 'packet', header, body);
  for (let i = 1; i < sealed.length; i++) {
    const tampered = Uint8Array.from(sealed);
    tampered[i] = (tampered[i] ?? 0) ^ 0x10;
    const opened = open(ring, 'packet', tampered);
    assert.equal(opened.ok ? 'opened' : opened.reason, 'decrypt', `byte ${i}`);
  }
});

test('a truncated or unversioned packet is refused without trying keys in vain', () => {
  const ring = new Keyring(keyA);
  const sealed = seal(ring, 'packet', header, body);
  const short = open(ring, 'packet', sealed.subarray(0, 20));
  assert.ok(!short.ok && short.reason === 'malformed');
  const cut = open(ring, 'packet', sealed.subarray(0, sealed.length - 1));
  assert.ok(!cut.ok && cut.reason === 'decrypt');
  const v2 = Uint8Array.from(sealed);
  v2[0] = 2;
  const wrongVersion = open(ring, 'packet', v2);
  assert.ok(!wrongVersion.ok && wrongVersion.reason === 'malformed' && /version 2/.test(wrongVersion.detail));
});

test('a packet cannot be passed off as a stream frame or the other way round', () => {
  const ring = new Keyring(keyA);
  const asStream = open(ring, 'stream', seal(ring, 'packet', header, body));
  assert.ok(!asStream.ok && asStream.reason === 'decrypt');
  const asPacket = open(ring, 'packet', seal(ring, 'stream', header, body));
  assert.ok(!asPacket.ok && asPacket.reason === 'decrypt');
});

test('key rotation: a node with the new primary and the old secondary interoperates with nodes still sealing with the old key', () => {
  const rotated = new Keyring(keyB, [keyA]); // switched: seals with B, still opens A
  const installed = new Keyring(keyA, [keyB]); // B installed, not yet primary
  const oldOnly = new Keyring(keyA); // has not been given B yet

  // It reads everyone still on the old key...
  assert.ok(open(rotated, 'packet', seal(oldOnly, 'packet', header, body)).ok);
  assert.ok(open(rotated, 'packet', seal(installed, 'packet', header, body)).ok);
  // ...and those that have the new key installed read it.
  assert.ok(open(installed, 'packet', seal(rotated, 'packet', header, body)).ok);
  // Which is why the new key must be on every ring before anyone makes it primary.
  assert.ok(!open(oldOnly, 'packet', seal(rotated, 'packet', header, body)).ok);
});

test('the keyring adds, promotes and removes keys, and refuses to lose its primary', () => {
  const ring = new Keyring(keyA);
  ring.addKey(keyB);
  ring.addKey(keyB);
  assert.equal(ring.keys().length, 2, 'adding a key twice is a no-op');
  ring.useKey(keyB);
  assert.deepEqual(ring.primaryKey(), keyB);
  assert.deepEqual(ring.keys(), [keyB, keyA]);
  assert.throws(() => { ring.removeKey(keyB); }, (e: unknown) => e instanceof SwimError && e.code === 'E_KEYRING');
  ring.removeKey(keyA);
  assert.deepEqual(ring.keys(), [keyB]);
  assert.throws(() => { ring.useKey(keyA); }, (e: unknown) => e instanceof SwimError && e.code === 'E_KEYRING');
  // Copies out: callers cannot change the ring's keys through what it returns.
  ring.primaryKey().fill(0);
  assert.deepEqual(ring.primaryKey(), keyB);
});

test('keys must be 32 bytes of base64; generateKey makes such a key', () => {
  const k = generateKey();
  assert.equal(Buffer.from(k, 'base64').length, 32);
  const ring = Keyring.fromBase64(k, [generateKey()]);
  assert.equal(ring.keys().length, 2);
  for (const bad of ['', 'not base64!', Buffer.alloc(16).toString('base64')]) {
    assert.throws(() => Keyring.fromBase64(bad), (e: unknown) => e instanceof SwimError && e.code === 'E_KEYRING', bad);
  }
  assert.throws(() => new Keyring(new Uint8Array(31)), (e: unknown) => e instanceof SwimError && e.code === 'E_KEYRING');
});

test('the replay window accepts each sequence number once, tolerates reordering, and refuses what slid out', () => {
  const guard = new ReplayGuard({ windowSize: 64 });
  const boot = 10n;
  assert.ok(guard.accept('a', boot, 100));
  assert.ok(!guard.accept('a', boot, 100), 'exact replay');
  assert.ok(guard.accept('a', boot, 98), 'reordered, inside the window');
  assert.ok(!guard.accept('a', boot, 98));
  assert.ok(guard.accept('a', boot, 163));
  assert.ok(guard.accept('a', boot, 101), 'still inside (163 - 101 < 64)');
  assert.ok(!guard.accept('a', boot, 99), 'slid out of the window');
  assert.ok(guard.accept('a', boot, 1000), 'a jump clears the window');
  assert.ok(!guard.accept('a', boot, 163));
  assert.ok(guard.accept('a', boot, 999));
  // Senders are independent.
  assert.ok(guard.accept('b', boot, 100));
});

test('a newer boot resets the window; an older boot is a replay while the newer one is heard from', () => {
  let now = 0;
  const guard = new ReplayGuard({ windowSize: 64, forgetAfterMs: 60_000, now: () => now });
  assert.ok(guard.accept('a', 10n, 500));
  assert.ok(guard.accept('a', 11n, 1), 'restarted: sequence starts over');
  assert.ok(!guard.accept('a', 10n, 501), 'the previous boot is over');
  assert.ok(!guard.accept('a', 11n, 1));
  now = 50_000;
  assert.ok(guard.accept('a', 11n, 2));
  now = 100_000;
  assert.ok(!guard.accept('a', 9n, 1), 'boot 11 was heard 50 s ago');
  assert.ok(!guard.accept('a', 9n, 2), 'refused packets do not count as hearing from the sender...');
  now = 110_001;
  // ...so a member restarted after its clock stepped back gets in once its previous boot has been silent 60 s.
  assert.ok(guard.accept('a', 9n, 3));
  assert.ok(!guard.accept('a', 9n, 3));
  assert.ok(guard.accept('a', 11n, 3), 'and a newer boot still wins');
});

test('boot ids increase strictly within a process', () => {
  let last = newBootId();
  for (let i = 0; i < 1000; i++) {
    const next = newBootId();
    assert.ok(next > last);
    last = next;
  }
});

test('the replay guard remembers a bounded number of senders', () => {
  const guard = new ReplayGuard({ windowSize: 32, maxSenders: 3 });
  for (const s of ['a', 'b', 'c', 'd']) assert.ok(guard.accept(s, 1n, 5));
  assert.ok(guard.accept('a', 1n, 5), 'the least recently heard sender was forgotten');
  assert.ok(!guard.accept('d', 1n, 5));
});

test('the frame reader reassembles frames split anywhere and refuses oversized or undersized lengths before buffering', () => {
  const ring = new Keyring(keyA);
  const f1 = encodeFrame(seal(ring, 'stream', header, body));
  const f2 = encodeFrame(seal(ring, 'stream', { ...header, seq: 18 }, body));
  const both = new Uint8Array([...f1, ...f2]);
  for (let cut = 0; cut <= both.length; cut++) {
    const r = new FrameReader(1024);
    const frames = [...r.push(both.subarray(0, cut)), ...r.push(both.subarray(cut))];
    assert.equal(frames.length, 2, `cut at ${cut}`);
    assert.ok(open(ring, 'stream', frames[1] ?? new Uint8Array()).ok);
  }
  const huge = new FrameReader(1024);
  assert.throws(() => huge.push(Uint8Array.from([0x7f, 0xff, 0xff, 0xff])), (e: unknown) => e instanceof FrameError && e.reason === 'tooLarge');
  const tiny = new FrameReader(1024);
  assert.throws(() => tiny.push(Uint8Array.from([0, 0, 0, 3, 1, 2, 3])), (e: unknown) => e instanceof FrameError && e.reason === 'malformed');
});
