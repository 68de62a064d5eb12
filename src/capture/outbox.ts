import type { StatementSync } from 'node:sqlite';
import { type Change, HindsightError, type VolumeSpec } from '../core/index.ts';
import {
  type Catalog,
  CHANGE_COLUMNS,
  type ChunkReferences,
  type ChunkStore,
  changeFromRow,
  changeValues,
  inTransaction,
} from '../store/index.ts';
import { type SequenceState, VolumeTable } from '../volumes/index.ts';
import { type FileRowsUpdate, FileRowWriter } from './file-rows.ts';

/** ChangeDraft is a change as capture makes it; the outbox gives it volume, epoch and seq. */
export type ChangeDraft = Omit<Change, 'volume' | 'epoch' | 'seq'>;

/**
 * TRIM_PATH_SQL deletes the older changes of one path that every mirror has acknowledged.
 * INDEXED BY: without statistics SQLite walks the primary key (every older seq of the volume)
 * instead of the path index, which made an initial scan quadratic in its size (50,000 files:
 * 174 s instead of 13 s).
 */
export const TRIM_PATH_SQL =
  'DELETE FROM changes INDEXED BY changes_by_path WHERE volume = ? AND path = ? AND seq < ? AND seq <= ?';

/** MirrorLag is how far one mirror is behind the outbox of a volume. */
export interface MirrorLag {
  /** The last seq the mirror acknowledged (0: nothing yet). */
  ackedSeq: number;
  /** Changes after it still in the outbox. */
  changes: number;
  /** When the oldest of them was captured (primary wall clock), or null when none waits. */
  oldestCapturedAt: number | null;
}

/**
 * Outbox is the primary's queue of changes not yet acknowledged by every mirror (the `changes`
 * table), with the acknowledged position of each mirror (`acks`). It is the only code that
 * spells SQL for those two tables; the next seq of a volume lives in its `volumes` row, written
 * through the registry's table.
 *
 * Seqs of a volume are consecutive and only grow (`volumes.next_seq`). Rows are trimmed only
 * when no mirror can still need them: a row that every mirror has acknowledged and that has a
 * newer row of the same path, and a delete that every mirror has acknowledged. So a mirror
 * starting from seq 0 still finds the latest change of every live path. A mirror of the spec
 * with no `acks` row counts as acknowledged 0; a volume whose spec lists no mirror keeps
 * everything (nothing is known to be safe to drop).
 */
export class Outbox implements ChunkReferences {
  readonly name = 'outbox';
  readonly #db: Catalog;
  readonly #volumes: VolumeTable;
  readonly #files: FileRowWriter;
  readonly #insert: StatementSync;
  readonly #adopt: StatementSync;
  readonly #trimPath: StatementSync;
  readonly #readAfter: StatementSync;
  readonly #ackOf: StatementSync;
  readonly #upsertAck: StatementSync;
  readonly #trimSuperseded: StatementSync;
  readonly #trimDeletes: StatementSync;

