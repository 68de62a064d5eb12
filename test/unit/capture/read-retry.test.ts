/**
 * Regression (extended chaos tier, chaos-io seed 495161081): a file the primary could not store
 * while its state directory was full was only reported, "retried at the next scan" — the hourly
 * one — so it stayed unmirrored for up to an hour after the disk had room again. Capture now
 * scans again soon (1 s, doubling to a minute) while paths fail.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, it } from 'node:test';
import type { VolumeCapture } from '../../../src/capture/index.ts';
import { type FileOps, NODE_FILE_OPS } from '../../../src/sys/index.ts';
import { allChanges, type CaptureEnv, makeCapture, makeEnv, summary, waitFor } from './fixture.ts';

let env: CaptureEnv;
let capture: VolumeCapture;

afterEach(async () => {
  await capture.stop();
  await env.cleanup();
});

/** fullDisk is the real file calls, except that writes fail with ENOSPC while `isFull`. */
function fullDisk(): { ops: FileOps; state: { isFull: boolean } } {
  const state = { isFull: false };
  const refuse = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const ops: FileOps = {
    ...NODE_FILE_OPS,
    writeSync: (...args) => {
      if (state.isFull) throw refuse();
      return NODE_FILE_OPS.writeSync(...args);
    },
    write: async (...args) => {
      if (state.isFull) throw refuse();
      return NODE_FILE_OPS.write(...args);
    },
  };
  return { ops, state };
}

it('a file that could not be stored is captured soon after the disk has room, not at the hourly scan', async () => {
  const disk = fullDisk();
  env = makeEnv(['m1'], { fs: disk.ops });
  capture = makeCapture(env, { rescanMs: 3_600_000 });
  await capture.start();
  const mark = env.outbox.lastSeq(env.volume);
  disk.state.isFull = true;
  // Larger than the store's write buffer, so storing it must write, and fails. Written beside
  // the root and renamed in, so the watcher reports it once: a second event for a file still
  // being written would capture it without the retry scan this test is about (CI, 2026-12-05).
  const staged = join(env.dir, 'big.staged');
  writeFileSync(staged, randomBytes(6 * 1024 * 1024));
  renameSync(staged, join(env.root, 'big.bin'));
  await waitFor(
    () => env.events.ofType('capture.read-error').find((e) => e.data?.path === 'big.bin'),
    'the failure to store big.bin',
  );
  assert.deepEqual(summary(allChanges(env, mark)), [], 'nothing captured while the disk is full');
  assert.equal(capture.health().isCertain, false, 'capture does not vouch for the outbox while a file waits');
  disk.state.isFull = false;
  await waitFor(
    () => summary(allChanges(env, mark)).includes('put big.bin'),
    'big.bin captured once there is room',
  );
  const retried = env.events.ofType('capture.scan-finished').filter((e) => e.data?.why === 'read errors');
  assert.ok(retried.length > 0, 'a scan for the read errors ran');
  await waitFor(() => capture.health().isCertain, 'capture vouching again once the retry succeeded');
});
