import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Clock, type EventSink, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { listViews, liveAt, producedAtOf, seqAt } from '../timeline/index.ts';
import { FileTier } from './file-tier.ts';
import { RepoKey } from './repo-key.ts';
import { Repository, type Snapshot } from './repository.ts';
import type { Tier } from './tier.ts';

/** TierState is what `tier list` says of a tier (docs/backup.md). */
export type TierState = 'online' | 'offline' | 'behind' | 'syncing' | 'foreign';

/** TierInfo is one tier as `tier list --json` shows it; the URL never carries credentials. */
export interface TierInfo {
  name: string;
  position: number;
  url: string;
  state: TierState;
  revision: number;
  bytes: number;
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
}

/** BackupInfo is one backup this node took, and the tiers that hold it. */
export interface BackupInfo {
  volume: string;
  id: string;
  seq: number;
  at: number;
  takenAt: number;
  files: number;
  bytes: number;
  newBytes: number;
  tiers: string[];
}

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
}

/**
 * Backups takes backups of the volumes this node mirrors and writes them to its tiers
 * (docs/backup-format.md): a backup is the state of a volume's timeline at one moment, so it
 * never touches production. A write goes to every tier, in order, and the backup counts once
 * one tier holds it; a tier that fails is marked offline with its error, and the others go on.
 */
export class Backups {
  readonly #d: BackupsDeps;
  readonly #open = new Map<string, Repository>();

  constructor(deps: BackupsDeps) {
    this.#d = deps;
  }

  /** exportKey returns the repository key file's text, to keep somewhere safe. */
  exportKey(): string {
    return this.#key().toKeyFile();
  }

  /**
   * addTier sets up `url` as tier `name` (file:// today) with a new repository, or opens the
   * repository already there when `adopt` is given and the key opens it.
   */
  async addTier(name: string, url: string, options: { adopt?: boolean } = {}): Promise<TierInfo> {
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(name)) {
      throw new HindsightError('E_USAGE', `tier name ${JSON.stringify(name)} is not allowed`, {
        hint: 'lower-case letters, digits, - and _, up to 32',
      });
    }
    if (this.#row(name)) throw new HindsightError('E_TIER_EXISTS', `tier ${name} exists already`);
    const tierId = `${this.#d.cluster.slice(0, 16)}-${randomBytes(8).toString('hex')}`;
    const tier = await tierFor(url, tierId, true);
    const key = this.#key(true);
    let repo: Repository;
    try {
      repo = await Repository.init(tier, key, this.#d.cluster);
    } catch (err) {
      if (!isHindsightError(err, 'E_TIER_FOREIGN') || !options.adopt) throw err;
      repo = await Repository.open(tier, key);
    }
    const position = (
      this.#d.catalog.prepare('SELECT COALESCE(MAX(position), 0) + 1 AS p FROM tiers').get() as { p: number }
    ).p;
    this.#d.catalog
      .prepare(
        'INSERT INTO tiers (name, position, url, tier_id, repository, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(name, position, tier.url, tierId, repo.id, this.#d.clock.now());
    this.#open.set(name, repo);
    this.#d.events.emit({
      level: 'info',
      type: 'tier.added',
      msg: `tier ${name} added`,
      data: { tier: name, url: tier.url, repository: repo.id },
    });
    return this.tiers().find((t) => t.name === name)!;
  }

  /** tiers lists the tiers in order. */
  tiers(): TierInfo[] {
    const rows = this.#d.catalog.prepare('SELECT * FROM tiers ORDER BY position').all() as Record<
      string,
      unknown
    >[];
    return rows.map((r) => ({
      name: r.name as string,
      position: r.position as number,
      url: r.url as string,
      state: r.state as TierState,
      revision: r.revision as number,
      bytes: r.bytes as number,
      lastSuccessAt: (r.last_success_at as number | null) ?? null,
      lastError: (r.last_error as string | null) ?? null,
      lastErrorAt: (r.last_error_at as number | null) ?? null,
    }));
  }

