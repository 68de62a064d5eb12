import { randomBytes } from 'node:crypto';
import type { Clock, EventSink } from '../core/index.ts';
import type { BackupTables, TierRow } from './backup-tables.ts';
import type { RepoKey } from './repo-key.ts';
import { writeTierRevision } from './revisions.ts';
import type { Tier } from './tier.ts';

/** The order objects are copied in: what an object refers to arrives before it (docs/backup-format.md). */
const ORDER = ['packs/', 'index/', 'manifests/', 'snapshots/'];

/**
 * catchUp copies to `target` every object of `source` it lacks, never re-reading a volume:
 * packs, then indexes, manifests and snapshots, so that a catch-up stopped at any point (a new
 * backup pre-empts it, a tier drops) leaves only unreferenced objects, and resumes where it
 * stopped. Revisions and the header are the caller's.
 */
export async function catchUp(
  source: Tier,
  target: Tier,
  shouldStop: () => boolean,
): Promise<{ copied: number; bytes: number; isStopped: boolean }> {
  const have = new Set<string>();
  for await (const name of target.list('')) have.add(name);
  let copied = 0;
  let bytes = 0;
  for (const prefix of ORDER) {
    const missing: string[] = [];
    for await (const name of source.list(prefix)) if (!have.has(name)) missing.push(name);
    for (const name of missing.sort()) {
      if (shouldStop()) return { copied, bytes, isStopped: true };
      const data = await source.get(name);
      await target.put(name, data);
      copied++;
      bytes += data.length;
    }
  }
  return { copied, bytes, isStopped: false };
}

/** TierAt is a tier that answered, with its catalog row. */
interface TierAt {
  name: string;
  tier: Tier;
  row: TierRow;
}

/**
 * fillTier catches tier `b` up from `source` (in sync at revision `max`): it copies what `b`
 * lacks, then sets `b`'s revision to the source's, explicitly and first in the catalog (`b`
 * never holds that number yet: every number it was given is in the catalog before it is in the
 * tier), and records it in sync. Returns false when a backup stopped it (it resumes later).
 */
export async function fillTier(
  d: { table: BackupTables; key: RepoKey; node: string; clock: Clock; events: EventSink },
  source: TierAt,
  b: TierAt,
  max: number,
  shouldStop: () => boolean,
): Promise<boolean> {
  d.table.setState(b.name, 'syncing');
  const result = await catchUp(source.tier, b.tier, shouldStop);
  if (result.isStopped) {
    d.table.setState(b.name, 'behind');
    return false;
  }
  const target = source.row.recorded.revision;
  if (b.row.recorded.revision < target) {
    const r = { revision: target, nonce: randomBytes(8).toString('hex') };
    d.table.beginRevision(b.name, r);
    await writeTierRevision(b.tier, d.key, r, d.node, d.clock.now());
    d.table.commitRevision(b.name);
  }
  d.table.setSynced(b.name, max);
  d.table.recordSuccess(b.name, d.clock.now(), result.bytes);
  d.table.addTierToBackups(b.name);
  d.events.emit({
    level: 'info',
    type: 'tier.caught-up',
    msg: `tier ${b.name} caught up from ${source.name}: ${result.copied} objects`,
    data: { tier: b.name, from: source.name, objects: result.copied, bytes: result.bytes, revision: max },
  });
  return true;
}
