import type { Catalog } from '../store/index.ts';
import type { PruneReport } from './repository.ts';
import type { KeepPolicy } from './retention.ts';
import type { RecordedRevision, Revision } from './revisions.ts';
import type { TierAccess } from './tier-url.ts';

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
  /** An SFTP tier's pinned host key fingerprint (null for other kinds). */
  hostKey?: string | null;
}

/** TierRow is a tier with what only the node needs: its marker id, repository and revision record. */
export interface TierRow extends TierInfo {
  tierId: string;
  repository: string;
  recorded: RecordedRevision;
  /** The highest revision of which the tier holds every object (below the others' it is behind). */
  synced: number;
  /** How the tier is reached beyond its URL (credentials file, identity, host key). */
  access: TierAccess;
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

/** BackupPlan is when a volume is backed up, what prune keeps of it, and when a drill checks it. */
export interface BackupPlan {
  volume: string;
  /** "daily 02:00", "hourly", "every 6h"; null: no scheduled backups. */
  schedule: string | null;
  keep: KeepPolicy | null;
  /** "daily", "weekly", "monthly", "every 3d"; null: no scheduled drills. */
  drill: string | null;
}

/** BackupProgress is how far a backup under way has got: entries of the tree done of `total`. */
export interface BackupProgress {
  volume: string;
  entries: number;
  total: number;
  newBytes: number;
  startedAt: number;
}

/** PruneAnswer says what `prune` removed, what it kept, on which tiers, and which tiers refused to delete. */
export interface PruneAnswer extends PruneReport {
  kept: number;
  tiers: string[];
  /** Tiers whose account may not delete (append-only): nothing was pruned there. */
  refused: string[];
}

/** BackupTables owns the backup stage's tables — `tiers`, `backups`, `backup_drills`, `backup_plans` (docs/catalog.md): the only SQL for them. */
export class BackupTables {
  readonly #catalog: Catalog;

  constructor(catalog: Catalog) {
    this.#catalog = catalog;
  }

  list(): TierRow[] {
    return (
      this.#catalog.prepare('SELECT * FROM tiers ORDER BY position').all() as Record<string, unknown>[]
    ).map(toTierRow);
  }

  get(name: string): TierRow | undefined {
    const row = this.#catalog.prepare('SELECT * FROM tiers WHERE name = ?').get(name) as
      | Record<string, unknown>
      | undefined;
    return row ? toTierRow(row) : undefined;
  }

  /** highestRevision is the highest revision any tier not foreign holds, was given, or is in sync at. */
  highestRevision(): number {
    const rows = this.list().filter((r) => r.state !== 'foreign');
    return Math.max(
      0,
      ...rows.flatMap((r) => [r.recorded.revision, r.recorded.pending?.revision ?? 0, r.synced]),
    );
  }

  /** repository is the id of the repository this node's tiers hold, if it has any tier. */
  repository(): string | undefined {
    return this.list()[0]?.repository;
  }

  add(row: {
    name: string;
    url: string;
    tierId: string;
    repository: string;
    state: TierState;
    access: TierAccess;
    at: number;
  }): void {
    const position = (
      this.#catalog.prepare('SELECT COALESCE(MAX(position), 0) + 1 AS p FROM tiers').get() as { p: number }
    ).p;
    this.#catalog
      .prepare(
        'INSERT INTO tiers (name, position, url, tier_id, repository, state, access, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        row.name,
        position,
        row.url,
        row.tierId,
        row.repository,
        row.state,
        JSON.stringify(row.access),
        row.at,
      );
  }

  setState(name: string, state: TierState): void {
    this.#catalog.prepare('UPDATE tiers SET state = ? WHERE name = ?').run(state, name);
  }

  recordError(name: string, error: string, at: number, state?: TierState): void {
    this.#catalog
      .prepare(
        'UPDATE tiers SET last_error = ?, last_error_at = ?, state = COALESCE(?, state) WHERE name = ?',
      )
      .run(error, at, state ?? null, name);
  }

  recordSuccess(name: string, at: number, bytes: number): void {
    this.#catalog
      .prepare("UPDATE tiers SET last_success_at = ?, bytes = bytes + ?, state = 'online' WHERE name = ?")
      .run(at, bytes, name);
  }

  /** beginRevision records, before the tier is written, the revision about to be written to it. */
  beginRevision(name: string, r: Revision): void {
    this.#catalog
      .prepare('UPDATE tiers SET pending_revision = ?, pending_nonce = ? WHERE name = ?')
      .run(r.revision, r.nonce, name);
  }

