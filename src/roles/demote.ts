import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FileRows, fileRowOf, GlobFilter, isSameFileState } from '../capture/index.ts';
import { type EpochRow, epochForSeq, forkSeq, HindsightError, type VolumeSpec } from '../core/index.ts';
import { ingestFile, inTransaction } from '../store/index.ts';
import { crashPoint } from '../sys/index.ts';
import {
  adoptChanges,
  deleteVersions,
  forgetViews,
  insertQuarantine,
  placeView,
  type QuarantineRow,
  setReceivedPosition,
  walkTree,
} from '../timeline/index.ts';
import type { VolumeRow } from '../volumes/index.ts';
import type { RoleContext } from './role-context.ts';

/** Declared is what a newer primary said of a volume: its epoch, spec and epoch history. */
export interface Declared {
  epoch: number;
  spec: VolumeSpec;
  epochs: EpochRow[];
}

/**
 * Demotion takes the primary role away from this node (docs/roles.md, "Fencing" and "Failback").
 *
 * fence: a mirror holds a newer epoch; capture stops and the node waits to rejoin. A primary
 * whose lease ran out fences itself the same way (fenceForLease) and resumes when it comes back.
 *
 * demote: the newer primary declared the volume to this node. Capture stops, the state of every
 * path it changed after the fork point goes to the quarantine (its divergence, never
 * discarded), its primary state is dropped, and it becomes a mirror of the new primary, seeded
 * from its own directory so that only the differences cross the wire.
 */
export class Demotion {
  readonly #ctx: RoleContext;

  constructor(ctx: RoleContext) {
    this.#ctx = ctx;
  }

