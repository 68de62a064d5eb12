import type { StatementSync } from 'node:sqlite';
import { type Change, type ChangeKind, HindsightError, type VolumeSpec } from '../core/index.ts';
import { type Catalog, type ChunkStore, inTransaction } from '../store/index.ts';
import type { FileRowsUpdate } from './file-rows.ts';

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

/**
 * Outbox is the primary's queue of changes not yet acknowledged by every mirror (the `changes`
 * table), with the acknowledged position of each mirror (`acks`).
 *
 * Seqs of a volume are consecutive and only grow (`volumes.next_seq`). Rows are trimmed only
 * when no mirror can still need them: a row that every mirror has acknowledged and that has a
 * newer row of the same path, and a delete that every mirror has acknowledged. So a mirror
 * starting from seq 0 still finds the latest change of every live path. A mirror of the spec
 * with no `acks` row counts as acknowledged 0; a volume whose spec lists no mirror keeps
 * everything (nothing is known to be safe to drop).
 */
export class Outbox {
  readonly #db: Catalog;
  readonly #volumeRow: StatementSync;
  readonly #bumpSeq: StatementSync;
  readonly #insert: StatementSync;
  readonly #trimPath: StatementSync;
  readonly #upsertFile: StatementSync;
  readonly #deleteFile: StatementSync;
  readonly #readAfter: StatementSync;
  readonly #ackOf: StatementSync;
  readonly #upsertAck: StatementSync;
  readonly #trimSuperseded: StatementSync;
  readonly #trimDeletes: StatementSync;

  constructor(catalog: Catalog) {
    const db = catalog;
    this.#db = db;
    this.#volumeRow = db.prepare('SELECT spec, role, epoch, next_seq, state FROM volumes WHERE name = ?');
    this.#bumpSeq = db.prepare('UPDATE volumes SET next_seq = ? WHERE name = ?');
    this.#insert = db.prepare(
      `INSERT INTO changes (volume, seq, epoch, path, kind, mode, mtime_ms, size, chunks, target, captured_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#trimPath = db.prepare(TRIM_PATH_SQL);
    this.#upsertFile = db.prepare(
      `INSERT INTO files (volume, path, kind, size, mtime_ns, ctime_ns, ino, mode, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (volume, path) DO UPDATE SET kind = excluded.kind, size = excluded.size,
         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, ino = excluded.ino,
         mode = excluded.mode, seq = excluded.seq`,
    );
    this.#deleteFile = db.prepare('DELETE FROM files WHERE volume = ? AND path = ?');
    this.#readAfter = db.prepare(
      `SELECT seq, epoch, path, kind, mode, mtime_ms, size, chunks, target, captured_at
       FROM changes WHERE volume = ? AND seq > ? ORDER BY seq LIMIT ?`,
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
        this.#insert.run(
          volume,
          seq,
          v.epoch,
          c.path,
          c.kind,
          c.mode,
          c.mtimeMs,
          c.size,
          c.chunks,
          c.target,
          c.capturedAt,
        );
        seqOfPath.set(c.path, seq);
        seq++;
      }
      const last = seq - 1;
      if (changes.length > 0) this.#bumpSeq.run(seq, volume);
      const minAck = this.#minAcked(volume, v.spec);
      for (const [path, newest] of seqOfPath) this.#trimPath.run(volume, path, newest, minAck);
      for (const path of fileRows?.deletes ?? []) this.#deleteFile.run(volume, path);
      for (const r of fileRows?.upserts ?? []) {
        const rowSeq = seqOfPath.get(r.path) ?? last;
        this.#upsertFile.run(volume, r.path, r.kind, r.size, r.mtimeNs, r.ctimeNs, r.ino, r.mode, rowSeq);
      }
      return last;
    });
  }

  /** readAfter returns up to `limit` changes of `volume` with seq > `afterSeq`, in seq order. */
  readAfter(volume: string, afterSeq: number, limit: number): Change[] {
    return this.#readAfter.all(volume, afterSeq, limit).map((r) => ({
      volume,
      seq: r.seq as number,
      epoch: r.epoch as number,
      path: r.path as string,
      kind: r.kind as ChangeKind,
      mode: r.mode as number,
      mtimeMs: r.mtime_ms as number,
      size: r.size as number,
      chunks: r.chunks ? Buffer.from(r.chunks as Uint8Array) : null,
      target: (r.target as string | null) ?? null,
      capturedAt: r.captured_at as number,
    }));
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

  #requireVolume(volume: string, forWriting: boolean): VolumeState {
    const row = this.#volumeRow.get(volume) as
      | { spec: string; role: string; epoch: number; next_seq: number; state: string }
      | undefined;
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
    return { spec: JSON.parse(row.spec) as VolumeSpec, epoch: row.epoch, nextSeq: row.next_seq };
  }
}

interface VolumeState {
  spec: VolumeSpec;
  epoch: number;
  nextSeq: number;
}
