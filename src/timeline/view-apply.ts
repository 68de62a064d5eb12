import { type EventSink, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { crashPoint, type Logger, NODE_FILE_OPS, syncFileSystem, type TreeOps } from '../sys/index.ts';
import {
  applyDelete,
  applyMeta,
  applyMkdir,
  applyPut,
  applySymlink,
  type EffectContext,
  syncDirectoryIfPresent,
} from './apply-effects.ts';
import { checkViewRoot, rejectVersion, resolveBeneath } from './path-guard.ts';
import { removeStagingFiles } from './staging-sweep.ts';
import { type VersionRow, versionsAfter } from './versions.ts';
import { readView, setAppliedSeq } from './views.ts';

/** DEFAULT_APPLY_BATCH is how many versions one applyPending call takes at most. */
export const DEFAULT_APPLY_BATCH = 1000;
/** DEFAULT_APPLY_PARALLEL is how many puts of unrelated paths are applied at once. */
export const DEFAULT_APPLY_PARALLEL = 16;

/** ViewApplierDeps is what a ViewApplier needs: where the timeline is, and which view to move. */
export interface ViewApplierDeps {
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  /** The funnel clock's time (FunnelClock.now): versions are due by their receipt on it. */
  funnelNow: () => number;
  volume: string;
  /** The view's name, e.g. 'main'. */
  view: string;
  /** The directory the view is kept in. */
  root: string;
  /** Where the view's writes go (default NODE_FILE_OPS); tests wrap it to fail chosen calls. */
  ops?: TreeOps;
  /** How start makes the view's file system durable (default syncFileSystem); tests observe it. */
  syncFileSystem?: (dir: string) => Promise<void>;
}

/**
 * ViewApplier moves one view forward through the timeline: it applies the versions after the
 * view's `applied_seq` to the directory, in seq order, and persists the new position only
 * once the effects are durable (files fsynced, then every changed directory fsynced once).
 *
 * Every failure it throws has already been reported as an event. A version that can never be
 * applied safely is rejected (`apply.rejected`) and skipped; an I/O error stops the batch
 * before the failing version (`apply.error`, E_APPLY_IO) so the caller retries it later; a
 * failed fsync stops the view for good (E_APPLY_FSYNC) because its data cannot be trusted.
 */
export class ViewApplier {
  private readonly deps: ViewApplierDeps;
  private fatal: HindsightError | null = null;
  private isSwept = false;
  /** Errors already turned into an event, so one failure is reported once on its way out. */
  private readonly reportedErrors = new WeakSet<object>();

  constructor(deps: ViewApplierDeps) {
    this.deps = deps;
  }

  private get ops(): TreeOps {
    return this.deps.ops ?? NODE_FILE_OPS;
  }

  /**
   * start removes staging files an interrupted apply left in the view root, then syncs the
   * view's file system. The view continues from applied_seq and re-applying a version is
   * idempotent, but a process killed after an unlink, mkdir or rename and before its directory
   * fsync leaves that change only in the page cache; the re-apply finds it done, has nothing
   * to fsync, and would move the position past a change a power cut can still undo.
   */
  async start(): Promise<void> {
    await this.reported(null, () => this.sweep());
  }

  /** isStopped tells whether a failed fsync has stopped this view. */
  get isStopped(): boolean {
    return this.fatal !== null;
  }

  /**
   * applyPending applies up to `limit` due versions and returns how many it consumed (applied,
   * skipped or rejected). A held view applies nothing; with a delay, only versions received at
   * least `delay_ms` ago (on the funnel clock) are due, and the first one not yet due ends the batch.
   */
  async applyPending(limit = DEFAULT_APPLY_BATCH): Promise<number> {
    if (this.fatal) throw this.fatal;
    return await this.reported(null, () => this.applyBatch(limit));
  }

  private async applyBatch(limit: number): Promise<number> {
    const { catalog, volume, view: name } = this.deps;
    const view = readView(catalog, volume, name);
    // A view in the middle of a move (a rewind, or one interrupted) shows no single moment.
    if (view.held || view.movingFrom !== null) return 0;
    let due = versionsAfter(catalog, volume, view.appliedSeq, limit);
    if (view.delayMs > 0) {
      const cutoff = this.deps.funnelNow() - view.delayMs;
      const firstNotDue = due.findIndex((v) => v.receivedMono > cutoff);
      if (firstNotDue >= 0) due = due.slice(0, firstNotDue);
    }
    if (due.length === 0) return 0;
    await checkViewRoot(this.deps.root);
    if (!this.isSwept) await this.sweep();

    const ctx: EffectContext = { store: this.deps.store, ops: this.ops, dirty: new Set() };
    const bySeq = new Map(due.map((v) => [v.seq, v]));
    const lastSeq = due[due.length - 1].seq;
    const skipped: VersionRow[] = [];
    for (let i = 0; i < due.length; ) {
      // A run of puts to unrelated paths is applied concurrently: each one waits mostly on its
      // own fsync, and the order between them does not matter. Everything else goes one by one.
      const group: VersionRow[] = [];
      for (; i < due.length && group.length < DEFAULT_APPLY_PARALLEL; i++) {
        const v = due[i];
        if (isReplacedInBatch(v, bySeq, lastSeq)) {
          skipped.push(v);
          continue;
        }
        const isPut = v.kind === 'put' && !group.some((g) => isRelated(g.path, v.path));
        if (group.length > 0 && (!isPut || group[0].kind !== 'put')) break;
        group.push(v);
        if (v.kind !== 'put') {
          i++;
          break;
        }
      }
      const results = await Promise.allSettled(
        group.map((v) => this.reported(v, () => this.applyOne(ctx, v))),
      );
      const failed = results.findIndex(
        (r) => r.status === 'rejected' && !isHindsightError(r.reason, 'E_APPLY_REJECTED'),
      );
      if (failed < 0) continue;
      const v = group[failed];
      const err = (results[failed] as PromiseRejectedResult).reason;
      if (isHindsightError(err, 'E_APPLY_FSYNC')) throw err;
      // Keep what is done, but never claim a skipped version whose replacement was not applied;
      // versions of the group after the failed one are applied again on retry (idempotent).
      let position = v.seq - 1;
      for (const s of skipped) if (s.supersededBy! >= v.seq) position = Math.min(position, s.seq - 1);
      await this.persist(ctx, position, view.appliedSeq);
      const wrapped = new HindsightError('E_APPLY_IO', `applying seq ${v.seq} of ${volume} failed`, {
        hint: 'the view retries by itself; fix the cause named in the event (disk, permissions, missing chunk)',
        cause: err,
      });
      this.reportedErrors.add(wrapped);
      throw wrapped;
    }
    await this.persist(ctx, lastSeq, view.appliedSeq);
    return due.length;
  }

  private async applyOne(ctx: EffectContext, v: VersionRow): Promise<void> {
    // A delete or meta never creates parents: a missing ancestor means there is nothing to touch.
    const creates = v.kind === 'put' || v.kind === 'mkdir' || v.kind === 'symlink';
    const at = await resolveBeneath(ctx.ops, this.deps.root, v.path, creates, ctx.dirty);
    if (at === null) {
      if (v.kind === 'delete') return;
      rejectVersion('meta change for a path that does not exist in the view');
    }
    if (v.kind === 'put') await applyPut(ctx, v, at);
    else if (v.kind === 'mkdir') await applyMkdir(ctx, v, at);
    else if (v.kind === 'symlink') await applySymlink(ctx, v, at);
    else if (v.kind === 'delete') await applyDelete(ctx, at);
    else await applyMeta(ctx, v, at);
  }

  private async sweep(): Promise<void> {
    await checkViewRoot(this.deps.root);
    const removed = await removeStagingFiles(this.ops, this.deps.root);
    await (this.deps.syncFileSystem ?? syncFileSystem)(this.deps.root);
    this.isSwept = true;
    if (removed > 0) this.deps.log.info('staging files removed', { view: this.deps.view, removed });
  }

  /** persist makes the batch's directory entries durable, then records the position. */
  private async persist(ctx: EffectContext, seq: number, previous: number): Promise<void> {
    for (const dir of ctx.dirty) await syncDirectoryIfPresent(ctx.ops, dir);
    crashPoint('apply.written');
    if (seq > previous) setAppliedSeq(this.deps.catalog, this.deps.volume, this.deps.view, seq);
    crashPoint('apply.positioned');
  }

  /** reported runs `fn` and reports its failure as an event before rethrowing it. */
  private async reported<T>(v: VersionRow | null, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof Object && this.reportedErrors.has(err))) this.report(v, err);
      throw err;
    }
  }

  private report(v: VersionRow | null, err: unknown): void {
    if (err instanceof Object) this.reportedErrors.add(err);
    const { events, log, volume, view } = this.deps;
    const code = isHindsightError(err) ? err.code : (err as NodeJS.ErrnoException)?.code;
    const data = { view, seq: v?.seq, path: v?.path, kind: v?.kind, code, error: errorMessage(err) };
    if (isHindsightError(err, 'E_APPLY_REJECTED')) {
      log.error('version rejected', data);
      events.emit({ level: 'error', type: 'apply.rejected', volume, msg: 'version rejected', data });
      return;
    }
    if (isHindsightError(err, 'E_APPLY_FSYNC')) this.fatal = err;
    log.error('apply failed', data);
    const msg = this.fatal ? 'fsync failed, view stopped' : 'apply failed';
    events.emit({ level: 'error', type: 'apply.error', volume, msg, data });
  }
}

/** isRelated tells whether two paths are the same or one lies beneath the other. */
function isRelated(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * isReplacedInBatch tells whether a version need not be applied because a later version of
 * the same path in this batch sets the path's whole state anyway (any kind but meta, which
 * only amends). Besides saving work, this keeps a re-apply after a crash from stumbling over
 * the newer state already on disk (say, a put beneath a directory since replaced by a file).
 */
function isReplacedInBatch(v: VersionRow, bySeq: Map<number, VersionRow>, lastSeq: number): boolean {
  if (v.supersededBy === null || v.supersededBy > lastSeq) return false;
  const next = bySeq.get(v.supersededBy);
  return next !== undefined && next.kind !== 'meta';
}
