/**
 * Regression (seeded kill -9 storm, seed 1085915997): after a directory is moved, inotify keeps
 * reporting events inside it under its old path, so a file created there later was never
 * captured. Capture's own watch drops a moved directory's watches and watches it again under its
 * new name (capture/tree-watch.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import type { VolumeCapture } from '../../../src/capture/index.ts';
import { allChanges, type CaptureEnv, makeCapture, makeEnv, summary, waitFor } from './fixture.ts';

let env: CaptureEnv;
let capture: VolumeCapture;

beforeEach(() => {
  env = makeEnv();
  mkdirSync(join(env.root, 'a', 'inner'), { recursive: true });
  mkdirSync(join(env.root, 'b'));
  capture = makeCapture(env);
});

afterEach(async () => {
  await capture.stop();
  await env.cleanup();
});

it('captures files created inside a directory after it was moved, and after its parent was moved', async () => {
  await capture.start();
  const mark = env.outbox.lastSeq(env.volume);
  renameSync(join(env.root, 'a'), join(env.root, 'b', 'a2'));
  await waitFor(() => summary(allChanges(env, mark)).includes('mkdir b/a2'), 'the moved directory');
  renameSync(join(env.root, 'b'), join(env.root, 'c'));
  await waitFor(() => summary(allChanges(env, mark)).includes('mkdir c'), 'the moved parent');
  // Events for these come from watches that still carry the old paths.
  writeFileSync(join(env.root, 'c', 'a2', 'inner', 'late.txt'), 'late');
  mkdirSync(join(env.root, 'c', 'a2', 'inner', 'later'));
  await waitFor(() => summary(allChanges(env, mark)).includes('put c/a2/inner/late.txt'), 'the late file');
  await waitFor(() => summary(allChanges(env, mark)).includes('mkdir c/a2/inner/later'), 'the late dir');
  const paths = new Set(
    env.catalog
      .prepare('SELECT path FROM files')
      .all()
      .map((r) => r.path as string),
  );
  assert.ok(!paths.has('a') && !paths.has('b/a2'), 'old paths are deleted');
});

// Regression (rewind model test, seed 570879192): a file in a moved directory truncated well
// after the move's rescan was never captured, because the watch still reported the old path.
// The moved directory is now watched afresh under its new name when the move is captured.
it('captures a change inside a moved directory made after the move was captured', async () => {
  writeFileSync(join(env.root, 'a', 'inner', 'f.txt'), 'first version, long enough');
  await capture.start();
  const mark = env.outbox.lastSeq(env.volume);
  renameSync(join(env.root, 'a'), join(env.root, 'b', 'moved'));
  await waitFor(() => summary(allChanges(env, mark)).includes('put b/moved/inner/f.txt'), 'the move');
  writeFileSync(join(env.root, 'b', 'moved', 'inner', 'f.txt'), 'short');
  await waitFor(() => {
    const puts = allChanges(env, mark).filter((c) => c.path === 'b/moved/inner/f.txt' && c.kind === 'put');
    return puts.some((c) => c.size === 5);
  }, 'the edit inside the moved directory');
});

// Regression: the fresh subscription after a move was tied to the reason of the rescan that
// followed. A rescan for another reason first (a request, a read error retried, too many
// changes) took the scheduled one's place, and the watch kept reporting the moved directory's
// events under its old path until the hourly scan.
it('subscribes afresh after a move even when a rescan for another reason comes first', async () => {
  writeFileSync(join(env.root, 'a', 'inner', 'f.txt'), 'first version, long enough');
  await capture.start();
  const mark = env.outbox.lastSeq(env.volume);
  renameSync(join(env.root, 'a'), join(env.root, 'b', 'moved'));
  await waitFor(() => summary(allChanges(env, mark)).includes('mkdir b/moved'), 'the moved directory');
  await capture.rescan();
  writeFileSync(join(env.root, 'b', 'moved', 'inner', 'f.txt'), 'short');
  await waitFor(() => {
    const puts = allChanges(env, mark).filter((c) => c.path === 'b/moved/inner/f.txt' && c.kind === 'put');
    return puts.some((c) => c.size === 5);
  }, 'the edit inside the moved directory');
});

// A directory moved is watched afresh under its new name by the scan of what moved, never by
// a scan of the whole volume (the old rule rescanned the volume after every directory move and
// waited 10x the last scan's duration for it, 54-96 s on a 60,000-file tree). A move made while
// capture was stopped is found by the scan at start, which watches the directory as it walks.
it('watches a moved directory under its new name without scanning the whole volume again', async () => {
  await capture.start();
  const scansAfterStart = () => env.events.ofType('capture.scan-started').length;
  const before = scansAfterStart();
  let mark = env.outbox.lastSeq(env.volume);
  renameSync(join(env.root, 'a'), join(env.root, 'b', 'moved'));
  await waitFor(() => summary(allChanges(env, mark)).includes('mkdir b/moved/inner'), 'the move');
  writeFileSync(join(env.root, 'b', 'moved', 'inner', 'late.txt'), 'late');
  await waitFor(() => summary(allChanges(env, mark)).includes('put b/moved/inner/late.txt'), 'the late file');
  assert.equal(scansAfterStart(), before, 'no full scan followed the move');

  await capture.stop();
  renameSync(join(env.root, 'b', 'moved'), join(env.root, 'again'));
  await capture.start();
  const start = env.events.ofType('capture.scan-finished').at(-1);
  assert.equal(start?.data?.why, 'start');
  assert.equal(start?.data?.dirsGone, 1, 'b/moved vanished, with what it held');
  mark = env.outbox.lastSeq(env.volume);
  writeFileSync(join(env.root, 'again', 'inner', 'later.txt'), 'later');
  await waitFor(() => summary(allChanges(env, mark)).includes('put again/inner/later.txt'), 'the later file');
  assert.equal(
    env.events.ofType('capture.scan-started').filter((e) => e.data?.why !== 'start').length,
    0,
    'only the scans at start ran',
  );
});