  constructor(catalog: Catalog) {
    const db = catalog;
    this.#db = db;
    this.#volumes = new VolumeTable(db);
    this.#files = new FileRowWriter(db);
    const values = '?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?';
    this.#insert = db.prepare(`INSERT INTO changes (${CHANGE_COLUMNS}) VALUES (${values})`);
    this.#adopt = db.prepare(`INSERT OR IGNORE INTO changes (${CHANGE_COLUMNS}) VALUES (${values})`);
    this.#trimPath = db.prepare(TRIM_PATH_SQL);
    this.#readAfter = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM changes WHERE volume = ? AND seq > ? ORDER BY seq LIMIT ?`,
    );
    this.#ackOf = db.prepare('SELECT epoch, seq FROM acks WHERE volume = ? AND mirror = ?');
    this.#upsertAck = db.prepare(
      `INSERT INTO acks (volume, mirror, epoch, seq, acked_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (volume, mirror) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq,
         acked_at = excluded.acked_at`,
    );
    this.#trimSuperseded = db.prepare(
      `DELETE FROM changes WHERE volume = ?1 AND seq > ?2 AND seq <= ?3 AND EXISTS (
         SELECT 1 FROM changes AS newer
         WHERE newer.volume = ?1 AND newer.path = changes.path AND newer.seq > changes.seq)`,
    );
    this.#trimDeletes = db.prepare(
      "DELETE FROM changes WHERE volume = ? AND seq > ? AND seq <= ? AND kind = 'delete'",
    );
  }

  /**
   * append gives `changes` the next consecutive seqs of `volume` and stores them, together with
   * the chunks they reference and the `files` rows capture derived from them, in one transaction.
   * Durability order: the chunk bytes are fsynced (`store.sync`) before the transaction that
   * commits their index rows and the changes pointing at them. Each upserted files row gets the
   * seq of the last change of its path in this batch (or the batch's last seq).
   * Throws E_OUTBOX_NO_VOLUME, E_OUTBOX_NOT_PRIMARY or E_OUTBOX_STOPPED. Returns the last seq.
   */
  async append(
    volume: string,
    changes: ChangeDraft[],
    store: ChunkStore,
    fileRows?: FileRowsUpdate,
  ): Promise<number> {
    await store.sync();
    return inTransaction(this.#db, () => {
      store.commitPending();
      const v = this.#requireVolume(volume, true);
      let seq = v.nextSeq;
      const seqOfPath = new Map<string, number>();
      for (const c of changes) {
        this.#insert.run(...changeValues({ ...c, volume, seq, epoch: v.epoch }));
        seqOfPath.set(c.path, seq);
        seq++;
      }
      const last = seq - 1;
      if (changes.length > 0) this.#volumes.setNextSeq(volume, seq);
      const minAck = this.#minAcked(volume, v.spec);
      for (const [path, newest] of seqOfPath) this.#trimPath.run(volume, path, newest, minAck);
      for (const path of fileRows?.deletes ?? []) this.#files.delete(volume, path);
      for (const r of fileRows?.upserts ?? []) {
        this.#files.upsert(volume, { ...r, seq: seqOfPath.get(r.path) ?? last });
      }
      return last;
    });
  }

  /** readAfter returns up to `limit` changes of `volume` with seq > `afterSeq`, in seq order. */
  readAfter(volume: string, afterSeq: number, limit: number): Change[] {
    return this.#readAfter.all(volume, afterSeq, limit).map(changeFromRow);
  }

  /** lastSeq returns the seq of the newest change ever appended to `volume` (0 if none). */
  lastSeq(volume: string): number {
    return this.#requireVolume(volume, false).nextSeq - 1;
  }

  /**
   * acknowledge records that `mirror` holds every change of `volume` up to `seq` durably, and
   * trims what no mirror needs any more. An acknowledgement never moves a mirror's position
   * backwards (a late duplicate is ignored). Throws E_OUTBOX_ACK_AHEAD for a seq never sent.
   */
  acknowledge(volume: string, mirror: string, epoch: number, seq: number, at: number): void {
    inTransaction(this.#db, () => {
      const v = this.#requireVolume(volume, false);
      if (seq > v.nextSeq - 1) {
        throw new HindsightError(
          'E_OUTBOX_ACK_AHEAD',
          `mirror ${mirror} acknowledged seq ${seq} of ${volume}, but the last seq is ${v.nextSeq - 1}`,
          { hint: 'the mirror holds changes this primary never sent: check for a second primary' },
        );
      }
      const prev = this.#ackOf.get(volume, mirror) as { seq: number } | undefined;
      if (prev && prev.seq >= seq) return;
      const before = this.#minAcked(volume, v.spec);
      this.#upsertAck.run(volume, mirror, epoch, seq, at);
      const after = this.#minAcked(volume, v.spec);
      // Rows at or below `before` were already trimmed (by earlier acks, and by append for
      // rows it superseded), so only the newly acknowledged range needs a look.
      if (after > before) {
        this.#trimSuperseded.run(volume, before, after);
        this.#trimDeletes.run(volume, before, after);
      }
    });
  }

  /** minAcked returns the lowest seq of `volume` acknowledged by all of its mirrors. */
  minAcked(volume: string): number {
    return this.#minAcked(volume, this.#requireVolume(volume, false).spec);
  }

  #minAcked(volume: string, spec: VolumeSpec): number {
    if (spec.mirrors.length === 0) return 0;
    let min = Number.POSITIVE_INFINITY;
    for (const m of spec.mirrors) {
      const ack = this.#ackOf.get(volume, m.node) as { seq: number } | undefined;
      min = Math.min(min, ack?.seq ?? 0);
    }
    return min;
  }

  /** mirrorLag says how far `mirror` is behind the outbox of `volume`. */
  mirrorLag(volume: string, mirror: string): MirrorLag {
    const ack = this.#ackOf.get(volume, mirror) as { seq: number } | undefined;
    const ackedSeq = ack?.seq ?? 0;
    const pending = this.#db
      .prepare('SELECT COUNT(*) AS n, MIN(captured_at) AS oldest FROM changes WHERE volume = ? AND seq > ?')
      .get(volume, ackedSeq) as { n: number; oldest: number | null };
    return { ackedSeq, changes: pending.n, oldestCapturedAt: pending.oldest };
  }

  /**
   * adopt stores changes with the seqs and epochs they already have (a change of that seq
   * already stored is kept): a promoted mirror starts its outbox with the current version of
   * every path. Call it in the promotion's transaction.
   */
  adopt(changes: Iterable<Change>): void {
    for (const c of changes) this.#adopt.run(...changeValues(c));
  }

  /**
   * pathsChangedAfter returns every path with a change after `seq`, with the seq and epoch of
   * its last one: what a demoted primary changed after the fork point.
   */
  pathsChangedAfter(volume: string, seq: number): { path: string; seq: number; epoch: number }[] {
    // SQLite takes the bare epoch column from the row that holds MAX(seq).
    return this.#db
      .prepare('SELECT path, MAX(seq) AS seq, epoch FROM changes WHERE volume = ? AND seq > ? GROUP BY path')
      .all(volume, seq) as { path: string; seq: number; epoch: number }[];
  }

  /** latestOfEachPath yields the last change of every path in the outbox of `volume`. */
  *latestOfEachPath(volume: string): Iterable<Change> {
    const rows = this.#db
      .prepare(
        `SELECT ${CHANGE_COLUMNS} FROM changes c
         WHERE c.volume = ? AND c.seq = (SELECT MAX(seq) FROM changes WHERE volume = c.volume AND path = c.path)`,
      )
      .iterate(volume);
    for (const r of rows) yield changeFromRow(r as Record<string, unknown>);
  }

  /** forget drops the outbox and the acknowledgements of a volume this node no longer is primary of. */
  forget(volume: string): void {
    this.#db.prepare('DELETE FROM changes WHERE volume = ?').run(volume);
    this.forgetAcks(volume);
  }

  /** forgetAcks drops what mirrors acknowledged of a volume: a new primary starts counting afresh. */
  forgetAcks(volume: string): void {
    this.#db.prepare('DELETE FROM acks WHERE volume = ?').run(volume);
  }

  /** chunkLists yields the chunk list of every change in any outbox (garbage collection keeps them). */
  *chunkLists(): Iterable<Uint8Array> {
    const rows = this.#db.prepare('SELECT chunks FROM changes WHERE chunks IS NOT NULL').iterate();
    for (const r of rows as Iterable<{ chunks: Uint8Array }>) yield r.chunks;
  }

  #requireVolume(volume: string, forWriting: boolean): SequenceState {
    const row = this.#volumes.sequence(volume);
    if (!row) {
      throw new HindsightError('E_OUTBOX_NO_VOLUME', `volume ${volume} is not in the catalog`, {
        hint: 'add the volume with `hindsight volume add` first',
      });
    }
    if (forWriting && row.role !== 'primary') {
      // The fence on this side: a demoted node never appends, whatever its capture still sees.
      throw new HindsightError('E_OUTBOX_NOT_PRIMARY', `this node is not the primary of ${volume}`, {
        hint: 'capture runs only on the primary; the volume was demoted',
      });
    }
    if (forWriting && row.state !== 'active') {
      throw new HindsightError('E_OUTBOX_STOPPED', `volume ${volume} is stopped`, {
        hint: 'see the volume reason (`hindsight status`); capture resumes once it is cleared',
      });
    }
    return row;
  }
}
