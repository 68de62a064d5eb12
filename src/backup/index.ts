/** backup: repositories of encrypted, deduplicated backups on several tiers (docs/backup-format.md). */

export { type BackupInfo, Backups, type BackupsDeps, type TierInfo, type TierState } from './backups.ts';
export { FileTier, TIER_MARKER } from './file-tier.ts';
export { RepoKey } from './repo-key.ts';
export { type BackupTotals, type ManifestEntry, Repository, type Snapshot } from './repository.ts';
export { checkObjectName, type Tier, tierMissing, tierOffline } from './tier.ts';
