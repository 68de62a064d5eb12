import { fileURLToPath } from 'node:url';
import { HindsightError } from '../core/index.ts';
import { FileTier } from './file-tier.ts';
import { readS3Credentials } from './s3-config.ts';
import { S3Tier } from './s3-tier.ts';
import type { Tier } from './tier.ts';

/**
 * TierAccess is how a tier is reached beyond its URL: files the node reads at each use, never
 * the secrets themselves (docs/backup.md). `credentials` is an S3 credentials file; `identity`
 * an SSH private key and `hostKey` the SFTP server's pinned key fingerprint.
 */
export interface TierAccess {
  credentials?: string;
  identity?: string;
  hostKey?: string;
}

/** openTier opens the tier at `url` with marker id `tierId`; `create` sets a new one up. */
export async function openTier(
  url: string,
  tierId: string,
  create: boolean,
  access: TierAccess = {},
): Promise<Tier> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HindsightError('E_TIER_URL', 'not a tier URL', {
      hint: "e.g. file:///mnt/backup, sftp://user@host:22/path or 's3://bucket/prefix?endpoint=https://host&region=eu-1'",
    });
  }
  if (parsed.protocol === 'file:') {
    const root = fileURLToPath(parsed);
    return create ? FileTier.create(root, tierId) : new FileTier(root, tierId);
  }
  if (parsed.protocol === 's3:') {
    if (!access.credentials) {
      throw new HindsightError('E_TIER_CREDENTIALS', 'an s3:// tier needs a credentials file', {
        hint: 'give --credentials FILE with AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines (mode 0600)',
      });
    }
    const credentials = await readS3Credentials(access.credentials);
    return create ? S3Tier.create(url, tierId, credentials) : new S3Tier(url, tierId, credentials);
  }
  throw new HindsightError('E_TIER_SCHEME', `tiers of kind ${parsed.protocol} are not supported`, {
    hint: 'file:// (a local disk or a mounted share), sftp:// or s3://',
  });
}
