import {
  type Change,
  type Clock,
  checkEpochs,
  checkVolumeSpec,
  type EpochRow,
  type EventSink,
  epochForSeq,
  errorMessage,
  HASH_BYTES,
  HindsightError,
  isHindsightError,
  type VolumeSpec,
} from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { inTransaction } from '../store/index.ts';
import { crashPoint, type Logger } from '../sys/index.ts';

import type { Frame } from './framing.ts';
import {
  decodeChanges,
  decodeChunkRecords,
  encodeHashes,
  type HelloHeader,
  type Member,
  MSG,
  PROTOCOL_VERSION,
} from './messages.ts';
import type { PeerConnection } from './peer-connection.ts';

/** WANT_HASHES is how many chunk hashes one WANT asks for. */
const WANT_HASHES = 512;
/** WANTS_IN_FLIGHT bounds the chunk requests outstanding at once (memory and pipelining). */
const WANTS_IN_FLIGHT = 8;
/** MAX_QUEUED_BATCHES bounds the CHANGES frames waiting to be handled (the sender's window needs ~8). */
const MAX_QUEUED_BATCHES = 64;
/** SYNC_EVERY_BYTES makes a long transfer (one huge file) durable in steps, bounding memory. */
const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

/** ReceiverDeps is what a PrimarySession is built from (assembled in daemon/). */
export interface ReceiverDeps {
  self: string;
  clock: Clock;
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  /** Accepts (or refuses, by throwing a HindsightError) the primary's volume; returns the durable position. */
  acceptVolume: (
    spec: VolumeSpec,
    from: string,
    epoch: number,
    head: number,
    epochs: EpochRow[] | null,
  ) => Promise<{ epoch: number; seq: number }>;
  /** Records a batch of received changes as versions; runs inside the receiver's transaction. */
  recordVersions: (changes: Change[], receivedAt: number, from: string) => void;
  /** The volume's current epoch on this node (a VOLUME of an older one is refused). */
  epochOf: (volume: string) => number;
  /** A peer asks for a lease or a vote; resolves with the answer (docs/roles.md). */
  onRequest: (peer: string, request: Record<string, unknown>) => Promise<Record<string, unknown>>;
  /** The primary asks this mirror to take over at `seq` (switchover); resolves with the new epoch. */
  onSwitchover: (volume: string, from: string, epoch: number, seq: number) => Promise<{ epoch: number }>;
  /** The volume's epoch history: a change carrying an older epoch than its seq's is refused (fencing token). */
  epochsOf: (volume: string) => EpochRow[];
  /** Called after versions were committed, to wake the apply loop. */
  onVersions: (volume: string) => void;
  /** Called when the primary declares that the volume's root cannot be trusted (emptied, missing). */
  onRootAlert: (volume: string, reason: string) => void;
  members: () => Member[];
  mergeMembers: (members: Member[]) => void;
}

/** VolumeReceiveStats is what status shows for a mirrored volume's link. */
export interface VolumeReceiveStats {
  from: string;
  bytesReceived: number;
  primarySeq: number | null;
}

/**
 * PrimarySession is the mirror's side of one link from a primary. Batches of changes are
 * handled strictly in order: the chunks a batch needs are requested (bounded in flight),
 * verified and stored; then the pack data is fsynced, the chunk index and the versions are
 * committed in one transaction, and only then is the batch acknowledged.
 */
export class PrimarySession {
  readonly peer: string;
  #deps: ReceiverDeps;
  #conn: PeerConnection | null = null;
  #queue: Promise<void> = Promise.resolve();
  #accepted = new Set<string>();
  /** Chunks asked for and not yet received, by hash (hex). */
  #waiting = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  #bytesSinceSync = 0;
  #queued = 0;
  #background: Promise<void> = Promise.resolve();
  #helloSeen = false;
  readonly stats: Map<string, VolumeReceiveStats>;

  constructor(peer: string, deps: ReceiverDeps, stats: Map<string, VolumeReceiveStats>) {
    this.peer = peer;
    this.#deps = deps;
    this.stats = stats;
  }

