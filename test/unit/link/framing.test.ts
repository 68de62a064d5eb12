import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { isHindsightError } from '../../../src/core/index.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  type Frame,
  FrameReader,
  FrameWriter,
  readFrames,
} from '../../../src/link/framing.ts';

const hasCode = (code: string) => (err: unknown) => isHindsightError(err, code);

/** mulberry32: a small seeded generator, so a failure can be replayed from its printed seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function collect(maxFrameBytes?: number): { reader: FrameReader; frames: Frame[] } {
  const frames: Frame[] = [];
  return { reader: new FrameReader({ onFrame: (f) => frames.push(f), maxFrameBytes }), frames };
}

/** Raw frame bytes, built by hand so the tests can also write what encodeFrame never would. */
function rawFrame(
  type: number,
  headerText: string,
  body: Buffer,
  lengthOverride?: number,
  headerLengthOverride?: number,
) {
  const header = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(9);
  prefix.writeUInt32BE(lengthOverride ?? 5 + header.length + body.length, 0);
  prefix.writeUInt8(type, 4);
  prefix.writeUInt32BE(headerLengthOverride ?? header.length, 5);
  return Buffer.concat([prefix, header, body]);
}

describe('framing', () => {
  test('the default limit is 64 MiB', () => {
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 64 * 1024 * 1024);
  });

  test('encodeFrame keeps body parts as separate buffers and matches the wire layout', () => {
    const a = Buffer.from('hello ');
    const b = new Uint8Array([1, 2, 3]);
    const parts = encodeFrame(7, { k: 'v' }, [a, b]);
    assert.equal(parts.length, 4);
    assert.equal(parts[2].buffer, a.buffer, 'the body is not copied');
    const wire = Buffer.concat(parts);
    assert.deepEqual(wire, rawFrame(7, '{"k":"v"}', Buffer.concat([a, b])));
  });

  for (const seed of [1, 2, 3, 42, 1234]) {
    test(`round trip through random fragmentation (seed ${seed})`, () => {
      const random = seeded(seed);
      const sent: { type: number; header: unknown; body: Buffer }[] = [];
      for (let i = 0; i < 200; i++) {
        const size = random() < 0.1 ? Math.floor(random() * 200_000) : Math.floor(random() * 300);
        const body = Buffer.alloc(size);
        for (let j = 0; j < size; j += 97) body[j] = Math.floor(random() * 256);
        sent.push({ type: Math.floor(random() * 256), header: { i, s: 'é'.repeat(i % 5), n: null }, body });
      }
      const stream = Buffer.concat(sent.flatMap((f) => encodeFrame(f.type, f.header, f.body)));
      const { reader, frames } = collect();
      for (let at = 0; at < stream.length; ) {
        // Mostly small pieces, sometimes single bytes, sometimes large runs spanning frames.
        const r = random();
        const n =
          r < 0.2 ? 1 : r < 0.9 ? 1 + Math.floor(random() * 4000) : 1 + Math.floor(random() * 300_000);
        reader.push(stream.subarray(at, at + n));
        at += n;
      }
      assert.equal(frames.length, sent.length, `seed ${seed}`);
      for (let i = 0; i < sent.length; i++) {
        assert.equal(frames[i].type, sent[i].type);
        assert.deepEqual(frames[i].header, sent[i].header);
        assert.ok(frames[i].body.equals(sent[i].body), `body of frame ${i}, seed ${seed}`);
      }
      assert.equal(reader.bufferedBytes, 0);
    });
  }

  test('a frame dribbled one byte at a time arrives intact (compaction keeps the bytes in order)', () => {
    const random = seeded(7);
    const body = Buffer.alloc(200_000);
    for (let i = 0; i < body.length; i++) body[i] = Math.floor(random() * 256);
    const wire = Buffer.concat([
      ...encodeFrame(9, { n: 1 }, body),
      ...encodeFrame(10, { n: 2 }, body.subarray(0, 10)),
    ]);
    const { reader, frames } = collect();
    for (let i = 0; i < wire.length; i++) reader.push(wire.subarray(i, i + 1));
    assert.equal(frames.length, 2);
    assert.ok(frames[0].body.equals(body));
    assert.ok(frames[1].body.equals(body.subarray(0, 10)));
    assert.equal(reader.bufferedBytes, 0);
  });

  test('a frame exactly at the limit is accepted', () => {
    const max = 1024;
    const body = Buffer.alloc(max - 5 - 2, 0xab);
    const parts = encodeFrame(1, {}, body, max);
    const { reader, frames } = collect(max);
    reader.push(Buffer.concat(parts));
    assert.equal(frames.length, 1);
    assert.equal(frames[0].body.length, body.length);
  });

  test('one byte over the limit is refused on the length alone, before any body is buffered', () => {
    const max = 1024;
    assert.throws(() => encodeFrame(1, {}, Buffer.alloc(max - 5 - 2 + 1), max), hasCode('E_FRAME_TOO_LARGE'));
    const { reader, frames } = collect(max);
    const lengthOnly = Buffer.alloc(4);
    lengthOnly.writeUInt32BE(max + 1);
    assert.throws(() => reader.push(lengthOnly), hasCode('E_FRAME_TOO_LARGE'));
    assert.equal(reader.bufferedBytes, 0);
    assert.equal(frames.length, 0);
    assert.throws(
      () => reader.push(Buffer.alloc(10)),
      hasCode('E_FRAME_TOO_LARGE'),
      'the reader stays failed',
    );
  });

  test('a hostile 4 GiB length is refused at the default limit', () => {
    const { reader } = collect();
    assert.throws(() => reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff])), hasCode('E_FRAME_TOO_LARGE'));
  });

  test('a header that is not JSON is refused', () => {
    const { reader, frames } = collect();
    assert.throws(() => reader.push(rawFrame(1, '{"a":', Buffer.alloc(3))), hasCode('E_FRAME_MALFORMED'));
    assert.equal(frames.length, 0);
  });

  test('a header length beyond the frame is refused as soon as it is read', () => {
    const { reader } = collect();
    const bad = rawFrame(1, '{}', Buffer.alloc(100), undefined, 1000);
    assert.throws(() => reader.push(bad.subarray(0, 9)), hasCode('E_FRAME_MALFORMED'));
  });

  test('a length too short to hold type and header length is refused', () => {
    const { reader } = collect();
    assert.throws(() => reader.push(Buffer.from([0, 0, 0, 4])), hasCode('E_FRAME_MALFORMED'));
  });

  test('an encoded undefined header arrives as null; a bad type byte is refused', () => {
    const { reader, frames } = collect();
    reader.push(Buffer.concat(encodeFrame(0, undefined)));
    assert.equal(frames[0].header, null);
    assert.equal(frames[0].body.length, 0);
    assert.throws(() => encodeFrame(256, {}), hasCode('E_FRAME_MALFORMED'));
  });

  test('readFrames yields frames from a stream and refuses one that ends mid-frame', async () => {
    const wire = Buffer.concat([...encodeFrame(1, { a: 1 }, Buffer.from('x')), ...encodeFrame(2, { b: 2 })]);
    const got: Frame[] = [];
    for await (const frame of readFrames(Readable.from([wire.subarray(0, 5), wire.subarray(5)])))
      got.push(frame);
    assert.deepEqual(
      got.map((f) => [f.type, f.header, f.body.toString()]),
      [
        [1, { a: 1 }, 'x'],
        [2, { b: 2 }, ''],
      ],
    );
    await assert.rejects(async () => {
      for await (const _ of readFrames(Readable.from([wire.subarray(0, wire.length - 1)]))) {
        // drain
      }
    }, hasCode('E_FRAME_MALFORMED'));
  });

  test('FrameWriter waits while the peer does not read, then delivers; rejects once the socket closes', async () => {
    let serverSide: net.Socket | undefined;
    const server = net.createServer((s) => {
      serverSide = s;
      s.pause();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    while (serverSide === undefined) await new Promise((resolve) => setImmediate(resolve));
    const peer = serverSide;
    try {
      const writer = new FrameWriter(client);
      const body = Buffer.alloc(32 * 1024 * 1024, 7);
      let settled = false;
      const writing = writer.write(encodeFrame(3, { big: true }, body)).finally(() => {
        settled = true;
      });
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, 'the write waits for the paused reader');

      const received: Frame[] = [];
      const reader = new FrameReader({ onFrame: (f) => received.push(f) });
      peer.on('data', (chunk: Buffer) => reader.push(chunk));
      peer.resume();
      await writing;
      await writer.write(encodeFrame(4, { small: true }));
      while (received.length < 2) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(received[0].body.length, body.length);
      assert.deepEqual(received[1].header, { small: true });

      peer.pause();
      const stuck = writer.write(encodeFrame(3, {}, body));
      client.destroy();
      await assert.rejects(stuck, hasCode('E_LINK_CLOSED'));
      await assert.rejects(writer.write(encodeFrame(4, {})), hasCode('E_LINK_CLOSED'));
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });
});
