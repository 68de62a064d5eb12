import type { TLSSocket } from 'node:tls';
import {
  type Change,
  type Clock,
  type EpochRow,
  type EventSink,
  errorMessage,
  HindsightError,
  type VolumeSpec,
} from '../core/index.ts';
import type { ChunkStore, StoredChunk } from '../store/index.ts';
import { crashPoint, type Logger } from '../sys/index.ts';
import { fitFrame } from './batch-frame.ts';
import { ClockSkewAlarm } from './clock-skew.ts';
import type { Frame } from './framing.ts';
import {
  decodeHashes,
  encodeChanges,
  encodeChunkRecords,
  type HelloHeader,
  type Member,
  MSG,
  PROTOCOL_VERSION,
} from './messages.ts';
import { PeerConnection } from './peer-connection.ts';
import { PendingReplies } from './pending-replies.ts';
import { linkErrorText } from './tls.ts';

/** DEFAULT_WINDOW_SEQS bounds how far the sender runs ahead of the mirror's acknowledgement. */
export const DEFAULT_WINDOW_SEQS = 4096;
/** MAX_UNACKED_BATCHES bounds the CHANGES frames in flight (the mirror cuts off a sender past 64). */
const MAX_UNACKED_BATCHES = 32;
/** DEFAULT_BATCH_CHANGES is the most changes in one CHANGES frame. */
export const DEFAULT_BATCH_CHANGES = 512;
/** CHUNKS_FRAME_BYTES is the target size of one CHUNKS frame. */
const CHUNKS_FRAME_BYTES = 4 * 1024 * 1024;
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/** OutboxReader is what the sender needs of the primary's outbox. */
export interface OutboxReader {
  readAfter(volume: string, afterSeq: number, limit: number): Change[];
  lastSeq(volume: string): number;
  acknowledge(volume: string, mirror: string, epoch: number, seq: number, at: number): void;
}

/** VolumeLinkStats is what status shows per volume and mirror. */
export interface VolumeLinkStats {
  ackedSeq: number;
  sentSeq: number;
  bytesSent: number;
  state: 'waiting' | 'streaming' | 'refused';
  refusal?: string;
}

interface Stream {
  spec: VolumeSpec;
  cursor: number;
  acked: number;
  /** Last seq of each batch sent and not yet acknowledged, oldest first. */
  unacked: number[];
  ready: boolean;
  wake: () => void;
}

/**
 * MirrorLink is the primary's side of the link to one mirror node: it dials the mirror, keeps
 * the link up (reconnecting with backoff), declares each volume the mirror holds, streams
 * outbox changes from the mirror's durable position, serves the chunks it asks for, and records
 * acknowledgements in the outbox.
 */
export class MirrorLink {
  readonly peer: string;
  readonly volumeStats = new Map<string, VolumeLinkStats>();
  connection: PeerConnection | null = null;
  #deps: MirrorLinkDeps;
  #streams = new Map<string, Stream>();
  #stopped = false;
  #abort = new AbortController();
  #running: Promise<void> | null = null;
  /** Requests (leases, votes, relayed calls) sent on this link, waiting for their REPLY. */
  readonly #replies: PendingReplies;
  /** Switchovers asked of the mirror, by volume, waiting for SWITCHED. */
  #switching = new Map<string, { resolve: (epoch: number) => void; reject: (err: Error) => void }>();
  #clockSkew: ClockSkewAlarm;
  /** The error the mirror reported on the current link, if it did (MSG.ERROR). */
  #peerError: string | null = null;
  /** The last mirror error raised as link.peer-error, so a repeating one is raised once. */
  #lastPeerError: string | null = null;

  constructor(peer: string, deps: MirrorLinkDeps) {
    this.peer = peer;
    this.#deps = deps;
    this.#clockSkew = new ClockSkewAlarm(peer, deps.events);
    this.#replies = new PendingReplies(peer, deps.clock);
  }

  /** start begins dialing; it returns at once. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** stop closes the link and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.connection?.close(null);
    for (const s of this.#streams.values()) s.wake();
    await this.#running;
  }

  /** addVolume declares a volume to the mirror (at once if connected, else at the next connect). */
  addVolume(spec: VolumeSpec): void {
    this.#statsOf(spec.name);
    const conn = this.connection;
    if (conn && !conn.isClosed) this.#declare(conn, spec).catch((err) => conn.close(err));
  }

