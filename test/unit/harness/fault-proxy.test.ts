import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultProxy } from '../../harness/fault-proxy.ts';
import { createRng } from '../../harness/rng.ts';
import { waitFor } from '../../harness/wait.ts';

/** A target that records what each connection sends, and the size of every read. */
interface Target {
  server: Server;
  port: number;
  received: Buffer[][];
  sockets: Socket[];
}

async function startTarget(): Promise<Target> {
  const target: Target = { server: createServer(), port: 0, received: [], sockets: [] };
  target.server.on('connection', (socket) => {
    const reads: Buffer[] = [];
    target.received.push(reads);
    target.sockets.push(socket);
    socket.on('data', (d: Buffer) => reads.push(d));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => target.server.listen(0, '127.0.0.1', resolve));
  target.port = (target.server.address() as { port: number }).port;
  return target;
}

async function dial(port: number): Promise<Socket> {
  const socket = tcpConnect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

function joined(reads: Buffer[] | undefined): Buffer {
  return Buffer.concat(reads ?? []);
}

describe('FaultProxy', () => {
  let target: Target;
  let proxy: FaultProxy;
  before(async () => {
    target = await startTarget();
    proxy = await FaultProxy.start({ targetPort: target.port, seed: 7 });
  });
  after(async () => {
    await proxy.close();
    for (const s of target.sockets) s.destroy();
    await new Promise((resolve) => target.server.close(resolve));
  });

  it('forwards both ways and counts the bytes', async () => {
    const client = await dial(proxy.port);
    const index = target.received.length;
    client.write('hello');
    await waitFor(() => joined(target.received[index]).toString() === 'hello', { what: 'hello' });
    const answers: Buffer[] = [];
    client.on('data', (d: Buffer) => answers.push(d));
    target.sockets[index].write('back');
    await waitFor(() => joined(answers).toString() === 'back', { what: 'the answer' });
    assert.ok(proxy.counters.bytes.toServer >= 5 && proxy.counters.bytes.toClient >= 4);
    client.destroy();
  });

  it('keeps the order under latency and slicing, and slices into pieces of at most 7 bytes', async () => {
    const client = await dial(proxy.port);
    const index = target.received.length;
    proxy.latency(30);
    proxy.slice(7);
    const data = createRng(1).bytes(3000);
    for (let i = 0; i < data.length; i += 500) client.write(data.subarray(i, i + 500));
    await waitFor(() => joined(target.received[index]).length === data.length, { what: 'all bytes' });
    assert.deepEqual(joined(target.received[index]), data);
    // Reads may coalesce pieces, but a sliced stream cannot arrive in a handful of reads.
    assert.ok(target.received[index].length > 20, `${target.received[index].length} reads`);
    proxy.heal();
    client.destroy();
  });

  it('holds data during a stall and releases it in order, keeping the connection', async () => {
    const client = await dial(proxy.port);
    const index = target.received.length;
    await waitFor(() => target.received[index] !== undefined, { what: 'the upstream connection' });
    proxy.stall();
    client.write('one-');
    client.write('two');
    await sleep(200);
    assert.equal(joined(target.received[index]).length, 0, 'nothing passes while stalled');
    assert.ok(!client.destroyed);
    proxy.heal();
    await waitFor(() => joined(target.received[index]).toString() === 'one-two', { what: 'the release' });
    client.destroy();
  });

  it('flips exactly one byte once', async () => {
    const client = await dial(proxy.port);
    const index = target.received.length;
    proxy.corruptOnce('toServer');
    const data = Buffer.alloc(1000, 0x55);
    client.write(data);
    await waitFor(() => joined(target.received[index]).length === 1000, { what: 'the bytes' });
    client.write(data);
    await waitFor(() => joined(target.received[index]).length === 2000, { what: 'more bytes' });
    const got = joined(target.received[index]);
    let flipped = 0;
    for (const b of got) if (b !== 0x55) flipped++;
    assert.equal(flipped, 1);
    assert.equal(proxy.counters.faults.corrupted, 1);
    client.destroy();
  });

  it('a target gone while data waits for it: the queue is dropped, the client ended, the pair closed', async () => {
    await waitFor(() => proxy.counters.open === 0, { what: 'the earlier connections closed' });
    const client = await dial(proxy.port);
    const index = target.received.length;
    await waitFor(() => target.received[index] !== undefined, { what: 'the upstream connection' });
    let closed = false;
    client.on('close', () => (closed = true));
    proxy.stall('toServer');
    client.write('never delivered');
    await waitFor(() => proxy.counters.open === 1, { what: 'the pair' });
    await sleep(100);
    target.sockets[index].resetAndDestroy();
    await waitFor(() => closed && proxy.counters.open === 0, {
      what: 'the client closed and the pair dropped, with data still queued for the target',
    });
    assert.equal(joined(target.received[index]).length, 0, 'the stalled data never reached the target');
    proxy.heal();
  });

  it('half-open: silent both ways, nothing closed, new connections silent; heal resets them', async () => {
    const client = await dial(proxy.port);
    const index = target.received.length;
    await waitFor(() => target.received[index] !== undefined, { what: 'the upstream connection' });
    proxy.halfOpen();
    const heard: Buffer[] = [];
    client.on('data', (d: Buffer) => heard.push(d));
    let closed = false;
    client.on('close', () => (closed = true));
    client.write('lost');
    target.sockets[index].write('lost too');
    target.sockets[index].end();
    const accepted = proxy.counters.accepted;
    const late = await dial(proxy.port);
    late.write('into the void');
    await sleep(300);
    assert.equal(joined(target.received[index]).length, 0);
    assert.equal(heard.length, 0);
    assert.equal(closed, false, 'the client side stays open after the target ended');
    assert.equal(proxy.counters.accepted, accepted + 1);
    assert.equal(target.received.length, index + 1, 'the target never sees the late connection');
    proxy.heal();
    await waitFor(() => closed && late.destroyed, { what: 'the reset of black-holed connections' });
    assert.ok(proxy.counters.dropped > 0);
    assert.equal(proxy.counters.open, 0, 'no connection left once the black-holed ones are reset');
  });
});
