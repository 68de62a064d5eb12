import { errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { Tier } from './tier.ts';

/** TierMember is one tier of a TierSet, by the name the node knows it by. */
export interface TierMember {
  name: string;
  tier: Tier;
}

/**
 * TierSet is the tiers of one write as one Tier (the two-tier rules, docs/backup.md): a write
 * goes to every writer and is done once one of them took it; a writer that fails is dropped
 * (and reported through `onFailed`) and the write goes on without it; reads come from the
 * first tier that answers. The Repository above writes each sealed object once, so the tiers
 * hold the same bytes under the same names, and a tier that falls behind can be caught up by
 * copying what it lacks.
 */
export class TierSet implements Tier {
  readonly url = 'every tier';
  readonly #writers: TierMember[];
  readonly #readers: TierMember[];
  readonly #onFailed: (name: string, err: unknown) => void;
  readonly #refusedDeletes = new Set<string>();

  constructor(writers: TierMember[], readers: TierMember[], onFailed: (name: string, err: unknown) => void) {
    this.#writers = [...writers];
    this.#readers = readers;
    this.#onFailed = onFailed;
  }

  /** writers names the tiers that took every write so far. */
  get writers(): string[] {
    return this.#writers.map((m) => m.name);
  }

  async check(): Promise<void> {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    for (const m of [...this.#writers]) {
      try {
        await m.tier.put(name, bytes);
      } catch (err) {
        this.#writers.splice(this.#writers.indexOf(m), 1);
        this.#onFailed(m.name, err);
      }
    }
    if (this.#writers.length === 0) {
      throw new HindsightError(
        'E_BACKUP_ALL_OFFLINE',
        'every tier failed during the write; it runs again once one is back',
        {
          hint: 'hindsight tier list shows each tier and its last error',
        },
      );
    }
  }

  async get(name: string, range?: { offset: number; length: number }): Promise<Buffer> {
    return this.#first((t) => t.get(name, range));
  }

  async exists(name: string): Promise<boolean> {
    return this.#first((t) => t.exists(name));
  }

  /**
   * list yields the names any reader holds: tiers in sync hold the same, but one that refused a
   * prune (append-only) holds more, and a later prune must see those to remove them.
   */
  async *list(prefix: string): AsyncIterable<string> {
    const names = new Set<string>();
    let answered = 0;
    const errors: string[] = [];
    for (const m of this.#readers) {
      try {
        for await (const n of m.tier.list(prefix)) names.add(n);
        answered++;
      } catch (err) {
        if (!isHindsightError(err, 'E_TIER_OFFLINE')) throw err;
        errors.push(`${m.name}: ${errorMessage(err)}`);
      }
    }
    if (answered === 0) throw new HindsightError('E_TIER_OFFLINE', `no tier answered: ${errors.join('; ')}`);
    yield* names;
  }

  /** refusedDeletes names the writers whose account may not delete (append-only tiers). */
  get refusedDeletes(): string[] {
    return [...this.#refusedDeletes];
  }

  /**
   * delete removes `name` from every writer. A tier whose account may only add refuses once and
   * is not asked again in this operation (it keeps what it has, a superset); any other failure
   * drops the tier as `put` does.
   */
  async delete(name: string): Promise<void> {
    for (const m of [...this.#writers]) {
      if (this.#refusedDeletes.has(m.name)) continue;
      try {
        await m.tier.delete(name);
      } catch (err) {
        if (isHindsightError(err, 'E_TIER_READ_ONLY')) this.#refusedDeletes.add(m.name);
        else {
          this.#writers.splice(this.#writers.indexOf(m), 1);
          this.#onFailed(m.name, err);
        }
      }
    }
  }

  /**
   * #first asks the readers in order and returns the first answer; a tier that is offline, or
   * lacks the object (it holds less after a refused prune elsewhere), passes the question on.
   */
  async #first<T>(ask: (tier: Tier) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    for (const m of this.#readers) {
      try {
        return await ask(m.tier);
      } catch (err) {
        const isMissing = isHindsightError(err, 'E_TIER_MISSING');
        if (!isHindsightError(err, 'E_TIER_OFFLINE') && !isMissing) throw err;
        if (isMissing && m === this.#readers.at(-1)) throw err;
        errors.push(`${m.name}: ${errorMessage(err)}`);
      }
    }
    throw new HindsightError(
      'E_TIER_OFFLINE',
      `no tier answered: ${errors.join('; ') || 'no tier to read from'}`,
    );
  }
}
