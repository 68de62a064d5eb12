/**
 * `--on NODE`: the funnel commands and the past of a mirrored volume, run from another node of
 * the cluster, reach the mirror over the peer link (POST /v1/relay) and act there.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { withCluster } from '../harness/cluster.ts';
import { findVolume } from '../harness/status-json.ts';
import { waitFor } from '../harness/wait.ts';

test('hold, delay, resume, timeline and ls --on the mirror, run on the primary', {
  timeout: 120_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const src = cluster.dir('src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.txt'), 'a\n');
    await cluster.addVolume('docs', {
      path: src,
      primary: 'alpha',
      mirrors: [{ node: 'beta', dir: cluster.dir('dst') }],
      extra: ['--delay', '1h'],
    });
    await waitFor(async () => (findVolume(await beta.status(), 'docs', 'mirror')?.receivedSeq ?? 0) > 0, {
      timeoutMs: 30_000,
      what: 'beta received the first change',
    });
    const mainView = async () => findVolume(await beta.status(), 'docs', 'mirror')?.views?.[0];

    const held = JSON.parse(await alpha.cliOk(['hold', 'docs', '--on', 'beta', '--json'])) as {
      held: boolean;
    }[];
    assert.equal(held[0].held, true);
    assert.equal((await mainView())?.held, true, 'held on beta');
    await alpha.cliOk(['delay', 'docs', '0', '--on', 'beta']);
    assert.equal((await mainView())?.delayMs, 0);
    await alpha.cliOk(['resume', 'docs', '--on', 'beta']);
    assert.equal((await mainView())?.held, false);
    const timeline = JSON.parse(await alpha.cliOk(['timeline', 'docs', '--on', 'beta', '--json'])) as {
      changes: { path: string }[];
    };
    assert.ok(timeline.changes.some((c) => c.path === 'a.txt'));
    const ls = JSON.parse(await alpha.cliOk(['ls', 'docs', '--at', 'now', '--on', 'beta', '--json'])) as {
      entries: { name: string }[];
    };
    assert.deepEqual(
      ls.entries.map((e) => e.name),
      ['a.txt'],
    );

    const cat = await alpha.cli(['cat', 'docs', 'a.txt', '--at', 'now', '--on', 'beta']);
    assert.notEqual(cat.code, 0);
    assert.match(cat.stderr, /not relayed/);
    const unknown = await alpha.cli(['hold', 'docs', '--on', 'nosuch']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /E_LINK_UNKNOWN_NODE/);
  });
});
