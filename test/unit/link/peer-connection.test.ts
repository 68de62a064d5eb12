import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { MSG } from '../../../src/link/messages.ts';
import { PeerConnection } from '../../../src/link/peer-connection.ts';
import { SystemClock } from '../../../src/sys/index.ts';

const HOUR = 3_600_000;

/** A real clock whose wall time is `shiftMs` off; monotonic time stays the kernel's. */
class ShiftedClock extends SystemClock {
  readonly #shiftMs: number;
  constructor(shiftMs: number) {
    super();
    this.#shiftMs = shiftMs;
  }
  override now(): number {
    return super.now() + this.#shiftMs;
  }
}

/** socketPair returns the two ends of a loopback TCP connection (framing needs no TLS). */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const dialed = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => dialed.once('connect', resolve));
  const other = await accepted;
  server.close();
  return [dialed, other];
}

// Regression: the first PING went out only after a heartbeat (1 s), so the mirror stamped the
// first batch of every link with an offset of 0. With the mirror's clock 3 h ahead, the initial
// copy got production times 3 h in the past (seen in e2e/chaos-clock).
test('the clock offset is known before the first frame the peer sends in answer', async (t) => {
  const [primarySocket, mirrorSocket] = await socketPair();
  const heartbeatMs = 60_000; // no heartbeat within the test: only the first PING can measure
  let offsetAtFirstBatch: number | null | undefined;
  const gotBatch = Promise.withResolvers<void>();
  const primary: PeerConnection = new PeerConnection({
    socket: primarySocket as unknown as TLSSocket,
    peer: 'beta',
    clock: new SystemClock(),
    heartbeatMs,
    // The primary sends changes once the mirror has answered its HELLO.
    onFrame: (frame) => {
      if (frame.type === MSG.HELLO) primary.send(MSG.CHANGES, { volume: 'docs' }).catch(() => {});
    },
  });
  const offsets: number[] = [];
  const mirror = new PeerConnection({
    socket: mirrorSocket as unknown as TLSSocket,
    peer: 'alpha',
    clock: new ShiftedClock(3 * HOUR),
    heartbeatMs,
    onClockOffset: (ms) => offsets.push(ms),
    onFrame: (frame) => {
      if (frame.type !== MSG.CHANGES) return;
      offsetAtFirstBatch = mirror.stats.clockOffsetMs;
      gotBatch.resolve();
    },
  });
  t.after(() => {
    primary.close(null);
    mirror.close(null);
  });
  await mirror.send(MSG.HELLO, { node: 'beta' });
  await gotBatch.promise;
  assert.equal(typeof offsetAtFirstBatch, 'number', 'the offset was measured before the batch');
  assert.ok(
    Math.abs((offsetAtFirstBatch as number) + 3 * HOUR) < 1000,
    `the primary's clock is 3 h behind the mirror's: measured ${offsetAtFirstBatch} ms`,
  );
  assert.equal(offsets.length, 1, 'onClockOffset saw the measurement');
});
