import { isValidName } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import type { Member } from './messages.ts';

/**
 * Members is this node's table of cluster nodes (the `nodes` table; this class is its only user) and where to dial them. Links exchange their
 * tables in HELLO; for each node the most recently updated address wins.
 */
export class Members {
  readonly #catalog: Catalog;
  readonly #self: string;

  constructor(catalog: Catalog, self: string) {
    this.#catalog = catalog;
    this.#self = self;
  }

  /** list returns every known member, this node included. */
  list(): Member[] {
    const rows = this.#catalog.prepare('SELECT name, address, updated_at FROM nodes ORDER BY name').all() as {
      name: string;
      address: string;
      updated_at: number;
    }[];
    return rows.map((r) => ({ name: r.name, address: r.address, updatedAt: r.updated_at }));
  }

  /** addressOf returns where to dial `name`, or undefined if unknown. */
  addressOf(name: string): string | undefined {
    const row = this.#catalog.prepare('SELECT address FROM nodes WHERE name = ?').get(name) as
      | { address: string }
      | undefined;
    return row?.address;
  }

  /** upsert records a member's address if it is newer than what is known. */
  upsert(member: Member): void {
    if (
      !isValidName(member?.name) ||
      typeof member.address !== 'string' ||
      !Number.isFinite(member.updatedAt)
    )
      return;
    this.#catalog
      .prepare(
        `INSERT INTO nodes (name, address, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET address = excluded.address, updated_at = excluded.updated_at
         WHERE excluded.updated_at > nodes.updated_at`,
      )
      .run(member.name, member.address, member.updatedAt);
  }

  /** merge takes a peer's table; what it says about this node itself is ignored. */
  merge(members: Member[]): void {
    if (!Array.isArray(members)) return;
    for (const m of members.slice(0, 1000)) if (m?.name !== this.#self) this.upsert(m);
  }
}
