import { fileURLToPath } from 'node:url';
import { HindsightError } from '../core/index.ts';
import { FileTier } from './file-tier.ts';
import type { Tier } from './tier.ts';

/** openTier opens the tier at `url` with marker id `tierId`; `create` sets a new one up. */
export async function openTier(url: string, tierId: string, create: boolean): Promise<Tier> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HindsightError('E_TIER_URL', `not a tier URL: ${url}`, { hint: 'e.g. file:///mnt/backup' });
  }
  if (parsed.protocol === 'file:') {
    const root = fileURLToPath(parsed);
    return create ? FileTier.create(root, tierId) : new FileTier(root, tierId);
  }
  throw new HindsightError('E_TIER_SCHEME', `tiers of kind ${parsed.protocol} are not supported yet`, {
    hint: 'file:// (a local disk or a mounted share) works today; sftp:// and s3:// come next',
  });
}
