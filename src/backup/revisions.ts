import { randomBytes } from 'node:crypto';
import type { RepoKey } from './repo-key.ts';
import type { Tier } from './tier.ts';

/**
 * A tier's revision (the two-tier rules, docs/backup.md): a number the node raises before it
 * writes to the tier, kept both in the tier (as `revision/<16 hex>` objects, only ever added:
 * the highest counts) and in the node's catalog. Each raise carries a random nonce, so that the
 * same number written by a clone of this node (a copied VM or state directory) is told apart.
 */
export interface Revision {
  revision: number;
  nonce: string;
}

/** RecordedRevision is what the catalog holds of a tier: the revision last written, and one being written. */
export interface RecordedRevision extends Revision {
  pending: Revision | null;
}

const PREFIX = 'revision/';

/** newRevision is the next revision after `revision`, with a fresh nonce. */
export function newRevision(revision: number): Revision {
  return { revision: revision + 1, nonce: randomBytes(8).toString('hex') };
}

/** readTierRevision returns the highest revision a tier holds, or null for a tier never written. */
export async function readTierRevision(tier: Tier, key: RepoKey): Promise<Revision | null> {
  let highest: string | undefined;
  for await (const name of tier.list(PREFIX)) if (highest === undefined || name > highest) highest = name;
  if (highest === undefined) return null;
  const body = JSON.parse(key.open(highest, await tier.get(highest)).toString()) as Revision;
  return { revision: body.revision, nonce: body.nonce };
}

/** writeTierRevision adds revision `r` to the tier (written by `node` at `at`). */
export async function writeTierRevision(
  tier: Tier,
  key: RepoKey,
  r: Revision,
  node: string,
  at: number,
): Promise<void> {
  const name = `${PREFIX}${r.revision.toString(16).padStart(16, '0')}`;
  await tier.put(name, key.seal(name, Buffer.from(JSON.stringify({ ...r, node, at }))));
}

/**
 * judgeRevision compares what a tier holds with what this node recorded of it: `same`; `ours`
 * when the tier holds the revision this node was writing when it stopped (its own crash); else
 * `foreign`: another installation wrote to the tier.
 */
export function judgeRevision(
  recorded: RecordedRevision,
  onTier: Revision | null,
): 'same' | 'ours' | 'foreign' {
  const tier = onTier ?? { revision: 0, nonce: '' };
  if (tier.revision === recorded.revision && tier.nonce === recorded.nonce) return 'same';
  if (
    recorded.pending &&
    tier.revision === recorded.pending.revision &&
    tier.nonce === recorded.pending.nonce
  )
    return 'ours';
  return 'foreign';
}
