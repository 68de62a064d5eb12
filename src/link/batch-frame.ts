import type { Change } from '../core/index.ts';

/** BATCH_LIST_BYTES bounds the chunk lists of one CHANGES frame, well below the frame limit. */
const BATCH_LIST_BYTES = 16 * 1024 * 1024;

/**
 * fitFrame shortens a batch so its chunk lists stay within BATCH_LIST_BYTES (at least one
 * change is kept: a single file's list must fit a frame on its own, see docs/protocol.md).
 */
export function fitFrame(batch: Change[]): Change[] {
  let bytes = 0;
  for (let i = 0; i < batch.length; i++) {
    bytes += batch[i].chunks?.length ?? 0;
    if (bytes > BATCH_LIST_BYTES && i > 0) return batch.slice(0, i);
  }
  return batch;
}
