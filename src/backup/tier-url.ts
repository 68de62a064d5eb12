import { fileURLToPath } from 'node:url';
import { HindsightError } from '../core/index.ts';
import { SystemClock } from '../sys/index.ts';
import { FileTier } from './file-tier.ts';
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

/**
 * pinAccess completes the access of a new tier: an SFTP server's host key is learnt at first
 * contact and pinned (trust on first use; `tier add` shows it), unless one was given.
 */
export async function pinAccess(url: string, access: TierAccess): Promise<TierAccess> {
  if (!url.startsWith('sftp:') || access.hostKey) return access;
  const { parseSftpUrl } = await import('./sftp-session.ts');
  const { SftpTier } = await import('./sftp-tier.ts');
  const address = parseSftpUrl(url);
  return { ...access, hostKey: await SftpTier.probeHostKey(address.host, address.port) };
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
  if (parsed.protocol === 'sftp:') {
    if (!access.identity || !access.hostKey) {
      throw new HindsightError(
        'E_TIER_CREDENTIALS',
        "an sftp:// tier needs a private key (and the server's pinned host key)",
        {
          hint: 'give --identity FILE (an OpenSSH private key whose public key the server accepts)',
        },
      );
    }
    // Loaded when first used: an agent without SFTP or S3 tiers never loads ssh2 or the AWS SDK.
    const { SftpTier } = await import('./sftp-tier.ts');
    const options = { identity: access.identity, hostKey: access.hostKey, clock: new SystemClock() };
    return create ? SftpTier.create(url, tierId, options) : new SftpTier(url, tierId, options);
  }
  if (parsed.protocol === 's3:') {
    if (!access.credentials) {
      throw new HindsightError('E_TIER_CREDENTIALS', 'an s3:// tier needs a credentials file', {
        hint: 'give --credentials FILE with AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines (mode 0600)',
      });
    }
    const { readS3Credentials } = await import('./s3-config.ts');
    const { S3Tier } = await import('./s3-tier.ts');
    const credentials = await readS3Credentials(access.credentials);
    return create ? S3Tier.create(url, tierId, credentials) : new S3Tier(url, tierId, credentials);
  }
  throw new HindsightError('E_TIER_SCHEME', `tiers of kind ${parsed.protocol} are not supported`, {
    hint: 'file:// (a local disk or a mounted share), sftp:// or s3://',
  });
}

/** withOverride is a tier's access with the fields given in `override` (for one run, say a prune) put in. */
export function withOverride(access: TierAccess, override: TierAccess | undefined): TierAccess {
  const given = Object.entries(override ?? {}).filter(([, v]) => v !== undefined);
  return { ...access, ...Object.fromEntries(given) };
}
