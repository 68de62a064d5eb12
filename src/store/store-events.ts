import { type EventSink, errorMessage, type HindsightError } from '../core/index.ts';
import type { ChunkStore, VerifyReport } from './chunk-store.ts';

/**
 * verifyAndReport re-hashes every chunk of the store and records the outcome as an event:
 * `store.verify-ok`, or `store.verify-failed` with the first damaged hashes.
 */
export async function verifyAndReport(store: ChunkStore, events: EventSink): Promise<VerifyReport> {
  const report = await store.verify();
  const isOk = report.bad.length === 0;
  events.emit({
    level: isOk ? 'info' : 'error',
    type: isOk ? 'store.verify-ok' : 'store.verify-failed',
    msg: isOk ? 'chunk store verified' : 'chunk store has damaged or missing chunks',
    data: {
      chunks: report.chunks,
      bytes: report.bytes,
      bad: report.bad.slice(0, 20),
      badCount: report.bad.length,
    },
  });
  return report;
}

/**
 * reportStoreFailed raises the alert of a chunk store that refuses writes after a failed fsync:
 * from then on this node acknowledges nothing and captures nothing until it is restarted.
 */
export function reportStoreFailed(events: EventSink, err: HindsightError): void {
  events.emit({
    level: 'error',
    type: 'store.failed',
    msg: 'chunk store failed: writes refused until restart',
    data: {
      code: err.code,
      errno: (err.cause as NodeJS.ErrnoException | undefined)?.code ?? null,
      error: errorMessage(err.cause ?? err),
      hint: err.hint,
    },
  });
}
