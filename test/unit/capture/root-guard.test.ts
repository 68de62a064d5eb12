import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileRows, RootGuard, type VolumeCapture } from '../../../src/capture/index.ts';
import { allChanges, type CaptureEnv, makeCapture, makeEnv, summary, waitFor } from './fixture.ts';

function volumeState(env: CaptureEnv): { state: string; reason: string | null } {
  const row = env.catalog.prepare("SELECT state, reason FROM volumes WHERE name = 'vol'").get() as {
    state: string;
    reason: string | null;
  };
  return { state: row.state, reason: row.reason };
}

describe('root guard', () => {
  let env: CaptureEnv;
  let capture: VolumeCapture;
  beforeEach(() => {
    env = makeEnv();
    mkdirSync(join(env.root, 'd'));
    writeFileSync(join(env.root, 'd/f.txt'), 'f');
    writeFileSync(join(env.root, 'g.txt'), 'g');
    capture = makeCapture(env, { rootCheckMs: 50 });
  });
  afterEach(async () => {
    await capture.stop();
    await env.cleanup();
  });

  it('stops the volume without deletes when the root disappears, and resumes when it is back', async () => {
    await capture.start();
    const mark = env.outbox.lastSeq(env.volume);
    assert.equal(mark, 3);
    const aside = join(env.dir, 'aside');
    renameSync(env.root, aside);
    await waitFor(() => env.events.ofType('capture.root-missing').length === 1, 'root-missing event');
    assert.equal(volumeState(env).state, 'stopped');
    assert.match(volumeState(env).reason ?? '', /^root-missing/);
    assert.equal(env.events.ofType('capture.root-missing')[0].level, 'error');
    assert.equal(env.outbox.lastSeq(env.volume), mark, 'no change recorded');

    renameSync(aside, env.root);
    await waitFor(() => env.events.ofType('volume.resumed').length === 1, 'volume.resumed');
    assert.deepEqual(volumeState(env), { state: 'active', reason: null });
    // Watching again after the resume.
    writeFileSync(join(env.root, 'after.txt'), 'a');
    await waitFor(() => summary(allChanges(env, mark)).includes('put after.txt'), 'capture after resume');
    assert.ok(!allChanges(env).some((c) => c.kind === 'delete'));
    assert.equal(env.events.ofType('capture.root-missing').length, 1, 'one alert per outage');
  });

  it('stops the volume without deletes when the root is emptied (an unmounted disk)', async () => {
    await capture.start();
    const mark = env.outbox.lastSeq(env.volume);
    rmSync(join(env.root, 'd'), { recursive: true });
    rmSync(join(env.root, 'g.txt'));
    await waitFor(() => env.events.ofType('capture.root-empty').length === 1, 'root-empty event');
    assert.equal(volumeState(env).state, 'stopped');
    assert.equal(env.outbox.lastSeq(env.volume), mark);

    writeFileSync(join(env.root, 'g.txt'), 'g');
    await waitFor(() => env.events.ofType('volume.resumed').length === 1, 'volume.resumed');
    // Once the root holds something again, the rescan records what is really gone.
    await waitFor(
      () => summary(allChanges(env, mark)).includes('delete d/f.txt'),
      'real deletes after resume',
    );
  });

  it('refuses to start on a missing root and never deletes', async () => {
    await capture.start();
    await capture.stop();
    rmSync(env.root, { recursive: true });
    const mark = env.outbox.lastSeq(env.volume);
    await capture.start();
    assert.equal(volumeState(env).state, 'stopped');
    assert.equal(env.outbox.lastSeq(env.volume), mark);
  });

  it('leaves a volume stopped by someone else alone', async () => {
    env.catalog.prepare("UPDATE volumes SET state = 'stopped', reason = 'operator'").run();
    const guard = new RootGuard({
      catalog: env.catalog,
      rows: new FileRows(env.catalog, env.volume),
      events: env.events,
      volume: env.volume,
      root: env.root,
    });
    assert.equal(await guard.check(), false);
    assert.deepEqual(volumeState(env), { state: 'stopped', reason: 'operator' });
    assert.equal(env.events.events.length, 0);
  });

  it('accepts an empty root for a volume that has captured nothing yet', async () => {
    rmSync(join(env.root, 'd'), { recursive: true });
    rmSync(join(env.root, 'g.txt'));
    await capture.start();
    assert.equal(volumeState(env).state, 'active');
    assert.equal(env.events.ofType('capture.root-empty').length, 0);
  });
});
