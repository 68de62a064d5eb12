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
