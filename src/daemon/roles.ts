import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FileRows, fileRowOf, GlobFilter, isSameFileState } from '../capture/index.ts';
import { type Clock, type EventSink, errorMessage, HindsightError, type VolumeSpec } from '../core/index.ts';
import type { MirrorLink } from '../link/index.ts';
import { type Catalog, type ChunkStore, ingestFile, inTransaction } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import { crashPoint } from '../sys/index.ts';
import {
  applyStates,
  type EpochRow,
  ensureView,
  epochForSeq,
  forkSeq,
  headSeq,
  insertQuarantine,
  listQuarantine,
  listViews,
  type QuarantineRow,
  quarantineAfter,
  readEpochs,
  recordEpoch,
  replaceEpochs,
  walkTree,
} from '../timeline/index.ts';
import type { Hooks } from './hooks.ts';
import type { MirrorSeed } from './mirror-seed.ts';
import type { MirrorViews } from './mirror-views.ts';
import { checkTarget } from './past-views.ts';
import type { ServiceRole } from './service-role.ts';
import { missingVolume, type VolumeRow, type Volumes } from './volumes.ts';

/** RolesDeps is what role changes touch: nearly everything of a volume, through narrow calls. */
export interface RolesDeps {
  self: string;
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  clock: Clock;
  volumes: Volumes;
  mirrorViews: MirrorViews;
  seed: MirrorSeed;
  /** Whether the link from the volume's primary is up right now. */
  primaryConnected: (volume: string) => boolean;
  /** Stops capturing the volume, after a last rescan when `flush` (so every local change is in the outbox). */
  stopCapture: (volume: string, flush: boolean) => Promise<void>;
  /** Stops streaming the volume to mirrors (this node is no longer its primary). */
  dropStreams: (volume: string) => void;
  /** Starts the volume in the role its row now says. */
  startVolume: (row: VolumeRow) => void;
  /** The link to a mirror node, if this node has one. */
  linkTo: (node: string) => MirrorLink | undefined;
  /** The last seq captured of a volume (the outbox's newest). */
  lastSeq: (volume: string) => number;
  /** The seq `mirror` has acknowledged of a volume. */
  ackedSeq: (volume: string, mirror: string) => number;
  hooks: Hooks;
  service: ServiceRole;
}

/** DRAIN_TIMEOUT_MS bounds how long a switchover waits for the mirror to acknowledge everything. */
const DRAIN_TIMEOUT_MS = 5 * 60 * 1000;

/** SWITCHING_PREFIX starts the stop reason of a primary waiting for its mirror to take over. */
export const SWITCHING_PREFIX = 'switching over to';

/** FENCED_PREFIX starts the stop reason of a primary that learned a newer epoch exists. */
export const FENCED_PREFIX = 'fenced:';

/** PROMOTING_KEY marks a promotion recorded but not finished: `meta` value = the seq promoted at. */
const PROMOTING_KEY = (volume: string) => `promoting:${volume}`;

/** PromoteOutcome is what a promotion did. */
export interface PromoteOutcome {
  volume: string;
  epoch: number;
  seq: number;
  quarantined: number;
  primary: string;
}

/**
 * Roles changes which node is primary of a volume (docs/roles.md).
 *
 * promote, on a mirror: the epoch is bumped first, so from that moment the old primary's
 * changes are refused as stale; then every view moves to the seq promoted at, the changes
 * after it go to the quarantine, the outbox is filled with the current version of every path
 * (so any mirror, at any position, gets the whole state), and the volume turns primary with
 * capture continuing at the next seq. A crash in between is finished at start.
 *
 * demote, on an old primary that meets a higher epoch: capture stops, the state of every path
 * it changed after the fork point goes to the quarantine (its divergence, never discarded),
 * its primary state is dropped, and it becomes a mirror of the new primary, seeded from its
 * own directory so that only the differences cross the wire.
 */
