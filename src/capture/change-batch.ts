import { HindsightError } from '../core/index.ts';
import type { ChunkStore } from '../store/index.ts';
import { crashPoint } from '../sys/index.ts';
import type { FileRowDraft, FileRowsUpdate } from './file-rows.ts';
import type { ChangeDraft, Outbox } from './outbox.ts';

/** DEFAULT_BATCH_CHANGES bounds how many changes one outbox append (one transaction) carries. */
export const DEFAULT_BATCH_CHANGES = 1000;
/** DEFAULT_BATCH_BYTES bounds the new chunk bytes one append makes durable in one fsync round. */
export const DEFAULT_BATCH_BYTES = 64 * 1024 * 1024;

/**
 * ChangeBatch collects the changes capture finds, with the `files` rows that go with them, and
 * appends them to the outbox in bounded transactions. Until it is flushed, `pendingRow` answers
 * for the paths it holds, so capture never records the same change twice.
 */
export class ChangeBatch {
  readonly #outbox: Outbox;
  readonly #store: ChunkStore;
  readonly #volume: string;
  readonly #onAppended: (lastSeq: number, count: number) => void;
  #changes: ChangeDraft[] = [];
  readonly #mayAppend: () => boolean;
  #upserts = new Map<string, FileRowDraft>();
  #deletes = new Set<string>();
  #bytes = 0;

  constructor(deps: {
    outbox: Outbox;
    store: ChunkStore;
    volume: string;
    onAppended: (lastSeq: number, count: number) => void;
    /** False while this node may not acknowledge changes (its lease ran out): flush then refuses. */
    mayAppend?: () => boolean;
  }) {
    this.#mayAppend = deps.mayAppend ?? (() => true);
    this.#outbox = deps.outbox;
    this.#store = deps.store;
    this.#volume = deps.volume;
    this.#onAppended = deps.onAppended;
  }

  /** size is the number of changes waiting. */
  get size(): number {
    return this.#changes.length;
  }

  /**
   * pendingRow returns the files row this batch will write for `path`: a row, null when the
   * batch deletes it, or undefined when the batch does not touch it.
   */
  pendingRow(path: string): FileRowDraft | null | undefined {
    const row = this.#upserts.get(path);
    if (row) return row;
    return this.#deletes.has(path) ? null : undefined;
  }

  /** add queues a change (or only a row, when `change` is null) and flushes when the batch is full. */
  async add(
    change: ChangeDraft | null,
    row: FileRowDraft | { deleted: string },
    newBytes = 0,
  ): Promise<void> {
    if (change) this.#changes.push(change);
    if ('deleted' in row) {
      this.#upserts.delete(row.deleted);
      this.#deletes.add(row.deleted);
    } else {
      this.#deletes.delete(row.path);
      this.#upserts.set(row.path, row);
    }
    this.#bytes += newBytes;
    if (this.#changes.length >= DEFAULT_BATCH_CHANGES || this.#bytes >= DEFAULT_BATCH_BYTES)
      await this.flush();
  }

  /** flush appends everything waiting to the outbox in one transaction. */
  async flush(): Promise<void> {
    if (this.#changes.length === 0 && this.#upserts.size === 0 && this.#deletes.size === 0) return;
    if (!this.#mayAppend()) {
      // Nothing is acknowledged without a lease; the loop drops the batch and finds it again.
      throw new HindsightError(
        'E_FENCED',
        `${this.#volume}: this primary holds no lease; nothing is captured`,
        {
          hint: 'the mirror or the witness must be reachable; see hindsight status',
        },
      );
    }
    const changes = this.#changes;
    const rows: FileRowsUpdate = { upserts: [...this.#upserts.values()], deletes: [...this.#deletes] };
    this.discard();
    const last = await this.#outbox.append(this.#volume, changes, this.#store, rows);
    crashPoint('capture.appended');
    if (changes.length > 0) this.#onAppended(last, changes.length);
  }

  /**
   * discard drops what is waiting, after a failure. Nothing is lost: the files rows were not
   * written either, so the next scan finds the same differences again.
   */
  discard(): void {
    this.#changes = [];
    this.#upserts = new Map();
    this.#deletes = new Set();
    this.#bytes = 0;
  }
}
