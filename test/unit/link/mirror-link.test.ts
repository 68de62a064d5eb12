/**
 * MirrorLink's dialing loop must outlive every way a link can end. Found by reading the loop
 * while chasing a CI failure: a socket already closed when the session started made the HELLO
 * send throw out of the loop, and the primary would never have dialed that mirror again until
 * restarted. The agent's dial hands over a socket in the tick of its handshake, so no fault is
 * known to reach this today; the loop must not depend on that.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { MirrorLink } from '../../../src/link/sender.ts';
import { withDeadline } from '../../harness/wait.ts';
import { type CaptureEnv, makeEnv, quietLog } from '../capture/fixture.ts';

let env: CaptureEnv;

beforeEach(() => {
  env = makeEnv();
});

afterEach(async () => {
  await env.cleanup();
});

/** closedSocket returns the dialing end of a loopback TCP connection, already closed by both ends. */
async function closedSocket(): Promise<Socket> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('close', () => resolve()).on('error', () => {}));
  server.close();
  return socket;
}

it('dials again after a link that closed before its HELLO could be sent', async () => {
  let dials = 0;
  const redialed = Promise.withResolvers<void>();
  const link = new MirrorLink('beta', {
    self: 'alpha',
    clock: env.clock,
    events: env.events,
    log: quietLog,
    store: env.store,
    outbox: env.outbox,
    dial: async (_peer, signal) => {
      dials++;
      if (dials === 1) return (await closedSocket()) as TLSSocket;
      redialed.resolve();
      // Later dials wait for stop, as a mirror that does not answer would.
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      throw signal.reason;
    },
    volumesFor: () => [],
    epochOf: () => 1,
    epochsOf: () => [],
    onReady: () => {},
    onStaleEpoch: () => {},
    rootAlertOf: () => null,
    members: () => [],
    mergeMembers: () => {},
  });
  link.start();
  try {
    await withDeadline(redialed.promise, 10_000, 'the second dial');
  } finally {
    await link.stop();
  }
  const errors = env.events.ofType('link.error');
  assert.equal(errors.length, 1, 'one link.error for the failed attempt');
  assert.match(
    String(errors[0].data?.error),
    /before the mirror's HELLO: the peer link closed before the frame was sent/,
  );
});