export class Roles {
  readonly #deps: RolesDeps;
  /** Role changes of one volume run one after another (see #serially). */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(deps: RolesDeps) {
    this.#deps = deps;
  }

  /**
   * promote makes this mirror the primary of `volume` at the moment `at`, or at `seq`, or with
   * everything received (the default).
   */
  promote(
    volume: string,
    options: { at?: number; seq?: number; force?: boolean; reason?: string } = {},
  ): Promise<PromoteOutcome> {
    const { mirrorViews, volumes, seed, catalog } = this.#deps;
    return mirrorViews.exclusively(async () => {
      const v = volumes.get(volume);
      if (!v) throw missingVolume(volume);
      if (v.role !== 'mirror') {
        throw new HindsightError('E_PROMOTE_NOT_MIRROR', `this node is already the primary of ${volume}`);
      }
      if (!options.force && this.#deps.primaryConnected(volume)) {
        throw new HindsightError('E_PROMOTE_PRIMARY_UP', `the primary ${v.spec.primary.node} is connected`, {
          hint: 'for a planned swap use hindsight switchover; to promote anyway (the old primary is fenced by the epoch) add --force',
        });
      }
      if (seed.pendingHead(volume) !== null) {
        throw new HindsightError(
          'E_PROMOTE_SEEDING',
          `${volume} is still being seeded and has no complete state`,
          {
            hint: 'wait until status shows the view caught up',
          },
        );
      }
      const head = headSeq(catalog, volume);
      if (options.seq !== undefined && options.seq !== head) {
        throw new HindsightError(
          'E_SWITCHOVER_BEHIND',
          `${volume} holds seq ${head} here, not ${options.seq}`,
          {
            hint: 'the primary drains its outbox before it asks; try the switchover again',
          },
        );
      }
      const seq = options.at === undefined ? head : mirrorViews.seqFor(volume, options.at);
      const epoch = v.epoch + 1;
      // Step 1, one transaction: the new epoch exists from here on; the old primary is stale.
      inTransaction(catalog, () => {
        catalog.prepare('UPDATE volumes SET epoch = ? WHERE name = ?').run(epoch, volume);
        recordEpoch(catalog, volume, {
          epoch,
          firstSeq: seq + 1,
          node: this.#deps.self,
          at: this.#deps.clock.now(),
          reason: options.reason ?? (options.force ? 'promote --force' : 'promote'),
        });
        catalog
          .prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)')
          .run(PROMOTING_KEY(volume), String(seq));
      });
      crashPoint('promote.recorded');
      return await this.#finishPromotion(volume);
    });
  }

  /** resumePromotions finishes promotions that a crash interrupted; the agent calls it at start. */
  async resumePromotions(): Promise<void> {
    const rows = this.#deps.catalog.prepare("SELECT key FROM meta WHERE key LIKE 'promoting:%'").all() as {
      key: string;
    }[];
    for (const { key } of rows) {
      const volume = key.slice('promoting:'.length);
      await this.#deps.mirrorViews.exclusively(() => this.#finishPromotion(volume));
    }
  }

  async #finishPromotion(volume: string): Promise<PromoteOutcome> {
    const { catalog, mirrorViews, volumes, clock, events, log } = this.#deps;
    const seq = Number(
      (
        catalog.prepare('SELECT value FROM meta WHERE key = ?').get(PROMOTING_KEY(volume)) as {
          value: string;
        }
      ).value,
    );
    const v = volumes.get(volume)!;
    // Every view shows the promoted moment (delays bypassed), then applies nothing more.
    if (listViews(catalog, volume).length > 0) await mirrorViews.moveTo(volume, seq);
    crashPoint('promote.moved');
    const quarantined = quarantineAfter(catalog, volume, seq, clock.now());
    const main = listViews(catalog, volume).find((r) => r.name === 'main');
    const root = main?.root ?? v.path;
    const files = await this.#fileRows(volume, root);
    const spec = promotedSpec(v, this.#deps.self, root);
    await mirrorViews.forget(volume);
    inTransaction(catalog, () => {
      // The outbox starts with the current version of every path, under its own seq and epoch:
      // a mirror at any position before `seq` still receives the whole state.
      catalog
        .prepare(
          `INSERT OR IGNORE INTO changes
             (volume, seq, epoch, path, kind, mode, mtime_ms, size, chunks, target, captured_at)
           SELECT volume, seq, epoch, path, kind, mode, mtime_ms, size, chunks, target, captured_at
           FROM versions WHERE volume = ? AND superseded_by IS NULL AND seq <= ?`,
        )
        .run(volume, seq);
      const upsert = catalog.prepare(
        `INSERT OR REPLACE INTO files (volume, path, kind, size, mtime_ns, ctime_ns, ino, mode, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const f of files)
        upsert.run(volume, f.path, f.kind, f.size, f.mtimeNs, f.ctimeNs, f.ino, f.mode, f.seq);
      catalog.prepare('DELETE FROM views WHERE volume = ?').run(volume);
      catalog.prepare('DELETE FROM received WHERE volume = ?').run(volume);
      catalog.prepare('DELETE FROM acks WHERE volume = ?').run(volume);
      catalog
        .prepare(
          "UPDATE volumes SET role = 'primary', spec = ?, path = ?, next_seq = ?, state = 'active', reason = NULL WHERE name = ?",
        )
        .run(JSON.stringify(spec), root, seq + 1, volume);
      catalog.prepare('DELETE FROM meta WHERE key = ?').run(PROMOTING_KEY(volume));
    });
    const row = volumes.get(volume)!;
    const outcome = { volume, epoch: row.epoch, seq, quarantined, primary: this.#deps.self };
    log.info('promoted', { ...outcome });
    events.emit({
      level: 'warn',
      type: 'role.promoted',
      volume,
      msg: `this node is now the primary of ${volume}`,
      data: {
        ...outcome,
        formerPrimary: v.spec.primary.node,
        reason: readEpochs(catalog, volume).find((e) => e.epoch === row.epoch)?.reason,
      },
    });
    this.#deps.startVolume(row);
    await this.#deps.service.serve(volume);
    return outcome;
  }

  /**
   * #fileRows describes the view's entries as capture would after a scan, for the paths the
   * timeline holds at the promoted seq: with them, the first scan of the new primary finds
   * nothing changed, and the mirrors get only what changes from now on. An entry that differs
   * from its version (kind) is left out: the scan then captures it as a change.
   */
  async #fileRows(volume: string, root: string) {
    const rows = this.#deps.catalog
      .prepare(
        "SELECT path, kind, seq FROM versions WHERE volume = ? AND superseded_by IS NULL AND kind != 'delete'",
      )
      .all(volume) as { path: string; kind: string; seq: number }[];
    const out = [];
    for (const r of rows) {
      const st = await fsp.lstat(join(root, r.path), { bigint: true }).catch(() => null);
      if (!st) continue;
      const row = fileRowOf(r.path, st);
      const want =
        r.kind === 'put' ? 'file' : r.kind === 'mkdir' ? 'dir' : r.kind === 'symlink' ? 'symlink' : null;
      if (row === null || row.kind !== want) continue;
      out.push({ ...row, seq: r.seq });
    }
    return out;
  }

  /**
   * demote turns this primary of `volume` into a mirror of `primary`, which declared the volume
   * at a higher epoch with history `theirs`. Returns the divergence quarantined.
   */
  demote(volume: string, declared: { epoch: number; spec: VolumeSpec; epochs: EpochRow[] }) {
    return this.#serially(volume, () => this.#demote(volume, declared));
  }

  async #demote(volume: string, declared: { epoch: number; spec: VolumeSpec; epochs: EpochRow[] }) {
    const { catalog, store, clock, events, log } = this.#deps;
    const v = this.#deps.volumes.get(volume)!;
    // Whatever stopped it before (a fence, a switchover), no capture may run on a mirror.
    await this.#deps.stopCapture(volume, v.state === 'active');
    if (v.state === 'active') await this.#deps.service.unserve(volume);
    const mine = readEpochs(catalog, volume);
    const fork = forkSeq(mine, declared.epochs);
    const changed = catalog
      .prepare('SELECT path, MAX(seq) AS seq, epoch FROM changes WHERE volume = ? AND seq > ? GROUP BY path')
      .all(volume, Number.isFinite(fork) ? fork : Number.MAX_SAFE_INTEGER) as {
      path: string;
      seq: number;
      epoch: number;
    }[];
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
    const mirrorSpec = declared.spec.mirrors.find((m) => m.node === this.#deps.self);
    inTransaction(catalog, () => {
      store.commitPending();
      insertQuarantine(catalog, volume, divergence);
      catalog.prepare('DELETE FROM versions WHERE volume = ?').run(volume);
      if (clean) {
        catalog
          .prepare(
            `INSERT INTO versions (volume, seq, epoch, path, kind, mode, mtime_ms, size, chunks, target,
                                   captured_at, received_at, superseded_by, received_mono, produced_at)
             SELECT c.volume, c.seq, c.epoch, c.path, c.kind, c.mode, c.mtime_ms, c.size, c.chunks, c.target,
                    c.captured_at, ?, NULL, 0, c.captured_at
             FROM changes c
             WHERE c.volume = ? AND c.seq = (SELECT MAX(seq) FROM changes WHERE volume = c.volume AND path = c.path)`,
          )
          .run(now, volume);
      }
      for (const table of ['changes', 'files', 'acks', 'views', 'received']) {
        catalog.prepare(`DELETE FROM ${table} WHERE volume = ?`).run(volume);
      }
      replaceEpochs(catalog, volume, declared.epochs);
      if (clean) {
        ensureView(catalog, volume, 'main', v.path);
        catalog
          .prepare("UPDATE views SET applied_seq = ?, delay_ms = ? WHERE volume = ? AND name = 'main'")
          .run(fork, mirrorSpec?.delayMs ?? 0, volume);
        catalog
          .prepare('INSERT INTO received (volume, epoch, seq, from_node) VALUES (?, ?, ?, ?)')
          .run(volume, epochForSeq(declared.epochs, fork), fork, declared.spec.primary.node);
      }
      catalog
        .prepare(
          "UPDATE volumes SET role = 'mirror', spec = ?, epoch = ?, state = 'active', reason = NULL WHERE name = ?",
        )
        .run(JSON.stringify(declared.spec), declared.epoch, volume);
    });
    this.#deps.dropStreams(volume);
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
   * switchover hands `volume` from this primary to its mirror `to` (the only one by default),
   * losing nothing: the pre-switch hook runs, capture takes a last look and stops, the outbox
   * drains, and the mirror takes over at the last seq with everything applied. This node then
   * meets the new epoch and becomes its mirror. If the mirror cannot take over, capture resumes.
   */
  async switchover(
    volume: string,
    to?: string,
  ): Promise<{ volume: string; primary: string; epoch: number; seq: number }> {
    const { volumes, log } = this.#deps;
    const v = volumes.get(volume);
    if (!v) throw missingVolume(volume);
    if (v.role !== 'primary') {
      throw new HindsightError('E_SWITCHOVER_NOT_PRIMARY', `this node is a mirror of ${volume}`, {
        hint: `run it on the primary, ${v.spec.primary.node}`,
      });
    }
    const candidates = v.spec.mirrors.map((m) => m.node);
    const target = to ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (!target || !candidates.includes(target)) {
      throw new HindsightError('E_USAGE', `name the mirror to hand over to: --to ${candidates.join('|')}`);
    }
    const link = this.#deps.linkTo(target);
    if (!link?.connection || link.connection.isClosed) {
      throw new HindsightError('E_SWITCHOVER_MIRROR_DOWN', `the link to ${target} is down`, {
        hint: 'switchover needs the mirror connected; if it is gone for good, promote another mirror',
      });
    }
    await this.#deps.hooks.run('pre-switch', volume, { HINDSIGHT_TARGET: target });
    await this.#deps.stopCapture(volume, true);
    crashPoint('switchover.captured');
    const seq = this.#deps.lastSeq(volume);
    try {
      await this.#waitAcked(volume, target, seq);
      crashPoint('switchover.drained');
      await this.#deps.service.unserve(volume);
      // Stopped from here: the demotion to come has nothing left to flush or unserve.
      volumes.setState(volume, 'stopped', `${SWITCHING_PREFIX} ${target}`);
      const epoch = await link.switchover(volume, v.epoch, seq);
      log.info('switched over', { volume, to: target, epoch, seq });
      return { volume, primary: target, epoch, seq };
    } catch (err) {
      // Still the primary: capture again, and say so.
      const now = volumes.get(volume);
      if (now?.role === 'primary') {
        volumes.setState(volume, 'active', null);
        this.#deps.startVolume(now);
        await this.#deps.service.serve(volume);
      }
      this.#deps.events.emit({
        level: 'error',
        type: 'role.switchover-failed',
        volume,
        peer: target,
        msg: 'switchover failed; this node stays the primary',
        data: { error: errorMessage(err) },
      });
      throw err;
    }
  }

  /** #waitAcked waits until `mirror` acknowledged `seq` of the volume (the outbox drained to it). */
  async #waitAcked(volume: string, mirror: string, seq: number): Promise<void> {
    const started = this.#deps.clock.monotonic();
    while (this.#deps.ackedSeq(volume, mirror) < seq) {
      if (this.#deps.clock.monotonic() - started > DRAIN_TIMEOUT_MS) {
        throw new HindsightError(
          'E_SWITCHOVER_DRAIN',
          `${mirror} did not acknowledge seq ${seq} within ${DRAIN_TIMEOUT_MS / 1000} s`,
          { hint: 'check the link and the mirror (hindsight status on both), then try again' },
        );
      }
      await this.#deps.clock.sleep(100);
    }
  }

  /** fence stops this primary of `volume` at once: a mirror holds a newer epoch of it. */
  fence(volume: string, epoch: number, peer: string): Promise<void> {
    return this.#serially(volume, async () => {
      const { volumes, events } = this.#deps;
      const v = volumes.get(volume);
      if (v?.role !== 'primary' || epoch <= v.epoch) return;
      if (v.state === 'stopped' && v.reason?.startsWith(FENCED_PREFIX)) return;
      await this.#deps.stopCapture(volume, v.state === 'active');
      await this.#deps.service.unserve(volume);
      volumes.setState(
        volume,
        'stopped',
        `${FENCED_PREFIX} ${peer} holds epoch ${epoch}; waiting to rejoin as a mirror`,
      );
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

  /** fenceQuorum stops this primary because its lease ran out (quorum.ts); unfence resumes it. */
  fenceQuorum(volume: string, why: string): Promise<void> {
    return this.#serially(volume, async () => {
      await this.#deps.stopCapture(volume, false);
      await this.#deps.service.unserve(volume);
      this.#deps.volumes.setState(volume, 'stopped', why);
      this.#deps.events.emit({
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
    return this.#serially(volume, async () => {
      this.#deps.volumes.setState(volume, 'active', null);
      this.#deps.startVolume(this.#deps.volumes.get(volume)!);
      await this.#deps.service.serve(volume);
      this.#deps.events.emit({
        level: 'warn',
        type: 'role.unfenced',
        volume,
        msg: 'lease regained: capturing and serving again',
      });
    });
  }

  /**
   * #serially runs the role changes of one volume one after another. A fence (its last rescan
   * still running) and the demotion that follows it arrive on two links at nearly the same
   * moment; run side by side, the demotion read the divergence before the rescan had recorded
   * it, and lost it.
   */
  #serially<T>(volume: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#queues.get(volume) ?? Promise.resolve()).catch(() => {}).then(fn);
    this.#queues.set(volume, run);
    return run;
  }

  /** quarantine lists what the volume keeps out of its timeline on this node. */
  quarantine(volume: string) {
    if (!this.#deps.volumes.get(volume)) {
      throw missingVolume(volume);
    }
    return listQuarantine(this.#deps.catalog, volume).map(quarantineSummary);
  }

  /**
   * exportQuarantine writes the quarantined states of `origin` (default: all) as files into
   * `into`, a new or empty directory, at their paths; deletes are listed, not written. When a
   * path is quarantined more than once, the latest state is written.
   */
  async exportQuarantine(volume: string, into: string, origin?: QuarantineRow['origin']) {
    const { catalog, store, volumes, events } = this.#deps;
    if (!volumes.get(volume)) throw missingVolume(volume);
    const rows = listQuarantine(catalog, volume).filter((r) => origin === undefined || r.origin === origin);
    if (rows.length === 0) {
      throw new HindsightError('E_QUARANTINE_EMPTY', `nothing of ${volume} is quarantined on this node`);
    }
    const latest = new Map<string, QuarantineRow>();
    // Seq 0 is a state never captured: newer than any captured one of the same path.
    const order = (r: QuarantineRow) => (r.seq === 0 ? Number.POSITIVE_INFINITY : r.seq);
    for (const r of rows) if (order(latest.get(r.path) ?? r) <= order(r)) latest.set(r.path, r);
    const dir = await checkTarget(catalog, volumes, into, true);
    const states = [...latest.values()]
      .filter((r) => r.kind === 'put' || r.kind === 'mkdir' || r.kind === 'symlink')
      .map((r) => ({
        ...r,
        volume,
        receivedAt: 0,
        receivedMono: 0,
        producedAt: r.capturedAt,
        supersededBy: null,
      }));
    const done = await applyStates(store, dir, [], states, { fresh: true });
    const deleted = [...latest.values()].filter((r) => r.kind === 'delete').map((r) => r.path);
    events.emit({
      level: 'info',
      type: 'quarantine.exported',
      volume,
      msg: 'quarantined states exported',
      data: { into: dir, ...done, deleted: deleted.length },
    });
    return { into: dir, ...done, deleted };
  }

  /**
   * #uncaptured lists the paths of a primary's directory whose state differs from what capture
   * last recorded of them (the `files` table), and recorded paths that are gone.
   */
  async #uncaptured(v: VolumeRow): Promise<string[]> {
    const rows = new FileRows(this.#deps.catalog, v.name);
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
    const recorded = this.#deps.catalog.prepare('SELECT path FROM files WHERE volume = ?').all(v.name) as {
      path: string;
    }[];
    for (const { path } of recorded) if (!present.has(path)) out.push(path);
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
      const got = await ingestFile(full, this.#deps.store);
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

/** quarantineSummary is a quarantined state as `hindsight divergence` lists it (no chunk list). */
export function quarantineSummary(r: QuarantineRow) {
  const { chunks: _chunks, ...rest } = r;
  return rest;
}

/**
 * promotedSpec is the volume's spec with this node as primary at `root`, and the old primary
 * as a mirror at its old directory with the delay this node had: the pair swapped.
 */
function promotedSpec(v: VolumeRow, self: string, root: string): VolumeSpec {
  const spec = v.spec;
  const mine = spec.mirrors.find((m) => m.node === self);
  const others = spec.mirrors.filter((m) => m.node !== self);
  return {
    ...spec,
    primary: { node: self, path: root },
    mirrors: [
      { node: spec.primary.node, path: spec.primary.path, delayMs: mine?.delayMs ?? 0, views: [] },
      ...others,
    ],
  };
}
