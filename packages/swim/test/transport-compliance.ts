/**
 * One behaviour suite for every Transport (js-libp2p's compliance-test pattern): the memory
 * network and the real UDP/TCP transport must be interchangeable under the protocol.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, Stream, Transport } from '../src/index.js';

export interface TransportPair {
  a: Transport;
  b: Transport;
  /** An endpoint nothing listens on. */
  nowhere: Endpoint;
  cleanup: () => Promise<void>;
}

function waitFor<T>(register: (resolve: (v: T) => void) => void, what: string, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`timed out waiting for ${what}`)); }, ms);
    register((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

function collect(stream: Stream, until: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  return waitFor((resolve) => {
    stream.onData((c) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (all.length >= until) resolve(new Uint8Array(all));
    });
  }, `${until} stream bytes`);
}

export function transportTests(kind: string, setup: () => Promise<TransportPair>): void {
  test(`${kind}: a packet arrives intact with the sender's address and port`, async () => {
    const { a, b, cleanup } = await setup();
    try {
      const got = waitFor<[Uint8Array, Endpoint]>((resolve) => { b.onPacket((d, from) => { resolve([Uint8Array.from(d), from]); }); }, 'packet');
      a.sendPacket({ address: b.address, port: b.port }, Uint8Array.from([1, 2, 3, 250]));
      const [data, from] = await got;
      assert.deepEqual([...data], [1, 2, 3, 250]);
      assert.deepEqual(from, { address: a.address, port: a.port });
    } finally {
      await cleanup();
    }
  });

  test(`${kind}: a stream carries bytes both ways, in order, and its end reaches the other side`, async () => {
    const { a, b, cleanup } = await setup();
    try {
      const accepted = waitFor<Stream>((resolve) => { b.onStream(resolve); }, 'inbound stream');
      const out = await a.dialStream({ address: b.address, port: b.port }, 2000);
      const big = new Uint8Array(200_000).map((_, i) => i % 251);
      out.write(big.subarray(0, 100_000));
      out.write(big.subarray(100_000));
      const inbound = await accepted;
      assert.deepEqual(await collect(inbound, big.length), big);
      const reply = collect(out, 3);
      inbound.write(Uint8Array.from([9, 8, 7]));
      assert.deepEqual([...await reply], [9, 8, 7]);
      const closed = waitFor<true>((resolve) => { inbound.onClose(() => { resolve(true); }); }, 'close');
      out.end();
      assert.equal(await closed, true);
    } finally {
      await cleanup();
    }
  });

  test(`${kind}: dialling where nothing listens fails`, async () => {
    const { a, nowhere, cleanup } = await setup();
    try {
      await assert.rejects(a.dialStream(nowhere, 2000));
    } finally {
      await cleanup();
    }
  });

  test(`${kind}: a closed transport receives nothing and its streams close`, async () => {
    const { a, b, cleanup } = await setup();
    try {
      const accepted = waitFor<Stream>((resolve) => { b.onStream(resolve); }, 'inbound stream');
      const out = await a.dialStream({ address: b.address, port: b.port }, 2000);
      out.write(Uint8Array.from([1]));
      const inbound = await accepted;
      const outClosed = waitFor<true>((resolve) => { out.onClose(() => { resolve(true); }); }, 'dialer side close');
      inbound.onData(() => undefined);
      await b.close();
      assert.equal(await outClosed, true);
      let got = 0;
      b.onPacket(() => { got++; });
      a.sendPacket({ address: b.address, port: b.port }, Uint8Array.from([1]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(got, 0);
    } finally {
      await cleanup();
    }
  });
}
