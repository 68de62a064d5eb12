import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { setTimeout as sleep, setImmediate as yieldTurn } from 'node:timers/promises';
import { createRng, type Rng } from './rng.ts';

/**
 * Direction is one way through the proxy: `toServer` carries what the dialling side (the client,
 * e.g. the primary) sends to the target, `toClient` what the target answers.
 */
export type Direction = 'toServer' | 'toClient';
/** Directions selects one way, or both. */
export type Directions = Direction | 'both';

/** ProxyCounters are what the proxy saw and did, for a test to report and check. */
export interface ProxyCounters {
  /** connections accepted from clients, in total. */
  accepted: number;
  /** connections whose two sides are both still open. */
  open: number;
  /** payload bytes forwarded (after any slicing) in each direction; dropped bytes do not count. */
  bytes: Record<Direction, number>;
  /** bytes taken in but never forwarded: black-holed by half-open. */
  dropped: number;
  /** faults injected: bytes flipped, connections black-holed, stalls and latencies switched on. */
  faults: { corrupted: number; blackholed: number; stalls: number; latencies: number; slicings: number };
}

/** FaultProxyOptions say where a FaultProxy forwards to and how it seeds its randomness. */
export interface FaultProxyOptions {
  /** the target's port on `targetHost`. */
  targetPort: number;
  /** default 127.0.0.1. */
  targetHost?: string;
  /** where the proxy listens; default 127.0.0.1 with a port the system picks. */
  host?: string;
  port?: number;
  /** seeds slicing and corruption, so a run can be repeated. */
  seed: number;
}

/** How much a stalled direction buffers before it stops reading, so TCP pushes back on the sender. */
const STALL_BUFFER_BYTES = 4 * 1024 * 1024;
const DEFAULT_SLICE_MAX = 7;

interface DirectionFaults {
  latencyMs: number;
  sliceMax: number;
  stalled: boolean;
  corruptOnce: boolean;
  corruptProbability: number;
}

function noFaults(): DirectionFaults {
  return { latencyMs: 0, sliceMax: 0, stalled: false, corruptOnce: false, corruptProbability: 0 };
}

/**
 * FaultProxy is a TCP proxy on loopback that a test puts between two agents (see
 * `--advertise`: a node can advertise the proxy's port while listening on its own) to throw
 * network faults at a real link, switchable at run time and per direction where that makes
 * sense: latency, slicing into tiny segments, a stall (held, then released in order),
 * corruption of a byte, and a half-open link (silent both ways, never closed). `heal` removes
 * every fault. The proxy sees TLS records only: it damages the stream, never the messages.
 */
export class FaultProxy {
  readonly port: number;
  readonly counters: ProxyCounters = {
    accepted: 0,
    open: 0,
    bytes: { toServer: 0, toClient: 0 },
    dropped: 0,
    faults: { corrupted: 0, blackholed: 0, stalls: 0, latencies: 0, slicings: 0 },
  };
  readonly #server: Server;
  readonly #options: FaultProxyOptions;
  readonly #rng: Rng;
  readonly #faults: Record<Direction, DirectionFaults> = { toServer: noFaults(), toClient: noFaults() };
  #isHalfOpen = false;
  readonly #pairs = new Set<Pair>();

  private constructor(server: Server, port: number, options: FaultProxyOptions) {
    this.#server = server;
    this.port = port;
    this.#options = options;
    this.#rng = createRng(options.seed);
  }

