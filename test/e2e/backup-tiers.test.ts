/**
 * End-to-end: the two-tier rules with real agents and real servers. A mirror writes its backups
 * to a `file://` share and to an S3-compatible server (s3rver) at once; a restore from either
 * equals `preview` of the same moment; with the S3 server stopped, backups go on to the share and
 * the S3 tier is offline, then behind, and caught up in idle time once it is back (revisions
 * equal); with the share unmounted, the same the other way round.
 */
import assert from 'node:assert/strict';
import { mkdir, rename, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { treeHash, waitConverged, waitFor, withCluster } from '../harness/cluster.ts';
import { needPrerequisite } from '../harness/prerequisite.ts';
import { S3RVER_CREDENTIALS, S3Server, s3rverMissing } from '../harness/s3-server.ts';
import { createRng, makeTree, seedFromEnv } from '../harness/workload.ts';

interface Tier {
  name: string;
  state: string;
  revision: number;
}

test('backups go to a share and an S3 server at once; either one offline is caught up when it is back', {
  timeout: 600_000,
}, async (t) => {
  if (!needPrerequisite(t, s3rverMissing())) return;
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed}`);
  const s3 = await S3Server.launch({ buckets: ['backups'] });
  try {
    await withCluster(t, ['alpha', 'beta'], async (cluster) => {
      const src = cluster.dir('src');
      const dst = cluster.dir('dst');
      await makeTree(
        src,
        { smallFiles: 80, mediumFiles: 2, largeFileBytes: 3 * 1024 * 1024 },
        createRng(seed),
      );
      await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
      await waitConverged(src, dst, { timeoutMs: 120_000 });
      const beta = cluster.node('beta');
      const nas = cluster.dir('nas');
      await mkdir(nas);
      const credentials = cluster.dir('s3.env');
      await writeFile(
        credentials,
        `AWS_ACCESS_KEY_ID=${S3RVER_CREDENTIALS.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${S3RVER_CREDENTIALS.secretAccessKey}\n`,
        { mode: 0o600 },
      );
      await beta.cliOk(['tier', 'add', 'local', `file://${nas}`]);
      const cloudUrl = `s3://backups/hindsight?endpoint=${s3.endpoint}&region=us-east-1`;
      await beta.cliOk(['tier', 'add', 'cloud', cloudUrl, '--credentials', credentials]);
      const tiers = async () => JSON.parse(await beta.cliOk(['tier', 'list', '--json'])) as Tier[];
      const list = await tiers();
      assert.ok(!JSON.stringify(list).includes(S3RVER_CREDENTIALS.secretAccessKey), 'no secret in tier list');

      const first = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json']));
      assert.deepEqual(first.tiers, ['local', 'cloud']);
      const preview = cluster.dir('preview-first');
      await beta.cliOk(['preview', 'docs', '--at', new Date(first.at).toISOString(), '--into', preview]);
      for (const tier of ['local', 'cloud']) {
        const into = cluster.dir(`restore-${tier}`);
        await beta.cliOk(['backup', 'restore', 'docs', '--id', first.id, '--into', into, '--tier', tier]);
        assert.equal(await treeHash(into), await treeHash(preview), `the backup restored from ${tier}`);
      }

      // The S3 server goes away: the backup goes to the share alone.
      await s3.stop();
      await writeFile(path.join(src, 'while-s3-was-down.txt'), 'later\n');
      await waitConverged(src, dst, { timeoutMs: 60_000 });
      const second = JSON.parse(
        await beta.cliOk(['backup', 'run', 'docs', '--json'], { timeoutMs: 180_000 }),
      );
      assert.deepEqual(second.tiers, ['local']);
      assert.equal((await tiers()).find((x) => x.name === 'cloud')?.state, 'offline');

      // Back: caught up in idle time, to the same revision and the backup it missed.
      await s3.start();
      const caughtUp = async () => {
        const now = await tiers();
        return now.every((x) => x.state === 'online') && now[0].revision === now[1].revision
          ? now
          : undefined;
      };
      await waitFor(caughtUp, { timeoutMs: 120_000, intervalMs: 1000, what: 'the S3 tier caught up' });
      const fromCloud = cluster.dir('restore-second-cloud');
      await beta.cliOk([
        'backup',
        'restore',
        'docs',
        '--id',
        second.id,
        '--into',
        fromCloud,
        '--tier',
        'cloud',
      ]);
      assert.equal(await treeHash(fromCloud), await treeHash(src));

      // The share is unmounted: its empty mount point is never filled, and it is caught up after.
      await rename(nas, `${nas}-away`);
      await mkdir(nas);
      await writeFile(path.join(src, 'while-unmounted.txt'), 'later still\n');
      await waitConverged(src, dst, { timeoutMs: 60_000 });
      const third = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json']));
      assert.deepEqual(third.tiers, ['cloud']);
      await rmdir(nas);
      await rename(`${nas}-away`, nas);
      await waitFor(caughtUp, { timeoutMs: 120_000, intervalMs: 1000, what: 'the share caught up' });
      const fromShare = cluster.dir('restore-third-local');
      await beta.cliOk([
        'backup',
        'restore',
        'docs',
        '--id',
        third.id,
        '--into',
        fromShare,
        '--tier',
        'local',
      ]);
      assert.equal(await treeHash(fromShare), await treeHash(src));
      await beta.cliOk(['backup', 'verify', '--read-data', '100%']);
    });
  } finally {
    await s3.close();
  }
});