  /** fence stops this primary of `volume` at once: `peer` holds the newer `epoch` of it. */
  fence(volume: string, epoch: number, peer: string): Promise<void> {
    return this.#ctx.queue.run(volume, async () => {
      const { volumes, events, runner, service } = this.#ctx;
      const v = volumes.get(volume);
      if (v?.role !== 'primary' || epoch <= v.epoch) return;
      if (v.stopCause === 'fenced') return;
      await runner.stopCapture(volume, v.state === 'active');
      await service.unserve(volume);
      volumes.stop(volume, 'fenced', `fenced: ${peer} holds epoch ${epoch}; waiting to rejoin as a mirror`);
      events.emit({
        level: 'error',
        type: 'role.fenced',
        volume,
        peer,
        msg: 'a newer primary exists: capture stopped',
        data: {
          epoch,
          heldEpoch: v.epoch,
          hint: `the new primary dials this node and it rejoins as its mirror; see hindsight divergence ${volume} then`,
        },
      });
    });
  }

  /** fenceForLease stops this primary because its lease ran out (quorum.ts); unfence resumes it. */
  fenceForLease(volume: string, why: string): Promise<void> {
    return this.#ctx.queue.run(volume, async () => {
      await this.#ctx.runner.stopCapture(volume, false);
      await this.#ctx.service.unserve(volume);
      this.#ctx.volumes.stop(volume, 'lease-lost', why);
      this.#ctx.events.emit({
        level: 'error',
        type: 'role.fenced',
        volume,
        msg: 'lease lost: capture stopped, service released',
        data: {
          reason: why,
          hint: 'the primary resumes when the mirror or the witness can be reached again',
        },
      });
    });
  }

  /** unfence resumes a primary whose lease came back: no newer epoch was granted meanwhile. */
  unfence(volume: string): Promise<void> {
    return this.#ctx.queue.run(volume, async () => {
      this.#ctx.volumes.resume(volume);
      this.#ctx.runner.start(this.#ctx.volumes.get(volume)!);
      await this.#ctx.service.serve(volume);
      this.#ctx.events.emit({
        level: 'warn',
        type: 'role.unfenced',
        volume,
        msg: 'lease regained: capturing and serving again',
      });
    });
  }

  /**
   * demote turns this primary of `volume` into a mirror of the node that declared it at a
   * higher epoch. Returns the divergence quarantined, and whether the directory holds the state
   * at the fork exactly (`clean`: nothing need be seeded or sent again).
   */
  demote(volume: string, declared: Declared): Promise<{ divergence: QuarantineRow[]; clean: boolean }> {
    return this.#ctx.queue.run(volume, () => this.#demote(volume, declared));
  }

  async #demote(volume: string, declared: Declared) {
    const { catalog, store, clock, events, log, volumes, outbox, fileRows, runner, service } = this.#ctx;
    const v = volumes.get(volume)!;
    // Whatever stopped it before (a fence, a switchover), no capture may run on a mirror.
    await runner.stopCapture(volume, v.state === 'active');
    if (v.state === 'active') await service.unserve(volume);
    const fork = forkSeq(volumes.epochs(volume), declared.epochs);
    const changed = outbox.pathsChangedAfter(volume, Number.isFinite(fork) ? fork : Number.MAX_SAFE_INTEGER);
    const now = clock.now();
    const divergence: QuarantineRow[] = [];
    for (const c of changed) {
      divergence.push(await this.#stateOf(v.path, c, now));
    }
    // What changed in the directory but was never captured (capture was fenced, or stopped
    // before it saw it) diverged too: seq 0 marks it.
    const seen = new Set(changed.map((c) => c.path));
    for (const path of await this.#uncaptured(v)) {
      if (!seen.has(path))
        divergence.push(await this.#stateOf(v.path, { path, seq: 0, epoch: v.epoch }, now));
    }
    await store.sync();
    crashPoint('failback.quarantined');
    // Nothing diverged (a switchover, or a failover that lost nothing): the directory holds the
    // state at the fork exactly, and the outbox holds the latest change of every path. They
    // become the mirror's versions and its view's position, so nothing is sent or rewritten.
    const clean = divergence.length === 0 && Number.isFinite(fork);
    const mirrorSpec = declared.spec.mirrors.find((m) => m.node === this.#ctx.self);
    inTransaction(catalog, () => {
      store.commitPending();
      insertQuarantine(catalog, volume, divergence);
      deleteVersions(catalog, volume);
      if (clean) adoptChanges(catalog, outbox.latestOfEachPath(volume), now);
      outbox.forget(volume);
      fileRows.forget(volume);
      forgetViews(catalog, volume);
      if (clean) {
        placeView(catalog, volume, 'main', { root: v.path, seq: fork, delayMs: mirrorSpec?.delayMs ?? 0 });
        setReceivedPosition(
          catalog,
          volume,
          { epoch: epochForSeq(declared.epochs, fork), seq: fork },
          declared.spec.primary.node,
        );
      }
      volumes.becomeMirror(volume, { spec: declared.spec, epoch: declared.epoch, epochs: declared.epochs });
    });
    runner.dropStreams(volume);
    const data = {
      epoch: declared.epoch,
      primary: declared.spec.primary.node,
      forkSeq: Number.isFinite(fork) ? fork : null,
      divergence: divergence.length,
      clean,
      paths: divergence.slice(0, 20).map((d) => d.path),
      hint:
        divergence.length > 0
          ? `list them with hindsight divergence ${volume}; --export DIR writes them out`
          : undefined,
    };
    log.info('demoted', { volume, ...data });
    events.emit({
      level: divergence.length > 0 ? 'error' : 'warn',
      type: 'role.demoted',
      volume,
      msg: `a newer primary holds ${volume}: this node rejoins as its mirror`,
      data,
    });
    return { divergence, clean };
  }

  /**
   * #uncaptured lists the paths of a primary's directory whose state differs from what capture
   * last recorded of them (the `files` table), and recorded paths that are gone.
   */
  async #uncaptured(v: VolumeRow): Promise<string[]> {
    const rows = new FileRows(this.#ctx.catalog, v.name);
    const filter = new GlobFilter(v.spec.include, v.spec.exclude);
    const out: string[] = [];
    const present = new Set<string>();
    for await (const { path } of walkTree(v.path)) {
      const st = await fsp.lstat(join(v.path, path), { bigint: true }).catch(() => null);
      const now = st && fileRowOf(path, st);
      if (!now || !filter.isCapturedPath(path, now.kind === 'dir')) continue;
      present.add(path);
      const row = rows.get(path);
      // A directory's times move with its entries, which are compared themselves.
      const same =
        now.kind === 'dir' ? row?.kind === 'dir' && row.mode === now.mode : row && isSameFileState(row, now);
      if (!same) out.push(path);
    }
    for (const path of this.#ctx.fileRows.paths(v.name)) if (!present.has(path)) out.push(path);
    return out;
  }

  /** #stateOf reads what the directory holds at a path this node changed after the fork. */
  async #stateOf(
    root: string,
    c: { path: string; seq: number; epoch: number },
    now: number,
  ): Promise<QuarantineRow> {
    const full = join(root, c.path);
    const base = {
      epoch: c.epoch,
      seq: c.seq,
      origin: 'divergence' as const,
      path: c.path,
      capturedAt: now,
      quarantinedAt: now,
    };
    const st = await fsp.lstat(full).catch(() => null);
    if (!st) return { ...base, kind: 'delete', mode: 0, mtimeMs: 0, size: 0, chunks: null, target: null };
    const meta = { mode: st.mode & 0o7777, mtimeMs: Math.round(st.mtimeMs) };
    if (st.isSymbolicLink()) {
      return { ...base, ...meta, kind: 'symlink', size: 0, chunks: null, target: await fsp.readlink(full) };
    }
    if (st.isDirectory()) return { ...base, ...meta, kind: 'mkdir', size: 0, chunks: null, target: null };
    try {
      const got = await ingestFile(full, this.#ctx.store);
      return { ...base, ...meta, kind: 'put', size: got.size, chunks: got.chunks, target: null };
    } catch (err) {
      // Demoting without it would let the clean-up remove the only copy: stay, and say so.
      throw new HindsightError(
        'E_DEMOTE_UNREADABLE',
        `${c.path} changed here and cannot be read to keep it`,
        {
          hint: 'fix its permissions or the disk; the node rejoins as a mirror at the next attempt',
          cause: err,
        },
      );
    }
  }
}