  /** attach binds the session to its connection; call before frames flow. */
  attach(conn: PeerConnection): void {
    this.#conn = conn;
    // One handler for all waiting chunks: a handler per chunk would keep every chunk ever asked
    // for referenced until the link ends, growing memory with the data transferred.
    conn.closed.then((err) => {
      const reason = err ?? new HindsightError('E_LINK_CLOSED', 'link closed');
      for (const w of this.#waiting.values()) w.reject(reason);
      this.#waiting.clear();
    });
  }

  /** close ends the link and waits until the batch in progress (if any) has finished or failed. */
  async close(): Promise<void> {
    this.#conn?.close(null);
    await this.#queue.catch(() => {});
    await this.#background.catch(() => {});
  }

  /** onFrame handles one frame from the primary. */
  async onFrame(frame: Frame): Promise<void> {
    const conn = this.#conn!;
    const h = frame.header as Record<string, unknown>;
    if (!this.#helloSeen && frame.type !== MSG.HELLO) throw protocolError('expected HELLO first');
    switch (frame.type) {
      case MSG.HELLO: {
        this.#helloSeen = true;
        const hello = frame.header as HelloHeader;
        if (hello.node !== this.peer)
          throw protocolError(`HELLO names ${hello.node}, certificate says ${this.peer}`);
        if (hello.protocol !== PROTOCOL_VERSION)
          throw protocolError(`protocol ${hello.protocol} unsupported`);
        this.#deps.mergeMembers(hello.members ?? []);
        await conn.send(MSG.HELLO, {
          node: this.#deps.self,
          protocol: PROTOCOL_VERSION,
          members: this.#deps.members(),
        });
        this.#deps.events.emit({
          level: 'info',
          type: 'link.connected',
          peer: this.peer,
          msg: 'link from primary up',
        });
        return;
      }
      case MSG.VOLUME:
        await this.#onVolume(conn, h);
        return;
      case MSG.REQUEST: {
        // Leases and votes (docs/roles.md): answered beside the stream, never blocking it.
        const id = Number(h.id);
        if (!Number.isSafeInteger(id)) throw protocolError('REQUEST without an id');
        this.#deps
          .onRequest(this.peer, h)
          .then(
            (reply) => conn.send(MSG.REPLY, { ...reply, id }),
            (err) => conn.send(MSG.REPLY, { id, error: errorMessage(err) }),
          )
          .catch(() => {});
        return;
      }
      case MSG.SWITCHOVER: {
        // The primary drained everything up to `seq` and asks this mirror to take over. The
        // promotion runs beside the link (heartbeats go on); SWITCHED answers it either way.
        const volume = String(h.volume);
        const seq = Number(h.seq);
        if (!this.#accepted.has(volume) || !Number.isSafeInteger(seq) || seq < 0) {
          throw protocolError('SWITCHOVER for a volume not accepted, or without a seq');
        }
        this.#deps
          .onSwitchover(volume, this.peer, Number(h.epoch), seq)
          .then(
            (r) => conn.send(MSG.SWITCHED, { volume, seq, epoch: r.epoch }),
            (err) =>
              conn.send(MSG.SWITCHED, {
                volume,
                seq,
                error: {
                  code: isHindsightError(err) ? err.code : 'E_SWITCHOVER',
                  message: errorMessage(err),
                  hint: isHindsightError(err) ? err.hint : undefined,
                },
              }),
          )
          .catch(() => {});
        return;
      }
      case MSG.CHANGES: {
        const { volume, head, changes } = decodeChanges(frame.header, frame.body);
        if (!this.#accepted.has(volume)) throw protocolError(`CHANGES for undeclared volume ${volume}`);
        const st = this.stats.get(volume);
        if (st) {
          st.bytesReceived += frame.body.length;
          st.primarySeq = head;
        }
        // Strictly in order. An honest sender's window bounds how many batches wait here; one
        // that ignores it is cut off rather than allowed to grow this node's memory.
        if (this.#queued >= MAX_QUEUED_BATCHES)
          throw protocolError(`more than ${MAX_QUEUED_BATCHES} batches unacknowledged`);
        this.#queued++;
        this.#queue = this.#queue
          .then(() => this.#receiveBatch(conn, volume, changes))
          .finally(() => {
            this.#queued--;
          });
        this.#queue.catch((err) => conn.close(err));
        return;
      }
      case MSG.CHUNKS:
        try {
          this.#onChunks(String(h.volume), frame.body);
        } catch (err) {
          // A bad chunk is the primary's fault; a store that cannot write is this disk's.
          const why = isLocalStoreFailure(err)
            ? 'cannot store chunks from the primary'
            : 'refused chunks from the primary';
          await this.#refuse(conn, String(h.volume), why, err);
          throw err;
        }
        return;
      case MSG.ERROR:
        this.#deps.events.emit({
          level: 'error',
          type: 'link.peer-error',
          peer: this.peer,
          msg: 'primary reported an error',
          data: { code: h.code, message: h.message },
        });
        return;
      default:
        throw protocolError(`unexpected message type ${frame.type}`);
    }
  }

  async #onVolume(conn: PeerConnection, h: Record<string, unknown>): Promise<void> {
    let spec: VolumeSpec;
    try {
      spec = checkVolumeSpec(h.spec);
      const head = Number.isSafeInteger(h.head) ? (h.head as number) : 0;
      const epochs = h.epochs === undefined ? null : checkEpochs(h.epochs);
      const pos = await this.#deps.acceptVolume(spec, this.peer, Number(h.epoch) || 1, head, epochs);
      this.#accepted.add(spec.name);
      const st = this.stats.get(spec.name) ?? { from: this.peer, bytesReceived: 0, primarySeq: null };
      st.primarySeq = head;
      this.stats.set(spec.name, st);
      if (typeof h.rootAlert === 'string') this.#deps.onRootAlert(spec.name, h.rootAlert.slice(0, 500));
      await conn.send(MSG.VOLUME_READY, { volume: spec.name, epoch: pos.epoch, seq: pos.seq });
    } catch (err) {
      const code = isHindsightError(err) ? err.code : 'E_VOLUME_REFUSED';
      const hint = isHindsightError(err) ? err.hint : undefined;
      const volume = String((h.spec as { name?: unknown })?.name ?? '?');
      this.#deps.events.emit({
        level: 'error',
        type: 'volume.refused',
        volume,
        peer: this.peer,
        msg: 'refused a volume from the primary',
        data: { code, reason: errorMessage(err) },
      });
      // With a stale epoch, the refusal tells the sender the epoch that replaced it: a demoted
      // primary learns it must stop capturing (fence) and wait to rejoin as a mirror.
      const epoch = code === 'E_LINK_STALE_EPOCH' ? this.#deps.epochOf(volume) : undefined;
      await conn.send(MSG.VOLUME_REFUSED, { volume, code, message: errorMessage(err), hint, epoch });
    }
  }

  /** #refuse records why input from the primary was refused and tells the primary, before the link closes. */
  async #refuse(conn: PeerConnection, volume: string, msg: string, err: unknown): Promise<void> {
    const code = isHindsightError(err) ? err.code : 'E_RECEIVE';
    this.#deps.events.emit({
      level: 'error',
      type: 'receive.rejected',
      volume,
      peer: this.peer,
      msg,
      data: { code, error: errorMessage(err) },
    });
    await conn.send(MSG.ERROR, { code, message: errorMessage(err) }).catch(() => {});
  }

  async #receiveBatch(conn: PeerConnection, volume: string, changes: Change[]): Promise<void> {
    if (changes.length === 0) return;
    const { store, catalog, clock } = this.#deps;
    // A change is stale when the epoch history gives its seq to a later epoch: it comes from a
    // primary that was replaced before it wrote that seq. Older changes keep their own epoch.
    const history = this.#deps.epochsOf(volume);
    const stale = changes.find((c) => c.epoch < epochForSeq(history, c.seq) || c.epoch < 1);
    if (stale) {
      const epoch = epochForSeq(history, stale.seq);
      const err = new HindsightError(
        'E_LINK_STALE_EPOCH',
        `change ${stale.seq} carries epoch ${stale.epoch}; at that seq this mirror is at epoch ${epoch}`,
        { hint: 'the sender is a demoted primary; it must rejoin as a mirror' },
      );
      await this.#refuse(conn, volume, 'refused changes from an older epoch', err);
      throw err;
    }
    const needed: Buffer[] = [];
    for (const c of changes) {
      if (c.kind !== 'put' || !c.chunks) continue;
      for (let i = 0; i < c.chunks.length; i += HASH_BYTES) needed.push(c.chunks.subarray(i, i + HASH_BYTES));
    }
    const missing = store.missing(needed);
    await this.#fetch(conn, volume, missing);
    try {
      await this.#background;
      await store.sync();
    } catch (err) {
      // A local disk failure (E_STORE_WRITE, E_STORE_FAILED): nothing of the batch is
      // acknowledged, and both sides must say why, not just see the link drop.
      await this.#refuse(conn, volume, 'cannot store a batch of changes', err);
      throw err;
    }
    const receivedAt = clock.now();
    try {
      inTransaction(catalog, () => {
        store.commitPending();
        this.#deps.recordVersions(changes, receivedAt, this.peer);
      });
    } catch (err) {
      await this.#refuse(conn, volume, 'refused a batch of changes', err);
      throw err;
    }
    this.#bytesSinceSync = 0;
    crashPoint('receive.recorded');
    const last = changes[changes.length - 1];
    await conn.send(MSG.ACK, { volume, epoch: last.epoch, seq: last.seq });
    this.#deps.onVersions(volume);
  }

  /** #fetch asks for `hashes` in groups, a bounded number outstanding, and resolves when all are stored. */
  async #fetch(conn: PeerConnection, volume: string, hashes: Buffer[]): Promise<void> {
    let next = 0;
    const inFlight = new Set<Promise<void>>();
    while (next < hashes.length || inFlight.size > 0) {
      while (next < hashes.length && inFlight.size < WANTS_IN_FLIGHT) {
        const group = hashes.slice(next, next + WANT_HASHES);
        next += group.length;
        const done = Promise.all(group.map((hash) => this.#awaitChunk(hash, conn))).then(() => {});
        const tracked = done.finally(() => inFlight.delete(tracked));
        // Marked handled here; the race below still sees a rejection.
        tracked.catch(() => {});
        inFlight.add(tracked);
        await conn.send(MSG.WANT, { volume }, encodeHashes(group));
      }
      await Promise.race(inFlight);
      // Made durable in the background while more chunks arrive; the batch's own sync below
      // waits for it (syncs run one after another), so nothing is acknowledged before it.
      if (this.#bytesSinceSync >= SYNC_EVERY_BYTES) {
        this.#bytesSinceSync = 0;
        this.#background = this.#background.then(() => this.#syncChunks());
        // Handled where the batch awaits it; marked here so an early link loss is no unhandled rejection.
        this.#background.catch(() => {});
      }
    }
  }

  #awaitChunk(hash: Buffer, conn: PeerConnection): Promise<void> {
    if (conn.isClosed) return Promise.reject(new HindsightError('E_LINK_CLOSED', 'link closed'));
    const key = hash.toString('hex');
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(key, { resolve, reject });
    });
  }

  #onChunks(volume: string, body: Buffer): void {
    const st = this.stats.get(volume);
    if (st) st.bytesReceived += body.length;
    for (const chunk of decodeChunkRecords(body)) {
      const key = chunk.hash.toString('hex');
      const waiter = this.#waiting.get(key);
      // A chunk nobody asked for is dropped: a peer cannot fill our store at will.
      if (!waiter) continue;
      this.#deps.store.putStored({ ...chunk, hash: Buffer.from(chunk.hash), data: Buffer.from(chunk.data) });
      this.#bytesSinceSync += chunk.rawLen;
      this.#waiting.delete(key);
      waiter.resolve();
    }
  }

  async #syncChunks(): Promise<void> {
    await this.#deps.store.sync();
    // Chunk index rows alone are harmless if nothing references them yet.
    inTransaction(this.#deps.catalog, () => this.#deps.store.commitPending());
  }
}

function isLocalStoreFailure(err: unknown): boolean {
  return isHindsightError(err, 'E_STORE_WRITE') || isHindsightError(err, 'E_STORE_FAILED');
}

function protocolError(why: string): HindsightError {
  return new HindsightError('E_LINK_PROTOCOL', `protocol violation by primary: ${why}`);
}
