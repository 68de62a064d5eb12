import { type EventSink, errorMessage, isHindsightError } from '../core/index.ts';
import type { BackupTables, TierRow } from './backup-tables.ts';

/** TierEventDeps: where a tier's trouble is recorded and said, and when. */
interface TierEventDeps {
  table: BackupTables;
  events: EventSink;
  now: number;
}

/**
 * tierFailed records why tier `name` failed; an offline tier is marked `offline`, and said so
 * once per outage (`tier.offline`); any other failure is a `backup.failed`.
 */
export function tierFailed(d: TierEventDeps, name: string, err: unknown, volume?: string): void {
  const offline = isHindsightError(err, 'E_TIER_OFFLINE');
  const row = d.table.get(name);
  d.table.recordError(name, errorMessage(err), d.now, offline ? 'offline' : undefined);
  if (offline && row?.state === 'offline') return; // said already
  d.events.emit({
    level: 'warn',
    type: offline ? 'tier.offline' : 'backup.failed',
    volume,
    msg: `tier ${name}: ${errorMessage(err)}`,
    data: { tier: name, error: errorMessage(err) },
  });
}

/** markForeign marks a tier another installation wrote to: nothing more is written to it, and an error event says what to do. */
export function markForeign(d: TierEventDeps, row: TierRow): void {
  const why = 'another installation wrote to this tier (a copied state directory or VM, or another cluster)';
  d.table.recordError(row.name, why, d.now, 'foreign');
  d.events.emit({
    level: 'error',
    type: 'tier.foreign',
    msg: `tier ${row.name} (${row.url}): ${why}; nothing more is written to it`,
    data: {
      tier: row.name,
      url: row.url,
      hint: 'find the other installation and stop it; then give this node a new tier, or remove the other one',
    },
  });
}
