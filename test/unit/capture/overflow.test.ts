/**
 * Capture never misses a change silently. When the kernel's inotify queue overflows (a burst
 * beyond fs.inotify.max_queued_events while the agent is busy), @parcel/watcher, which capture
 * used before, dropped the kernel's IN_Q_OVERFLOW without a word, and 3,616 of 20,000 files
 * stayed stale until the hourly scan. Capture's own watch hears the overflow, says so, and
 * rescans at once; until that scan ends, capture does not vouch for the outbox.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, it } from 'node:test';
import type { VolumeCapture } from '../../../src/capture/index.ts';
import { needPrerequisite } from '../../harness/prerequisite.ts';
import { allChanges, type CaptureEnv, makeCapture, makeEnv, waitFor } from './fixture.ts';

const QUEUE = '/proc/sys/fs/inotify/max_queued_events';
let env: CaptureEnv | undefined;
let capture: VolumeCapture | undefined;

afterEach(async () => {
  await capture?.stop();
  await env?.cleanup();
  capture = undefined;
  env = undefined;
});

/** withSmallQueue runs `fn` while new inotify instances get a queue of `events` (root only). */
async function withSmallQueue<T>(events: number, fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(QUEUE, 'utf8').trim();
  execFileSync('sysctl', ['-q', '-w', `fs.inotify.max_queued_events=${events}`]);
  try {
    return await fn();
  } finally {
    execFileSync('sysctl', ['-q', '-w', `fs.inotify.max_queued_events=${before}`]);
  }
}

it('hears a kernel queue overflow, says so, does not vouch for the outbox, and captures every file', async (t) => {
  const isRoot = process.getuid?.() === 0;
  if (!needPrerequisite(t, isRoot ? undefined : 'root, to lower fs.inotify.max_queued_events')) return;
  env = makeEnv();
  mkdirSync(join(env.root, 'burst'));
  const c = makeCapture(env, { rescanMs: 3_600_000 });
  capture = c;
  // The queue size is taken when the watch opens, at start; 64 is far below the burst.
  await withSmallQueue(64, () => c.start());
  assert.equal(c.health().state, 'watching');
  const mark = env.outbox.lastSeq(env.volume);
  // Written synchronously: the event loop cannot drain the watch meanwhile, so the kernel's
  // queue of 64 overflows long before the 3,000th file.
  for (let i = 0; i < 3000; i++) writeFileSync(join(env.root, 'burst', `f-${i}.txt`), `file ${i}`);
  const e = env;
  await waitFor(() => e.events.ofType('capture.overflow').length > 0, 'the overflow event');
  const seen = c.health();
  assert.equal(seen.isCertain, false, 'no vouching between the overflow and the end of its repair');
  assert.ok(seen.overflows >= 1);
  await waitFor(() => e.events.ofType('capture.repaired').length > 0, 'the repair scan', 60_000);
  const captured = new Set(allChanges(e, mark).map((ch) => ch.path));
  const missing = Array.from({ length: 3000 }, (_, i) => `burst/f-${i}.txt`).filter((p) => !captured.has(p));
  assert.deepEqual(missing, [], 'every file of the burst is captured');
  await waitFor(() => c.health().isCertain, 'capture vouching again once the repair is done');
  const scan = e.events.ofType('capture.scan-started').find((ev) => ev.data?.why === 'overflow');
  assert.ok(scan, 'the repair scan says why it ran');
});

it('without inotify, polls: says so, never vouches, and still captures what changes', async () => {
  env = makeEnv();
  process.env.HINDSIGHT_NO_INOTIFY = '1';
  try {
    capture = makeCapture(env, { rescanMs: 3_600_000 });
    await capture.start();
  } finally {
    delete process.env.HINDSIGHT_NO_INOTIFY;
  }
  const e = env;
  const c = capture;
  assert.equal(e.events.ofType('capture.polling').length, 1, 'the reason is reported once');
  const mark = e.outbox.lastSeq(e.volume);
  writeFileSync(join(e.root, 'late.txt'), 'late');
  await waitFor(() => allChanges(e, mark).some((ch) => ch.path === 'late.txt'), 'the file, found by polling');
  const health = c.health();
  assert.equal(health.isCertain, false);
  assert.match(health.state, /polling|scanning/);
});