  /**
   * run backs up mirrored volume `volume` as of `at` (default: the moment its main view shows)
   * to every tier; it succeeds once one tier holds the backup.
   */
  async run(volume: string, at?: number): Promise<BackupInfo> {
    const tiers = this.tiers();
    if (tiers.length === 0) {
      throw new HindsightError('E_BACKUP_NO_TIER', 'this node has no backup tier', {
        hint: 'add one first: hindsight tier add NAME file:///mnt/backup',
      });
    }
    const seq = at === undefined ? this.#viewSeq(volume) : seqAt(this.#d.catalog, volume, at);
    const producedAt = producedAtOf(this.#d.catalog, volume, seq) ?? 0;
    const takenAt = this.#d.clock.now();
    const entries = liveAt(this.#d.catalog, volume, seq);
    this.#d.events.emit({
      level: 'info',
      type: 'backup.started',
      volume,
      msg: `backup of ${volume} as of seq ${seq} started`,
      data: { seq, at: producedAt, tiers: tiers.map((t) => t.name) },
    });
    const done: { tier: string; snapshot: Snapshot; newBytes: number }[] = [];
    const failed: { tier: string; error: string }[] = [];
    for (const t of tiers) {
      try {
        const repo = await this.#repository(t.name);
        const { snapshot, totals } = await repo.backup({
          volume,
          seq,
          at: producedAt,
          node: this.#d.node,
          takenAt,
          entries,
          readChunk: (address) => this.#d.store.readRaw(address),
        });
        done.push({ tier: t.name, snapshot, newBytes: totals.newBytes });
        this.#d.catalog
          .prepare("UPDATE tiers SET state = 'online', last_success_at = ?, bytes = bytes + ? WHERE name = ?")
          .run(this.#d.clock.now(), totals.newBytes, t.name);
      } catch (err) {
        this.#open.delete(t.name);
        failed.push({ tier: t.name, error: errorMessage(err) });
        const offline = isHindsightError(err, 'E_TIER_OFFLINE');
        this.#d.catalog
          .prepare('UPDATE tiers SET state = ?, last_error = ?, last_error_at = ? WHERE name = ?')
          .run(offline ? 'offline' : t.state, errorMessage(err), this.#d.clock.now(), t.name);
        this.#d.events.emit({
          level: 'warn',
          type: offline ? 'tier.offline' : 'backup.failed',
          volume,
          msg: `tier ${t.name} did not take the backup of ${volume}: ${errorMessage(err)}`,
          data: { tier: t.name, error: errorMessage(err) },
        });
      }
    }
    if (done.length === 0) {
      this.#d.events.emit({
        level: 'error',
        type: 'backup.failed',
        volume,
        msg: `backup of ${volume} failed on every tier`,
        data: { failed },
      });
      throw new HindsightError(
        'E_BACKUP_FAILED',
        `no tier took the backup of ${volume}: ${failed.map((f) => `${f.tier}: ${f.error}`).join('; ')}`,
        {
          hint: 'hindsight tier list shows each tier and its last error',
        },
      );
    }
    const first = done[0].snapshot;
    const info: BackupInfo = {
      volume,
      id: first.id,
      seq,
      at: producedAt,
      takenAt,
      files: first.files,
      bytes: first.bytes,
      newBytes: done[0].newBytes,
      tiers: done.map((d) => d.tier),
    };
    // Each tier names the backup by its own snapshot id; the first one's names it here.
    this.#d.catalog
      .prepare(
        'INSERT INTO backups (volume, id, seq, at, taken_at, files, bytes, new_bytes, tiers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        volume,
        info.id,
        seq,
        producedAt,
        takenAt,
        info.files,
        info.bytes,
        info.newBytes,
        JSON.stringify(info.tiers),
      );
    this.#d.events.emit({
      level: 'info',
      type: 'backup.finished',
      volume,
      msg: `backup of ${volume} done on ${info.tiers.join(', ')}`,
      data: { ...info, failed },
    });
    return info;
  }

  /** list returns the backups recorded here, newest first, of one volume or all. */
  list(volume?: string): BackupInfo[] {
    const rows = (
      volume === undefined
        ? this.#d.catalog.prepare('SELECT * FROM backups ORDER BY taken_at DESC').all()
        : this.#d.catalog.prepare('SELECT * FROM backups WHERE volume = ? ORDER BY taken_at DESC').all(volume)
    ) as Record<string, unknown>[];
    return rows.map((r) => ({
      volume: r.volume as string,
      id: r.id as string,
      seq: r.seq as number,
      at: r.at as number,
      takenAt: r.taken_at as number,
      files: r.files as number,
      bytes: r.bytes as number,
      newBytes: r.new_bytes as number,
      tiers: JSON.parse(r.tiers as string) as string[],
    }));
  }

  /**
   * restore writes the backup of `volume` taken at or before `at` (or with id `id`), or only
   * `path` of it, into `into`, reading from the first tier (or `tier`) that holds it.
   */
  async restore(
    volume: string,
    options: { id?: string; at?: number; into: string; path?: string; tier?: string },
  ): Promise<{ id: string; tier: string; files: number; bytes: number }> {
    const names = options.tier ? [options.tier] : this.tiers().map((t) => t.name);
    const errors: string[] = [];
    for (const name of names) {
      try {
        const repo = await this.#repository(name);
        const snapshots = (await repo.snapshots()).filter((s) => s.volume === volume);
        const chosen =
          options.id !== undefined
            ? snapshots.find((s) => s.id === options.id)
            : snapshots.filter((s) => options.at === undefined || s.at <= options.at).at(-1);
        if (!chosen) {
          errors.push(`${name}: no such backup`);
          continue;
        }
        const done = await repo.restore(chosen.id, options.into, { path: options.path });
        return { id: chosen.id, tier: name, ...done };
      } catch (err) {
        if (!isHindsightError(err, 'E_TIER_OFFLINE')) throw err;
        errors.push(`${name}: ${errorMessage(err)}`);
      }
    }
    throw new HindsightError(
      'E_BACKUP_UNKNOWN',
      `no tier could restore a backup of ${volume}: ${errors.join('; ')}`,
      {
        hint: 'hindsight backup list shows the backups and their tiers',
      },
    );
  }

  #row(name: string): Record<string, unknown> | undefined {
    return this.#d.catalog.prepare('SELECT * FROM tiers WHERE name = ?').get(name) as
      | Record<string, unknown>
      | undefined;
  }

  async #repository(name: string): Promise<Repository> {
    const cached = this.#open.get(name);
    if (cached) return cached;
    const row = this.#row(name);
    if (!row) throw new HindsightError('E_TIER_UNKNOWN', `no tier ${name}`, { hint: 'hindsight tier list' });
    const tier = await tierFor(row.url as string, row.tier_id as string, false);
    const repo = await Repository.open(tier, this.#key());
    if (repo.id !== row.repository) {
      throw new HindsightError('E_TIER_FOREIGN', `tier ${name} now holds another repository (${repo.id})`);
    }
    this.#open.set(name, repo);
    return repo;
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
    try {
      return RepoKey.fromKeyFile(readFileSync(this.#d.keyFile, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!create) {
        throw new HindsightError('E_BACKUP_KEY_MISSING', `the repository key ${this.#d.keyFile} is missing`, {
          hint: 'put back the key file printed by hindsight backup key export; without it no backup can be read',
        });
      }
      const key = RepoKey.generate();
      writeFileSync(this.#d.keyFile, key.toKeyFile(), { mode: 0o600, flag: 'wx' });
      chmodSync(this.#d.keyFile, 0o600);
      return key;
    }
  }
}

/** tierFor opens the tier at `url`; `create` sets a new one up. Only file:// exists today. */
async function tierFor(url: string, tierId: string, create: boolean): Promise<Tier> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HindsightError('E_TIER_URL', `not a tier URL: ${url}`, { hint: 'e.g. file:///mnt/backup' });
  }
  if (parsed.protocol !== 'file:') {
    throw new HindsightError('E_TIER_SCHEME', `tiers of kind ${parsed.protocol} are not supported yet`, {
      hint: 'file:// (a local disk or a mounted share) works today; sftp:// and s3:// come next',
    });
  }
  const root = fileURLToPath(parsed);
  return create ? FileTier.create(root, tierId) : new FileTier(root, tierId);
}
