import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, type EventSink, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { BackupTables, TierRow } from './backup-tables.ts';
import type { RepoKey } from './repo-key.ts';
import { Repository, type Snapshot } from './repository.ts';
import { openTier } from './tier-url.ts';
import { checkRestored, type VerifyReport, verifyRepository } from './verify.ts';

/** DrillAnswer is one restore drill: the backup restored, from where, how long it took, and what was wrong. */
export interface DrillAnswer {
  volume: string;
  id: string;
  tier: string;
  at: number;
  ms: number;
  files: number;
  bytes: number;
  bytesPerSecond: number;
  problems: string[];
  isOk: boolean;
}

export interface BackupReadsDeps {
  table: BackupTables;
  key: () => RepoKey;
  events: EventSink;
  clock: Clock;
  /** Where drills restore to (a scratch directory beneath it, removed afterwards). */
  scratchDir: string;
}

/**
 * BackupReads is what only reads the tiers: restores, `verify` and restore drills. Each looks
 * at the tiers in order and takes the first that answers and holds what is asked.
 */
export class BackupReads {
  readonly #d: BackupReadsDeps;

  constructor(deps: BackupReadsDeps) {
    this.#d = deps;
  }

  /**
   * restore writes the backup of `volume` taken at or before `at` (or with id `id`, or the
   * newest), or only `path` of it, into `into`, reading from the first tier (or `tier`) that holds it.
   */
  async restore(
    volume: string,
    options: { id?: string; at?: number; into: string; path?: string; tier?: string },
  ): Promise<{ id: string; tier: string; files: number; bytes: number }> {
    return this.#onFirst(volume, options, async (repo, chosen, row) => ({
      id: chosen.id,
      tier: row.name,
      ...(await repo.restore(chosen.id, options.into, { path: options.path })),
    }));
  }

  /**
   * verify checks the repository on every tier that answers (or on `tier`): its structure, and
   * `readShare` of its packs read whole. A tier that is offline is reported, not skipped silently.
   */
  async verify(options: {
    readShare: number;
    tier?: string;
  }): Promise<{ tier: string; report: VerifyReport | null; error: string | null }[]> {
    const out: { tier: string; report: VerifyReport | null; error: string | null }[] = [];
    for (const row of this.#rows(options.tier)) {
      try {
        const repo = await Repository.open(
          await openTier(row.url, row.tierId, false, row.access),
          this.#d.key(),
        );
        const report = await verifyRepository(repo, options.readShare);
        out.push({ tier: row.name, report, error: null });
        this.#d.events.emit({
          level: report.problems.length === 0 ? 'info' : 'error',
          type: 'backup.verified',
          msg: `tier ${row.name}: ${report.problems.length === 0 ? 'the repository verifies' : `${report.problems.length} problems`}`,
          data: { tier: row.name, ...report, problems: report.problems.slice(0, 50) },
        });
      } catch (err) {
        out.push({ tier: row.name, report: null, error: errorMessage(err) });
        this.#d.events.emit({
          level: 'error',
          type: 'backup.verified',
          msg: `tier ${row.name} could not be verified: ${errorMessage(err)}`,
          data: { tier: row.name, error: errorMessage(err) },
        });
      }
    }
    return out;
  }

  /**
   * drill restores the newest backup of `volume` into scratch, checks every file against its
   * manifest, and reports the time it took (the measured recovery time) and the throughput.
   */
  async drill(volume: string, options: { tier?: string } = {}): Promise<DrillAnswer> {
    const scratch = await mkdtemp(join(this.#d.scratchDir, 'drill-'));
    try {
      const answer = await this.#onFirst(volume, { tier: options.tier }, async (repo, chosen, row) => {
        const started = this.#d.clock.monotonic();
        let done = { files: 0, bytes: 0 };
        let problems: string[];
        try {
          done = await repo.restore(chosen.id, join(scratch, 'tree'));
          problems = await checkRestored(repo, chosen, join(scratch, 'tree'));
        } catch (err) {
          // A damaged backup is what a drill is for: it is its finding, not its failure.
          if (isHindsightError(err, 'E_TIER_OFFLINE')) throw err;
          problems = [errorMessage(err)];
        }
        const ms = Math.max(1, this.#d.clock.monotonic() - started);
        return {
          volume,
          id: chosen.id,
          tier: row.name,
          at: this.#d.clock.now(),
          ms: Math.round(ms),
          files: done.files,
          bytes: done.bytes,
          bytesPerSecond: Math.round((done.bytes * 1000) / ms),
          problems,
          isOk: problems.length === 0,
        };
      });
      this.#d.table.addDrill(answer);
      this.#d.events.emit({
        level: answer.isOk ? 'info' : 'error',
        type: 'backup.drill',
        volume,
        msg: answer.isOk
          ? `restore drill of ${volume}: ${answer.files} files in ${(answer.ms / 1000).toFixed(1)} s from ${answer.tier}`
          : `restore drill of ${volume} found ${answer.problems.length} problems`,
        data: { ...answer, problems: answer.problems.slice(0, 50) },
      });
      return answer;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  #rows(tier?: string): TierRow[] {
    const rows = this.#d.table.list().filter((r) => (tier ? r.name === tier : r.state !== 'foreign'));
    if (tier && rows.length === 0)
      throw new HindsightError('E_TIER_UNKNOWN', `no tier ${tier}`, { hint: 'hindsight tier list' });
    return rows;
  }

  /** #onFirst runs `fn` on the first tier that answers and holds the backup asked for. */
  async #onFirst<T>(
    volume: string,
    options: { id?: string; at?: number; tier?: string },
    fn: (repo: Repository, chosen: Snapshot, row: TierRow) => Promise<T>,
  ): Promise<T> {
    const errors: string[] = [];
    for (const row of this.#rows(options.tier)) {
      try {
        const repo = await Repository.open(
          await openTier(row.url, row.tierId, false, row.access),
          this.#d.key(),
        );
        const snapshots = (await repo.snapshots()).filter((s) => s.volume === volume);
        const chosen =
          options.id !== undefined
            ? snapshots.find((s) => s.id === options.id)
            : snapshots.filter((s) => options.at === undefined || s.at <= options.at).at(-1);
        if (!chosen) {
          errors.push(`${row.name}: no such backup`);
          continue;
        }
        return await fn(repo, chosen, row);
      } catch (err) {
        if (!isHindsightError(err, 'E_TIER_OFFLINE')) throw err;
        errors.push(`${row.name}: ${errorMessage(err)}`);
      }
    }
    throw new HindsightError(
      'E_BACKUP_UNKNOWN',
      `no tier holds a backup of ${volume} to read: ${errors.join('; ')}`,
      {
        hint: 'hindsight backup list shows the backups and their tiers',
      },
    );
  }
}
