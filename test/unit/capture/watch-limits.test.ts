import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkWatchLimits } from '../../../src/capture/watch-limits.ts';

const ROOMY = { maxUserWatches: 1_048_576, maxQueuedEvents: 1_048_576, maxUserInstances: 1024 };

it('says nothing when the limits leave room for the volume', () => {
  assert.equal(checkWatchLimits(10_000, ROOMY), undefined);
});

it('warns when a volume takes more than half of the watches, and names the drop-in', () => {
  const warning = checkWatchLimits(40_000, { ...ROOMY, maxUserWatches: 65_536 });
  assert.match(
    warning?.msg ?? '',
    /40000 directories use more than half of fs\.inotify\.max_user_watches \(65536\)/,
  );
  assert.match(String(warning?.data.hint), /90-hindsight\.conf/);
});

it('warns when the event queue is below the kernel default', () => {
  const warning = checkWatchLimits(10, { ...ROOMY, maxQueuedEvents: 256 });
  assert.match(warning?.msg ?? '', /max_queued_events is 256/);
});

it('says nothing where the kernel does not tell its limits', () => {
  assert.equal(checkWatchLimits(10, undefined), undefined);
});
