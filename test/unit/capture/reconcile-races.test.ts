/**
 * Regression (CI, e2e/chaos-network, seed 195825505): a symlink renamed or replaced between the
 * lstat that found it and the readlink that reads it was reported as a read error and retried
 * as one, and the retry's rescan took the place of the rescan that must follow a directory
 * move. A path that vanished is gone; a path that is no longer a link is looked at again.
 */
import assert from 'node:assert/strict';
import { lstatSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import { allChanges, type CaptureEnv, makeEnv, makeReconciler, summary } from './fixture.ts';

let env: CaptureEnv;

beforeEach(() => {
  env = makeEnv();
});

afterEach(async () => {
  await env.cleanup();
});

it('takes a symlink that vanished before its readlink for gone, not for a read error', async () => {
  const { reconciler, batch } = makeReconciler(env);
  const link = join(env.root, 'link');
  symlinkSync('target', link);
  const st = lstatSync(link, { bigint: true });
  rmSync(link);
  assert.equal(await reconciler.reconcile('link', st, undefined), 'gone');
  await batch.flush();
  assert.deepEqual(env.events.ofType('capture.read-error'), []);
  assert.deepEqual(summary(allChanges(env)), []);
});

it('records the delete of a known symlink that vanished before its readlink', async () => {
  const { reconciler, rows, batch } = makeReconciler(env);
  const link = join(env.root, 'link');
  symlinkSync('target', link);
  assert.equal(await reconciler.reconcile('link', lstatSync(link, { bigint: true }), undefined), 'changed');
  await batch.flush();
  // Pointed elsewhere (the lstat sees a change), then renamed away before the readlink.
  rmSync(link);
  symlinkSync('elsewhere', link);
  const st = lstatSync(link, { bigint: true });
  rmSync(link);
  assert.equal(await reconciler.reconcile('link', st, rows.get('link')), 'gone');
  await batch.flush();
  assert.deepEqual(summary(allChanges(env)), ['symlink link', 'delete link']);
  assert.deepEqual(env.events.ofType('capture.read-error'), []);
});

it('looks again at a symlink replaced by a file before its readlink', async () => {
  const { reconciler } = makeReconciler(env);
  const link = join(env.root, 'link');
  symlinkSync('target', link);
  const st = lstatSync(link, { bigint: true });
  rmSync(link);
  writeFileSync(link, 'a file now');
  assert.equal(await reconciler.reconcile('link', st, undefined), 'unstable');
  assert.deepEqual(env.events.ofType('capture.read-error'), []);
});
