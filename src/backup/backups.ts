import { randomBytes } from 'node:crypto';
import { type Clock, type EventSink, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import { type Catalog, type ChunkStore, ReadWindow } from '../store/index.ts';
import { listViews, liveAt, producedAtOf, seqAt } from '../timeline/index.ts';
import { BackupReads } from './backup-reads.ts';
import {
  type BackupInfo,
  type BackupProgress,
  BackupTables,
  type PruneAnswer,
  type TierInfo,
  type TierRow,
} from './backup-tables.ts';
import { fillTier } from './catch-up.ts';
import { type RepoKey, readKeyFile } from './repo-key.ts';
import { Repository } from './repository.ts';
import { type KeepPolicy, keptBackups } from './retention.ts';
import { judgeRevision, newRevision, readTierRevision, writeTierRevision } from './revisions.ts';
import type { Tier } from './tier.ts';
import { markForeign, tierFailed } from './tier-events.ts';
import { type TierMember, TierSet } from './tier-set.ts';
import { openTier, pinAccess, type TierAccess, withOverride } from './tier-url.ts';

/** DEFAULT_WAIT_MS is how long a backup waits for a tier while every tier is offline. */
export const DEFAULT_WAIT_MS = 15 * 60_000;
/** WAIT_POLL_MS is how often a waiting backup looks at the tiers again. */
const WAIT_POLL_MS = 2000;

export interface BackupsDeps {
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  clock: Clock;
  node: string;
  /** The cluster CA's fingerprint: what a repository header names as its cluster. */
  cluster: string;
  /** Where the repository key is kept (created with the first tier, mode 0600). */
  keyFile: string;
  /** Where restore drills restore to (a scratch directory beneath it, removed afterwards). */
  scratchDir: string;
}

/** Reachable is a tier that answered, with its row as the catalog now has it. */
interface Reachable extends TierMember {
  row: TierRow;
}

/**
 * Backups takes backups of the volumes this node mirrors and writes them to its tiers, under
 * the two-tier rules (docs/backup.md): a write goes to every online tier that is in sync and
 * is done once one took it; reads come from the first tier that answers; each tier's revision
 * is raised, in the catalog and then in the tier, before it is written, so that another
 * installation writing to it is found (`foreign`); a tier that missed writes is `behind` and
 * is caught up in idle time by copying what it lacks, which a new backup pre-empts.
 */
export class Backups {
  readonly #d: BackupsDeps;
  readonly #table: BackupTables;
  readonly #reads: BackupReads;
  #running = 0;
  /** The backups running now, and how far each has got (for status: progress on a terminal). */
  readonly #progress = new Map<string, BackupProgress>();
  #isCatchingUp = false;

  constructor(deps: BackupsDeps) {
    this.#d = deps;
    this.#table = new BackupTables(deps.catalog);
    this.#reads = new BackupReads({
      table: this.#table,
      key: () => this.#key(),
      events: deps.events,
      clock: deps.clock,
      scratchDir: deps.scratchDir,
    });
  }

  /** restore, verify and drill only read the tiers (backup-reads.ts). */
  restore(...args: Parameters<BackupReads['restore']>): ReturnType<BackupReads['restore']> {
    return this.#reads.restore(...args);
  }

  verify(...args: Parameters<BackupReads['verify']>): ReturnType<BackupReads['verify']> {
    return this.#reads.verify(...args);
  }

  drill(...args: Parameters<BackupReads['drill']>): ReturnType<BackupReads['drill']> {
    return this.#reads.drill(...args);
  }

  /** running lists the backups under way, with their progress. */
  running(): BackupProgress[] {
    return [...this.#progress.values()].map((p) => ({ ...p }));
  }

  /** lastDrill is the newest restore drill of `volume`, for status. */
  lastDrill(volume: string): ReturnType<BackupTables['lastDrill']> {
    return this.#table.lastDrill(volume);
  }

  /** exportKey returns the repository key file's text, to keep somewhere safe. */
  exportKey(): string {
    return this.#key().toKeyFile();
  }

  /**
   * addTier sets up `url` as tier `name` holding this node's repository (a new one for the
   * first tier); a later tier starts `behind` and is filled by the catch-up. A location that
   * holds a repository already is refused unless `adopt` is given and this node's key opens it.
   */
  async addTier(
    name: string,
    url: string,
    options: { adopt?: boolean } & TierAccess = {},
  ): Promise<TierInfo> {
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(name)) {
      throw new HindsightError('E_USAGE', `tier name ${JSON.stringify(name)} is not allowed`, {
        hint: 'lower-case letters, digits, - and _, up to 32',
      });
    }
    if (this.#table.get(name)) throw new HindsightError('E_TIER_EXISTS', `tier ${name} exists already`);
    const tierId = `${this.#d.cluster.slice(0, 16)}-${randomBytes(8).toString('hex')}`;
    const access = await pinAccess(url, {
      credentials: options.credentials,
      identity: options.identity,
      hostKey: options.hostKey,
    });
    const tier = await openTier(url, tierId, true, access);
    const key = this.#key(true);
    const known = this.#table.repository();
    const repo = await Repository.initOrAdopt(tier, key, this.#d.cluster, known, options.adopt === true);
    const isFirst = known === undefined;
    this.#table.add({
      name,
      url: tier.url,
      tierId,
      repository: repo.id,
      state: isFirst ? 'online' : 'behind',
      access,
      at: this.#d.clock.now(),
    });
    this.#d.events.emit({
      level: 'info',
      type: 'tier.added',
      msg: `tier ${name} added${isFirst ? '' : '; it is filled from the other tiers when the node is idle'}`,
      data: { tier: name, url: tier.url, repository: repo.id },
    });
    if (!isFirst) this.#soon();
    return this.tiers().find((t) => t.name === name)!;
  }

  /** tiers lists the tiers in order. */
  tiers(): TierInfo[] {
    return this.#table
      .list()
      .map(({ tierId: _t, repository: _r, recorded: _v, synced: _s, access, ...info }) => ({
        ...info,
        hostKey: access.hostKey ?? null,
      }));
  }

  /** list returns the backups recorded here, newest first, of one volume or all. */
  list(volume?: string): BackupInfo[] {
    return this.#table.backups(volume);
  }

  /**
   * run backs up mirrored volume `volume` as of `at` (default: the moment its main view shows)
   * to every tier in sync. While every tier is offline it waits up to `waitMs` for one.
   */
  async run(volume: string, at?: number, options: { waitMs?: number } = {}): Promise<BackupInfo> {
    if (this.#table.list().length === 0) {
      throw new HindsightError('E_BACKUP_NO_TIER', 'this node has no backup tier', {
        hint: 'add one first: hindsight tier add NAME file:///mnt/backup',
      });
    }
    const seq = at === undefined ? this.#viewSeq(volume) : seqAt(this.#d.catalog, volume, at);
    this.#running++;
    try {
      return await this.#write(volume, seq, options.waitMs ?? DEFAULT_WAIT_MS);
    } finally {
      this.#progress.delete(volume);
      this.#running--;
      this.#soon();
    }
  }

  async #write(volume: string, seq: number, waitMs: number): Promise<BackupInfo> {
    const { clock, events } = this.#d;
    const producedAt = producedAtOf(this.#d.catalog, volume, seq) ?? 0;
    const takenAt = clock.now();
    const { value, writers, revision } = await this.#writing(volume, waitMs, async (_set, repo, started) => {
      events.emit({
        level: 'info',
        type: 'backup.started',
        volume,
        msg: `backup of ${volume} as of seq ${seq} started on ${started.join(', ')}`,
        data: { seq, at: producedAt, tiers: started },
      });
      const entries = liveAt(this.#d.catalog, volume, seq);
      const progress = { volume, entries: 0, total: entries.length, newBytes: 0, startedAt: takenAt };
      this.#progress.set(volume, progress);
      const window = new ReadWindow();
      return repo.backup({
        volume,
        seq,
        at: producedAt,
        node: this.#d.node,
        takenAt,
        entries,
        // The tree's chunks lie in the store about in the order they are read: one read for many.
        readStored: (address) => this.#d.store.readStored(address, window),
        // The newest backup at or before this moment: what has not changed since is taken from it.
        // This trusts that a volume's seqs never repeat on this node (a removed and re-added
        // volume must not keep its old backups' rows), and checks each reused line's metadata.
        previous: this.#table.backups(volume).find((b) => b.seq <= seq)?.id,
        onProgress: (done, newBytes) => Object.assign(progress, { entries: done, newBytes }),
      });
    });
    for (const name of writers) this.#table.recordSuccess(name, clock.now(), value.totals.newBytes);
    const info: BackupInfo = {
      volume,
      id: value.snapshot.id,
      seq,
      at: producedAt,
      takenAt,
      files: value.snapshot.files,
      bytes: value.snapshot.bytes,
      newBytes: value.totals.newBytes,
      tiers: writers,
    };
    this.#table.addBackup(info);
    events.emit({
      level: 'info',
      type: 'backup.finished',
      volume,
      msg: `backup of ${volume} done on ${info.tiers.join(', ')}`,
      data: { ...info, revision },
    });
    return info;
  }

  /**
   * prune deletes, on every tier in sync, the backups `policy` does not keep (per volume; the
   * backups of volumes it does not name are kept), and what only they used. A tier whose
   * account may not delete (an append-only tier) refuses, with what to do.
   */
  async prune(
    policy: KeepPolicy,
    options: { volume?: string; waitMs?: number; access?: TierAccess } = {},
  ): Promise<PruneAnswer> {
    this.#running++;
    try {
      const { value, writers } = await this.#writing(
        options.volume,
        options.waitMs ?? DEFAULT_WAIT_MS,
        async (set, repo) => {
          const all = await repo.snapshots();
          const keep = new Set(
            all.filter((s) => options.volume !== undefined && s.volume !== options.volume).map((s) => s.id),
          );
          const volumes = new Set(all.map((s) => s.volume));
          for (const v of volumes) {
            if (options.volume !== undefined && v !== options.volume) continue;
            for (const id of keptBackups(
              all.filter((s) => s.volume === v),
              policy,
            ))
              keep.add(id);
          }
          return {
            report: await repo.prune(keep),
            kept: keep.size,
            removed: all.filter((s) => !keep.has(s.id)).map((s) => s.id),
            refused: set.refusedDeletes,
          };
        },
        options.access,
      );
      this.#table.forgetBackups(value.removed);
      const answer = { ...value.report, kept: value.kept, tiers: writers, refused: value.refused };
      for (const tier of value.refused) {
        this.#d.events.emit({
          level: 'warn',
          type: 'backup.failed',
          volume: options.volume,
          msg: `tier ${tier} refused to delete: its account may only add (an append-only tier); nothing was pruned there`,
          data: {
            tier,
            hint: 'prune it with the credentials that may delete: hindsight backup prune … --credentials FILE (S3) or --identity FILE (SFTP)',
          },
        });
      }
      this.#d.events.emit({
        level: 'info',
        type: 'backup.pruned',
        volume: options.volume,
        msg: `pruned ${answer.snapshots} backups, ${answer.packs} packs on ${writers.join(', ')}`,
        data: { ...answer, policy },
      });
      return answer;
    } finally {
      this.#running--;
    }
  }

  /**
   * #writing runs one write on every tier in sync (the two-tier rules): it waits for such a
   * tier, raises their revision (first in the catalog, then in the tier) before anything else
   * is written, runs `fn` on the repository over those tiers, then records the tiers that took
   * every write as in sync at the new revision; the others fall behind.
   */
  async #writing<T>(
    volume: string | undefined,
    waitMs: number,
    fn: (set: TierSet, repo: Repository, started: string[]) => Promise<T>,
    access?: TierAccess,
  ): Promise<{ value: T; writers: string[]; revision: number }> {
    const key = this.#key();
    const writers = await this.#waitForWriters(volume, waitMs, access);
    // Above every revision any tier holds or was being given: a tier must never be handed a
    // number it holds already (its own object stays, and the node would take itself for a clone).
    const revision = newRevision(this.#table.highestRevision());
    const started: TierMember[] = [];
    for (const w of writers) {
      this.#table.beginRevision(w.name, revision);
      try {
        await writeTierRevision(w.tier, key, revision, this.#d.node, this.#d.clock.now());
        started.push(w);
      } catch (err) {
        this.#tierFailed(w.name, err, volume);
      }
    }
    if (started.length === 0) return this.#writing(volume, waitMs, fn, access);
    const set = new TierSet(started, started, (name, err) => this.#tierFailed(name, err, volume));
    const value = await fn(
      set,
      await Repository.open(set, key, { lazyIndex: true }),
      started.map((w) => w.name),
    );
    for (const w of started) this.#table.commitRevision(w.name);
    for (const name of set.writers) this.#table.setSynced(name, revision.revision);
    return { value, writers: set.writers, revision: revision.revision };
  }

  /** #waitForWriters returns the tiers to write to, waiting (with an event) while there is none. */
  async #waitForWriters(
    volume: string | undefined,
    waitMs: number,
    access?: TierAccess,
  ): Promise<Reachable[]> {
    const what = volume ?? 'the repository';
    const deadline = this.#d.clock.monotonic() + waitMs;
    let hasSaid = false;
    for (;;) {
      const { writers, offline } = await this.#survey(access);
      if (writers.length > 0) return writers;
      // Waiting helps only a tier that is offline; one that is misconfigured will not mend itself.
      if (offline === 0 || this.#d.clock.monotonic() >= deadline) {
        const msg = `no tier could take the backup of ${what}`;
        // A scheduled run has no caller to see the error: the event is what notices and alarms hear.
        this.#tellTiers('error', 'backup.failed', volume, msg);
        throw new HindsightError('E_BACKUP_ALL_OFFLINE', msg, {
          hint: 'hindsight tier list shows each tier and its last error; the backup runs once one is back',
        });
      }
      const waits = `every tier is offline or behind; the backup of ${what} waits for one`;
      if (!hasSaid) this.#tellTiers('warn', 'backup.waiting', volume, waits);
      hasSaid = true;
      await this.#d.clock.sleep(WAIT_POLL_MS);
    }
  }

  /**
   * #survey looks at every tier not known as foreign: whether it answers, and whether the
   * revision it holds is the one this node recorded (or was writing when it stopped). It
   * returns the tiers in sync (the writers) and those behind them.
   */
  async #survey(
    access?: TierAccess,
  ): Promise<{ writers: Reachable[]; behind: Reachable[]; max: number; offline: number }> {
    const key = this.#key();
    const rows = this.#table.list().filter((r) => r.state !== 'foreign');
    const max = Math.max(0, ...rows.map((r) => r.synced));
    const reachable: Reachable[] = [];
    let offline = 0;
    for (const row of rows) {
      let tier: Tier;
      try {
        tier = await openTier(row.url, row.tierId, false, withOverride(row.access, access));
        await tier.check();
      } catch (err) {
        this.#tierFailed(row.name, err);
        if (isHindsightError(err, 'E_TIER_OFFLINE')) offline++;
        continue;
      }
      const verdict = judgeRevision(row.recorded, await readTierRevision(tier, key));
      if (verdict === 'foreign') {
        this.#markForeign(row);
        continue;
      }
      if (verdict === 'ours') this.#table.commitRevision(row.name);
      reachable.push({ name: row.name, tier, row: this.#table.get(row.name)! });
    }
    const writers = reachable.filter((r) => r.row.synced === max);
    const behind = reachable.filter((r) => r.row.synced < max);
    for (const b of behind) {
      if (b.row.state !== 'behind' && b.row.state !== 'syncing') {
        this.#table.setState(b.name, 'behind');
        this.#d.events.emit({
          level: 'warn',
          type: 'tier.behind',
          msg: `tier ${b.name} missed writes; it is caught up when the node is idle`,
          data: { tier: b.name, synced: b.row.synced, max },
        });
      }
    }
    for (const w of writers) if (w.row.state !== 'online') this.#table.setState(w.name, 'online');
    return { writers, behind, max, offline };
  }

  /**
   * catchUp fills the tiers that are behind from the first tier in sync, by copying what they
   * lack, when no backup runs; a backup that starts meanwhile stops it, and it resumes later.
   */
  async catchUp(): Promise<void> {
    if (this.#running > 0 || this.#isCatchingUp || this.#table.list().length === 0) return;
    this.#isCatchingUp = true;
    try {
      const { writers, behind, max } = await this.#survey();
      const source = writers[0];
      if (!source) return;
      const d = {
        table: this.#table,
        key: this.#key(),
        node: this.#d.node,
        clock: this.#d.clock,
        events: this.#d.events,
      };
      for (const b of behind) if (!(await fillTier(d, source, b, max, () => this.#running > 0))) return;
    } catch (err) {
      this.#d.events.emit({
        level: 'warn',
        type: 'tier.behind',
        msg: `catching up a tier failed; it is tried again later: ${errorMessage(err)}`,
        data: { error: errorMessage(err) },
      });
    } finally {
      this.#isCatchingUp = false;
    }
  }

  /** #tellTiers records a backup event with the state of every tier (`data.tiers`). */
  #tellTiers(
    level: 'warn' | 'error',
    type: 'backup.waiting' | 'backup.failed',
    volume: string | undefined,
    msg: string,
  ): void {
    this.#d.events.emit({
      level,
      type,
      volume,
      msg,
      data: { tiers: this.tiers().map((t) => `${t.name}: ${t.state}`) },
    });
  }

  #tierFailed(name: string, err: unknown, volume?: string): void {
    tierFailed({ table: this.#table, events: this.#d.events, now: this.#d.clock.now() }, name, err, volume);
  }

  #markForeign(row: TierRow): void {
    markForeign({ table: this.#table, events: this.#d.events, now: this.#d.clock.now() }, row);
  }

  /** #soon runs the catch-up after the current work, when the node may be idle. */
  #soon(): void {
    setImmediate(() => void this.catchUp().catch(() => {})); // a closed catalog (the agent stopping) ends it
  }

  #viewSeq(volume: string): number {
    const main = listViews(this.#d.catalog, volume).find((v) => v.name === 'main');
    if (!main) {
      throw new HindsightError('E_BACKUP_NOT_MIRROR', `${volume} is not mirrored on this node`, {
        hint: 'backups are taken on a mirror, from its timeline; run this on the mirror node',
      });
    }
    return main.appliedSeq;
  }

  /** #key reads the repository key, creating it (mode 0600) with the first tier. */
  #key(create = false): RepoKey {
    return readKeyFile(this.#d.keyFile, create);
  }
}
