/** backup: repositories of encrypted, deduplicated backups on several tiers (docs/backup-format.md). */

export { FileTier, TIER_MARKER } from './file-tier.ts';
export { RepoKey } from './repo-key.ts';
export { checkObjectName, type Tier, tierMissing, tierOffline } from './tier.ts';