  /** start listens and returns the proxy; every accepted connection is forwarded to the target. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    // allowHalfOpen: the proxy decides when a side is ended, so an end can wait behind held data.
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');
    const proxy = new FaultProxy(server, address.port, options);
    server.on('connection', (client) => proxy.#accept(client));
    return proxy;
  }

  /** address is `host:port` of the proxy, to advertise. */
  get address(): string {
    return `${this.#options.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** latency delays every chunk by `ms` (order kept); 0 removes it. */
  latency(ms: number, dirs: Directions = 'both'): void {
    for (const d of pick(dirs)) this.#faults[d].latencyMs = ms;
    if (ms > 0) this.counters.faults.latencies++;
    this.#kick();
  }

  /** slice forwards each chunk in random pieces of 1 to `maxBytes` bytes, each its own write; 0 removes it. */
  slice(maxBytes = DEFAULT_SLICE_MAX, dirs: Directions = 'both'): void {
    for (const d of pick(dirs)) this.#faults[d].sliceMax = maxBytes;
    if (maxBytes > 0) this.counters.faults.slicings++;
  }

  /** stall stops forwarding (connections stay open, data is held in order) until `release` or `heal`. */
  stall(dirs: Directions = 'both'): void {
    for (const d of pick(dirs)) this.#faults[d].stalled = true;
    this.counters.faults.stalls++;
  }

  /** release lets stalled data flow again, in the order it came. */
  release(dirs: Directions = 'both'): void {
    for (const d of pick(dirs)) this.#faults[d].stalled = false;
    this.#kick();
  }

  /** corruptOnce flips one byte of the next chunk that passes in `dir`. */
  corruptOnce(dir: Direction = 'toServer'): void {
    this.#faults[dir].corruptOnce = true;
  }

  /** corrupt flips one byte of each chunk with probability `p` (0 removes it). */
  corrupt(p: number, dirs: Directions = 'toServer'): void {
    for (const d of pick(dirs)) this.#faults[d].corruptProbability = p;
  }

  /**
   * halfOpen black-holes every connection, present and future: both sides stay open and hear
   * nothing, whatever they send is dropped, and a close on one side never reaches the other.
   * New connections are accepted and go silent too (the target never sees them).
   */
  halfOpen(): void {
    this.#isHalfOpen = true;
    for (const pair of this.#pairs) this.#blackhole(pair);
  }

  /**
   * heal removes every fault and releases stalled data. Black-holed connections are reset, as a
   * middlebox that lost their state answers their next segment: the agents dial again.
   */
  heal(): void {
    this.#isHalfOpen = false;
    this.#faults.toServer = noFaults();
    this.#faults.toClient = noFaults();
    for (const pair of this.#pairs) {
      if (!pair.isBlackholed) continue;
      pair.client.resetAndDestroy();
      pair.server?.resetAndDestroy();
      this.#drop(pair);
    }
    this.#kick();
  }

  /** close stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.server?.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.counters.accepted++;
    const pair: Pair = {
      client,
      server: undefined,
      isBlackholed: false,
      lanes: { toServer: newLane(), toClient: newLane() },
      ends: 0,
    };
    this.#pairs.add(pair);
    this.counters.open++;
    client.setNoDelay(true);
    client.on('error', () => {});
    if (this.#isHalfOpen) {
      this.#blackhole(pair);
      client.on('data', (data: Buffer) => (this.counters.dropped += data.length));
      return;
    }
    const server = tcpConnect({
      host: this.#options.targetHost ?? '127.0.0.1',
      port: this.#options.targetPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    pair.server = server;
    server.on('error', () => {});
    this.#wire(pair, 'toServer', client, server);
    this.#wire(pair, 'toClient', server, client);
  }

  /** #wire queues what `from` sends for `to`, and its end behind it. */
  #wire(pair: Pair, dir: Direction, from: Socket, to: Socket): void {
    const lane = pair.lanes[dir];
    from.on('data', (data: Buffer) => {
      if (pair.isBlackholed) {
        this.counters.dropped += data.length;
        return;
      }
      lane.queue.push({ data, at: performance.now() });
      lane.queuedBytes += data.length;
      if (lane.queuedBytes > STALL_BUFFER_BYTES) from.pause();
      void this.#pump(pair, dir, from, to);
    });
    // 'end' is an orderly end, 'close' also a reset; either way the other side gets an orderly
    // end, after what is still queued.
    const onEnd = () => {
      lane.ended = true;
      void this.#pump(pair, dir, from, to);
    };
    from.on('end', onEnd).on('close', onEnd);
    // Once `to` is gone, what is queued for it can never be delivered and no end can be sent:
    // the lane is done. Without this a non-empty queue kept the pair, and so the other socket
    // and counters.open, forever. The other side gets its end from the opposite lane, which
    // `to`'s close has ended, after what that lane still holds; the pair then is dropped.
    to.on('close', () => {
      lane.queue = [];
      lane.queuedBytes = 0;
      if (pair.isBlackholed || lane.isEndSent) return;
      lane.isEndSent = true;
      if (++pair.ends === 2) this.#drop(pair);
    });
  }

  /** #pump forwards a lane's queue while its direction is neither stalled nor black-holed. */
  async #pump(pair: Pair, dir: Direction, from: Socket, to: Socket): Promise<void> {
    const lane = pair.lanes[dir];
    if (lane.isPumping) return;
    lane.isPumping = true;
    try {
      while (!pair.isBlackholed && !this.#faults[dir].stalled && !to.destroyed) {
        const head = lane.queue[0];
        if (head === undefined) break;
        const wait = head.at + this.#faults[dir].latencyMs - performance.now();
        if (wait > 0) {
          await sleep(wait);
          continue;
        }
        lane.queue.shift();
        lane.queuedBytes -= head.data.length;
        if (lane.queuedBytes <= STALL_BUFFER_BYTES) from.resume();
        await this.#forward(dir, this.#damage(dir, head.data), to);
      }
      if (lane.ended && lane.queue.length === 0 && !pair.isBlackholed && !lane.isEndSent) {
        lane.isEndSent = true;
        to.end();
        if (++pair.ends === 2) this.#drop(pair);
      }
    } finally {
      lane.isPumping = false;
    }
  }

  /** #forward writes one chunk, in pieces when slicing, and waits while the target socket is full. */
  async #forward(dir: Direction, data: Buffer, to: Socket): Promise<void> {
    const max = this.#faults[dir].sliceMax;
    let offset = 0;
    while (offset < data.length && !to.destroyed) {
      const n = max > 0 ? this.#rng.int(1, max) : data.length;
      const piece = data.subarray(offset, offset + n);
      offset += piece.length;
      this.counters.bytes[dir] += piece.length;
      const hasRoom = to.write(piece);
      if (!hasRoom) await new Promise((resolve) => to.once('drain', resolve).once('close', resolve));
      // A turn of the event loop between pieces, so they leave as separate segments.
      else if (max > 0) await yieldTurn();
    }
  }

  /** #damage flips one byte of `data` when a corruption is armed or drawn; the caller's buffer is copied. */
  #damage(dir: Direction, data: Buffer): Buffer {
    const f = this.#faults[dir];
    const isHit = f.corruptOnce || (f.corruptProbability > 0 && this.#rng.chance(f.corruptProbability));
    if (!isHit || data.length === 0) return data;
    f.corruptOnce = false;
    this.counters.faults.corrupted++;
    const out = Buffer.from(data);
    out[this.#rng.int(0, out.length - 1)] ^= this.#rng.int(1, 255);
    return out;
  }

  #blackhole(pair: Pair): void {
    if (pair.isBlackholed) return;
    pair.isBlackholed = true;
    this.counters.faults.blackholed++;
    for (const lane of Object.values(pair.lanes)) {
      this.counters.dropped += lane.queuedBytes;
      lane.queue = [];
      lane.queuedBytes = 0;
    }
  }

  #drop(pair: Pair): void {
    if (this.#pairs.delete(pair)) this.counters.open--;
    pair.client.destroy();
    pair.server?.destroy();
  }

  /**
   * #kick restarts every lane's pump that stopped (after a release or a heal). A pump sleeping
   * out a latency is not woken: it applies a changed latency when that sleep ends.
   */
  #kick(): void {
    for (const pair of this.#pairs) {
      if (pair.server === undefined) continue;
      void this.#pump(pair, 'toServer', pair.client, pair.server);
      void this.#pump(pair, 'toClient', pair.server, pair.client);
    }
  }
}

/** Lane is one direction of one connection: what waits to be forwarded, in order. */
interface Lane {
  queue: { data: Buffer; at: number }[];
  queuedBytes: number;
  ended: boolean;
  isEndSent: boolean;
  isPumping: boolean;
}

/** Pair is one proxied connection: the accepted client socket and the socket to the target. */
interface Pair {
  client: Socket;
  server: Socket | undefined;
  isBlackholed: boolean;
  lanes: Record<Direction, Lane>;
  /** how many lanes have delivered their end; at 2 the pair is done. */
  ends: number;
}

function newLane(): Lane {
  return { queue: [], queuedBytes: 0, ended: false, isEndSent: false, isPumping: false };
}

function pick(dirs: Directions): Direction[] {
  return dirs === 'both' ? ['toServer', 'toClient'] : [dirs];
}
