/** backup: repositories of encrypted, deduplicated backups on several tiers (docs/backup-format.md). */

export { BackupPlans, parseSchedule } from './backup-plans.ts';
export { BackupReads, type BackupReadsDeps, type DrillAnswer } from './backup-reads.ts';
export {
  type BackupInfo,
  type BackupPlan,
  type BackupProgress,
  BackupTables,
  type PruneAnswer,
  type TierInfo,
  type TierRow,
  type TierState,
} from './backup-tables.ts';
export { Backups, type BackupsDeps, DEFAULT_WAIT_MS } from './backups.ts';
export { catchUp, fillTier } from './catch-up.ts';
export { FileTier } from './file-tier.ts';
export { RepoKey, readKeyFile } from './repo-key.ts';
export {
  type BackupEntry,
  type BackupTotals,
  type ManifestEntry,
  Repository,
  type Snapshot,
} from './repository.ts';
export { type KeepPolicy, keptBackups } from './retention.ts';
export { judgeRevision, type Revision, readTierRevision, writeTierRevision } from './revisions.ts';
// The SFTP and S3 tiers are loaded when first used (tier-url.ts): an agent without such tiers
// never loads ssh2 or the AWS SDK. Their types are here; tests import the modules themselves.
export type { S3Credentials, S3TierOptions } from './s3-tier.ts';
export type { SftpTierOptions } from './sftp-tier.ts';
export { ANY_TIER, checkObjectName, TIER_MARKER, type Tier, tierMissing, tierOffline } from './tier.ts';
export { type TierMember, TierSet } from './tier-set.ts';
export { openTier, type TierAccess } from './tier-url.ts';
export { checkRestored, type VerifyReport, verifyRepository } from './verify.ts';