  /**
   * switchover asks the mirror to take over `volume` at `seq` (every change of which it has
   * acknowledged) and resolves with the epoch it took over with. Fails if the link goes down
   * before the answer.
   */
  switchover(volume: string, epoch: number, seq: number): Promise<number> {
    const conn = this.connection;
    if (!conn || conn.isClosed) {
      return Promise.reject(
        new HindsightError('E_SWITCHOVER_MIRROR_DOWN', `the link to ${this.peer} is down`, {
          hint: 'switchover needs the mirror connected; check hindsight status',
        }),
      );
    }
    return new Promise<number>((resolve, reject) => {
      this.#switching.set(volume, { resolve, reject });
      conn.send(MSG.SWITCHOVER, { volume, epoch, seq }).catch(reject);
      conn.closed.then(() =>
        reject(
          new HindsightError(
            'E_SWITCHOVER_MIRROR_DOWN',
            `the link to ${this.peer} closed during the switchover`,
          ),
        ),
      );
    }).finally(() => this.#switching.delete(volume));
  }

  /** waitConnected resolves once the link is up, or rejects after `timeoutMs`. */
  async waitConnected(timeoutMs: number): Promise<void> {
    const { clock } = this.#deps;
    const until = clock.monotonic() + timeoutMs;
    while (!this.connection || this.connection.isClosed) {
      if (clock.monotonic() > until) {
        throw new HindsightError('E_LINK_DOWN', `cannot reach ${this.peer}`, {
          hint: 'check that its agent runs and that its peer port is reachable (hindsight status shows the link)',
        });
      }
      await clock.sleep(50);
    }
  }

  /**
   * request sends a REQUEST (a lease renewal, a vote) and resolves with the REPLY's header, or
   * rejects when the link is down, closes, or no answer comes within `timeoutMs`.
   */
  request(header: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const conn = this.connection;
    if (!conn || conn.isClosed) {
      return Promise.reject(new HindsightError('E_LINK_DOWN', `the link to ${this.peer} is down`));
    }
    return this.#replies.ask(conn, header, timeoutMs);
  }

  /** dropVolume stops streaming a volume this node no longer is primary of. */
  dropVolume(volume: string): void {
    const stream = this.#streams.get(volume);
    this.#streams.delete(volume);
    this.volumeStats.delete(volume);
    stream?.wake();
  }

  /** wake tells the streams that the outbox has new changes. */
  wake(volume: string): void {
    this.#streams.get(volume)?.wake();
  }

  async #run(): Promise<void> {
    const { clock, events, log } = this.#deps;
    let backoff = BACKOFF_START_MS;
    let lastError = '';
    // A failure before the link is up: one event per distinct error, and a growing pause.
    const failed = async (msg: string) => {
      if (msg !== lastError) {
        events.emit({
          level: 'warn',
          type: 'link.error',
          peer: this.peer,
          msg: 'cannot reach mirror',
          data: { error: msg },
        });
        lastError = msg;
      }
      await clock.sleep(backoff, this.#abort.signal).catch(() => {});
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    };
    while (!this.#stopped) {
      let socket: TLSSocket;
      try {
        socket = await this.#deps.dial(this.peer, this.#abort.signal);
      } catch (err) {
        if (this.#stopped) break;
        await failed(linkErrorText(err));
        continue;
      }
      const { err, isLinked } = await this.#session(socket);
      if (this.#stopped) break;
      if (!isLinked) {
        // The link ended before the mirror's HELLO: most often the mirror refuses this node,
        // say a certificate its clock finds not valid (its link.refused says why), but the
        // network may have cut it too. Redialling at once only repeats a refusal, twice a
        // second, with an event each time. How the socket ended (closed, reset) varies from
        // try to try, so only our own errors are named.
        const why = err instanceof HindsightError ? errorMessage(err) : 'closed or reset';
        await failed(`the link ended before the mirror's HELLO: ${why}`);
        continue;
      }
      if (this.#peerError !== null) {
        // The mirror stopped the link over an error of its own (a disk that cannot store the
        // batch, a store that failed): redialling at once repeats it, with events on both
        // sides each time. It counts as a failed attempt: one event, and a growing pause.
        await failed(`the mirror reported: ${this.#peerError}`);
        continue;
      }
      backoff = BACKOFF_START_MS;
      lastError = '';
      this.#lastPeerError = null;
      events.emit({
        level: 'warn',
        type: 'link.disconnected',
        peer: this.peer,
        msg: 'link to mirror lost',
        data: { error: err ? linkErrorText(err) : 'closed' },
      });
      log.debug('session ended', { peer: this.peer });
      await clock.sleep(BACKOFF_START_MS, this.#abort.signal).catch(() => {});
    }
  }

  /** #session runs one link until it closes: why it closed, and whether the mirror's HELLO came. */
  async #session(socket: TLSSocket): Promise<{ err: Error | null; isLinked: boolean }> {
    const { clock, events } = this.#deps;
    let helloSeen = false;
    this.#peerError = null;
    const conn = new PeerConnection({
      socket,
      peer: this.peer,
      clock,
      onClockOffset: (offsetMs, rttMs) => this.#clockSkew.observe(offsetMs, rttMs),
      onFrame: async (frame) => {
        if (!helloSeen) {
          if (frame.type !== MSG.HELLO) throw protocolError('expected HELLO');
          const h = frame.header as HelloHeader;
          if (h.node !== this.peer) throw protocolError(`HELLO from ${h.node}, expected ${this.peer}`);
          if (h.protocol !== PROTOCOL_VERSION) throw protocolError(`protocol ${h.protocol} unsupported`);
          this.#deps.mergeMembers(h.members ?? []);
          helloSeen = true;
          events.emit({ level: 'info', type: 'link.connected', peer: this.peer, msg: 'link to mirror up' });
          for (const spec of this.#deps.volumesFor(this.peer)) await this.#declare(conn, spec);
          return;
        }
        await this.#onFrame(conn, frame);
      },
    });
    this.connection = conn;
    // A socket the peer closed right after the handshake fails this send: that is one more way
    // for the link to end, reported through `closed` like the others, never a throw that would
    // end the dialing loop for good.
    await conn
      .send(MSG.HELLO, {
        node: this.#deps.self,
        protocol: PROTOCOL_VERSION,
        members: this.#deps.members(),
      } satisfies HelloHeader)
      .catch((err: Error) => conn.close(err));
    const err = await conn.closed;
    this.connection = null;
    for (const s of this.#streams.values()) s.wake();
    this.#streams.clear();
    for (const st of this.volumeStats.values()) if (st.state === 'streaming') st.state = 'waiting';
    return { err, isLinked: helloSeen };
  }

  /** #statsOf returns the stats of a volume, starting them at the first use. */
  #statsOf(volume: string): VolumeLinkStats {
    let stats = this.volumeStats.get(volume);
    if (!stats) {
      stats = { ackedSeq: 0, sentSeq: 0, bytesSent: 0, state: 'waiting' };
      this.volumeStats.set(volume, stats);
    }
    return stats;
  }

  async #declare(conn: PeerConnection, spec: VolumeSpec): Promise<void> {
    this.#statsOf(spec.name);
    await conn.send(MSG.VOLUME, {
      spec,
      epoch: this.#deps.epochOf(spec.name),
      epochs: this.#deps.epochsOf(spec.name),
      head: this.#deps.outbox.lastSeq(spec.name),
      rootAlert: this.#deps.rootAlertOf(spec.name),
    });
  }

  async #onFrame(conn: PeerConnection, frame: Frame): Promise<void> {
    const h = frame.header as Record<string, unknown>;
    switch (frame.type) {
      case MSG.VOLUME_READY: {
        const name = String(h.volume);
        const spec = this.#deps.volumesFor(this.peer).find((v) => v.name === name);
        if (!spec) return;
        const seq = Number(h.seq);
        const stats = this.volumeStats.get(name)!;
        stats.state = 'streaming';
        stats.refusal = undefined;
        this.#deps.outbox.acknowledge(name, this.peer, Number(h.epoch) || 1, seq, this.#deps.clock.now());
        stats.ackedSeq = seq;
        const stream: Stream = { spec, cursor: seq, acked: seq, unacked: [], ready: true, wake: () => {} };
        this.#streams.set(name, stream);
        this.#pump(conn, stream).catch((err) => conn.close(err));
        this.#deps.onReady(name);
        return;
      }
      case MSG.VOLUME_REFUSED: {
        const name = String(h.volume);
        const stats = this.volumeStats.get(name);
        if (stats) {
          stats.state = 'refused';
          stats.refusal = String(h.message);
        }
        this.#deps.events.emit({
          level: 'error',
          type: 'volume.refused',
          volume: name,
          peer: this.peer,
          msg: 'mirror refused the volume',
          data: { code: h.code, reason: h.message, hint: h.hint },
        });
        const theirs = Number(h.epoch);
        if (
          h.code === 'E_LINK_STALE_EPOCH' &&
          Number.isSafeInteger(theirs) &&
          theirs > this.#deps.epochOf(name)
        ) {
          this.#deps.onStaleEpoch(name, theirs, this.peer);
        }
        return;
      }
      case MSG.ACK: {
        const stream = this.#streams.get(String(h.volume));
        if (!stream) return;
        const seq = Number(h.seq);
        if (!Number.isSafeInteger(seq) || seq < stream.acked || seq > stream.cursor) {
          throw protocolError(`ACK ${seq} outside the window (${stream.acked}..${stream.cursor})`);
        }
        // The mirror stores again: an error it reported earlier on this link is over.
        this.#peerError = null;
        this.#deps.outbox.acknowledge(
          stream.spec.name,
          this.peer,
          Number(h.epoch),
          seq,
          this.#deps.clock.now(),
        );
        crashPoint('outbox.acked');
        stream.acked = seq;
        while (stream.unacked.length > 0 && stream.unacked[0] <= seq) stream.unacked.shift();
        this.volumeStats.get(stream.spec.name)!.ackedSeq = seq;
        stream.wake();
        return;
      }
      case MSG.REPLY:
        this.#replies.answered(h);
        return;
      case MSG.SWITCHED: {
        const waiting = this.#switching.get(String(h.volume));
        const e = h.error as { code?: string; message?: string; hint?: string } | undefined;
        if (e)
          waiting?.reject(
            new HindsightError(String(e.code ?? 'E_SWITCHOVER'), String(e.message), { hint: e.hint }),
          );
        else waiting?.resolve(Number(h.epoch));
        return;
      }
      case MSG.WANT:
        await this.#serveChunks(conn, String(h.volume), decodeHashes(frame.body));
        return;
      case MSG.ERROR: {
        const reported = `${h.code}: ${h.message}`;
        this.#peerError = reported;
        if (reported === this.#lastPeerError) return;
        this.#lastPeerError = reported;
        this.#deps.events.emit({
          level: 'error',
          type: 'link.peer-error',
          peer: this.peer,
          msg: 'mirror reported an error',
          data: { code: h.code, message: h.message },
        });
        return;
      }
      default:
        throw protocolError(`unexpected message type ${frame.type}`);
    }
  }

  async #pump(conn: PeerConnection, stream: Stream): Promise<void> {
    const { outbox } = this.#deps;
    const stats = this.volumeStats.get(stream.spec.name)!;
    while (!conn.isClosed && this.#streams.get(stream.spec.name) === stream) {
      const room =
        stream.unacked.length < MAX_UNACKED_BATCHES
          ? DEFAULT_WINDOW_SEQS - (stream.cursor - stream.acked)
          : 0;
      const batch = fitFrame(
        room > 0
          ? outbox.readAfter(stream.spec.name, stream.cursor, Math.min(room, DEFAULT_BATCH_CHANGES))
          : [],
      );
      if (batch.length === 0) {
        await new Promise<void>((resolve) => {
          stream.wake = resolve;
        });
        continue;
      }
      const { header, body } = encodeChanges(stream.spec.name, batch, outbox.lastSeq(stream.spec.name));
      // Counted per frame: other frames (chunks, heartbeats) go out on the same link meanwhile.
      stats.bytesSent += await conn.send(MSG.CHANGES, header, body);
      crashPoint('link.sent');
      stream.cursor = batch[batch.length - 1].seq;
      stream.unacked.push(stream.cursor);
      stats.sentSeq = stream.cursor;
    }
  }

  async #serveChunks(conn: PeerConnection, volume: string, hashes: Buffer[]): Promise<void> {
    const stats = this.volumeStats.get(volume);
    let group: StoredChunk[] = [];
    let groupBytes = 0;
    const flush = async () => {
      if (group.length === 0) return;
      const size = await conn.send(MSG.CHUNKS, { volume }, encodeChunkRecords(group));
      if (stats) stats.bytesSent += size;
      group = [];
      groupBytes = 0;
    };
    for (const hash of hashes) {
      const chunk = this.#deps.store.readStored(hash);
      group.push(chunk);
      groupBytes += chunk.data.length;
      if (groupBytes >= CHUNKS_FRAME_BYTES) await flush();
    }
    await flush();
  }
}

/** MirrorLinkDeps is what a MirrorLink is built from (assembled in daemon/). */
export interface MirrorLinkDeps {
  self: string;
  clock: Clock;
  events: EventSink;
  log: Logger;
  store: ChunkStore;
  outbox: OutboxReader;
  dial: (peer: string, signal: AbortSignal) => Promise<TLSSocket>;
  volumesFor: (peer: string) => VolumeSpec[];
  epochOf: (volume: string) => number;
  /** The volume's epoch history, declared with it so that a demoted primary finds the fork point. */
  epochsOf: (volume: string) => EpochRow[];
  /** A mirror accepted the volume at this node's epoch: this node is confirmed as its primary. */
  onReady: (volume: string) => void;
  /** A mirror refused the volume because it holds a newer epoch: this node is no longer primary. */
  onStaleEpoch: (volume: string, epoch: number, peer: string) => void;
  /** Why the volume's root cannot be trusted on this primary (root guard), or null: the mirror holds its delayed views. */
  rootAlertOf: (volume: string) => string | null;
  members: () => Member[];
  mergeMembers: (members: Member[]) => void;
}

function protocolError(why: string): HindsightError {
  return new HindsightError('E_LINK_PROTOCOL', `protocol violation by mirror: ${why}`);
}