  /** commitRevision makes the pending revision the tier's own. */
  commitRevision(name: string): void {
    this.#catalog
      .prepare(
        `UPDATE tiers SET revision = pending_revision, nonce = pending_nonce, pending_revision = NULL, pending_nonce = NULL
         WHERE name = ? AND pending_revision IS NOT NULL`,
      )
      .run(name);
  }

  /** setSynced records that the tier holds every object up to revision `revision`. */
  setSynced(name: string, revision: number): void {
    this.#catalog.prepare('UPDATE tiers SET synced = ? WHERE name = ?').run(revision, name);
  }

  addBackup(b: BackupInfo): void {
    this.#catalog
      .prepare(
        'INSERT INTO backups (volume, id, seq, at, taken_at, files, bytes, new_bytes, tiers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(b.volume, b.id, b.seq, b.at, b.takenAt, b.files, b.bytes, b.newBytes, JSON.stringify(b.tiers));
  }

  /** addTierToBackups notes that a caught-up tier now holds every backup. */
  addTierToBackups(name: string): void {
    for (const b of this.backups()) {
      if (b.tiers.includes(name)) continue;
      this.#catalog
        .prepare('UPDATE backups SET tiers = ? WHERE volume = ? AND id = ?')
        .run(JSON.stringify([...b.tiers, name]), b.volume, b.id);
    }
  }

  addDrill(d: {
    volume: string;
    at: number;
    id: string;
    tier: string;
    ms: number;
    files: number;
    bytes: number;
    problems: string[];
  }): void {
    this.#catalog
      .prepare(
        'INSERT OR REPLACE INTO backup_drills (volume, at, id, tier, ms, files, bytes, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(d.volume, d.at, d.id, d.tier, d.ms, d.files, d.bytes, JSON.stringify(d.problems));
  }

  /** lastDrill is the newest restore drill of `volume`. */
  lastDrill(
    volume: string,
  ): { at: number; ms: number; files: number; bytes: number; problems: number } | undefined {
    const r = this.#catalog
      .prepare('SELECT * FROM backup_drills WHERE volume = ? ORDER BY at DESC LIMIT 1')
      .get(volume) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      at: r.at as number,
      ms: r.ms as number,
      files: r.files as number,
      bytes: r.bytes as number,
      problems: (JSON.parse(r.problems as string) as string[]).length,
    };
  }

  plans(): BackupPlan[] {
    const rows = this.#catalog.prepare('SELECT * FROM backup_plans ORDER BY volume').all() as Record<
      string,
      unknown
    >[];
    return rows.map((r) => ({
      volume: r.volume as string,
      schedule: (r.schedule as string | null) ?? null,
      keep: r.keep === null ? null : (JSON.parse(r.keep as string) as KeepPolicy),
      drill: (r.drill as string | null) ?? null,
    }));
  }

  setPlan(plan: BackupPlan): void {
    this.#catalog
      .prepare('INSERT OR REPLACE INTO backup_plans (volume, schedule, keep, drill) VALUES (?, ?, ?, ?)')
      .run(plan.volume, plan.schedule, plan.keep === null ? null : JSON.stringify(plan.keep), plan.drill);
  }

  /** forgetBackups removes the records of backups that prune deleted. */
  forgetBackups(ids: readonly string[]): void {
    const stmt = this.#catalog.prepare('DELETE FROM backups WHERE id = ?');
    for (const id of ids) stmt.run(id);
  }

  backups(volume?: string): BackupInfo[] {
    const rows = (
      volume === undefined
        ? this.#catalog.prepare('SELECT * FROM backups ORDER BY taken_at DESC').all()
        : this.#catalog.prepare('SELECT * FROM backups WHERE volume = ? ORDER BY taken_at DESC').all(volume)
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
}

function toTierRow(r: Record<string, unknown>): TierRow {
  const pending =
    r.pending_revision === null || r.pending_revision === undefined
      ? null
      : { revision: r.pending_revision as number, nonce: r.pending_nonce as string };
  return {
    name: r.name as string,
    position: r.position as number,
    url: r.url as string,
    state: r.state as TierState,
    revision: r.revision as number,
    bytes: r.bytes as number,
    lastSuccessAt: (r.last_success_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    lastErrorAt: (r.last_error_at as number | null) ?? null,
    tierId: r.tier_id as string,
    repository: r.repository as string,
    recorded: { revision: r.revision as number, nonce: r.nonce as string, pending },
    synced: r.synced as number,
    access: JSON.parse(r.access as string) as TierAccess,
  };
}
