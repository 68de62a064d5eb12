/**
 * End-to-end: a mirror backs up to an SFTP server (a real OpenSSH sshd the test starts), once
 * through an ordinary account and once through an **append-only** one (`internal-sftp -P
 * remove,rmdir,rename,posix-rename`): backups, verify and restores work on both; `prune` is
 * refused on the append-only tier with what to do, and runs there with the key that may delete,
 * given for that run only.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { treeHash, waitConverged, waitFor, withCluster } from '../harness/cluster.ts';
import { needPrerequisite } from '../harness/prerequisite.ts';
import { Sshd, sshdMissing } from '../harness/sshd.ts';
import { createRng, makeTree, seedFromEnv } from '../harness/workload.ts';

test('backups to an SFTP server, also through an append-only account that prune cannot delete from', {
  timeout: 600_000,
}, async (t) => {
  if (!needPrerequisite(t, sshdMissing())) return;
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed}`);
  const sshd = await Sshd.launch();
  try {
    await withCluster(t, ['alpha', 'beta'], async (cluster) => {
      const src = cluster.dir('src');
      const dst = cluster.dir('dst');
      await makeTree(
        src,
        { smallFiles: 60, mediumFiles: 2, largeFileBytes: 2 * 1024 * 1024 },
        createRng(seed),
      );
      await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
      await waitConverged(src, dst, { timeoutMs: 120_000 });
      const beta = cluster.node('beta');
      const office = cluster.dir('sftp-office');
      const vault = cluster.dir('sftp-vault');
      await mkdir(office);
      await mkdir(vault);
      const url = (user: string, dir: string) => `sftp://${user}@${sshd.host}:${sshd.port}${dir}`;
      const added = await beta.cliOk([
        'tier',
        'add',
        'office',
        url(sshd.normal.user, office),
        '--identity',
        sshd.normal.identity,
      ]);
      assert.ok(added.includes(sshd.hostKey), 'tier add shows the host key it pinned');
      await beta.cliOk([
        'tier',
        'add',
        'vault',
        url(sshd.appendOnly.user, vault),
        '--identity',
        sshd.appendOnly.identity,
      ]);

      const first = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json']));
      assert.deepEqual(first.tiers, ['office', 'vault']);
      const second = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json']));
      const preview = cluster.dir('preview');
      await beta.cliOk(['preview', 'docs', '--at', new Date(first.at).toISOString(), '--into', preview]);
      for (const tier of ['office', 'vault']) {
        const into = cluster.dir(`restore-${tier}`);
        await beta.cliOk(['backup', 'restore', 'docs', '--id', first.id, '--into', into, '--tier', tier]);
        assert.equal(await treeHash(into), await treeHash(preview), `restored from ${tier}`);
      }
      await beta.cliOk(['backup', 'verify', '--read-data', '100%']);

      // prune: done on the ordinary tier, refused (and named) on the append-only one.
      const refused = await beta.cli(['backup', 'prune', '--keep-last', '1', '--json']);
      assert.equal(refused.code, 1, refused.stderr);
      const answer = JSON.parse(refused.stdout);
      assert.deepEqual(answer.refused, ['vault']);
      assert.match(refused.stderr, /tier vault refused to delete/);
      // The append-only tier still holds both backups; with the key that may delete it is pruned.
      const both = cluster.dir('restore-vault-first-after-refusal');
      await beta.cliOk(['backup', 'restore', 'docs', '--id', first.id, '--into', both, '--tier', 'vault']);
      const admin = JSON.parse(
        await beta.cliOk([
          'backup',
          'prune',
          '--keep-last',
          '1',
          '--identity',
          sshd.normal.identity,
          '--json',
        ]),
      );
      assert.deepEqual(admin.refused, []);
      const gone = await beta.cli([
        'backup',
        'restore',
        'docs',
        '--id',
        first.id,
        '--into',
        cluster.dir('never'),
        '--tier',
        'vault',
      ]);
      assert.notEqual(gone.code, 0, 'the pruned backup is gone from the append-only tier too');
      const kept = cluster.dir('restore-kept');
      await beta.cliOk(['backup', 'restore', 'docs', '--id', second.id, '--into', kept, '--tier', 'vault']);
      assert.equal(await treeHash(kept), await treeHash(src));
      await beta.cliOk(['backup', 'verify', '--read-data', '100%']);

      // The SFTP server stops: a third tier, a local disk, takes the backup alone; both SFTP
      // tiers are offline, then behind, and are caught up (copying only) once sshd is back.
      const nas = cluster.dir('nas');
      await mkdir(nas);
      await beta.cliOk(['tier', 'add', 'local', `file://${nas}`]);
      const tiers = async () =>
        JSON.parse(await beta.cliOk(['tier', 'list', '--json'])) as {
          name: string;
          state: string;
          revision: number;
        }[];
      const allSynced = async () => {
        const now = await tiers();
        return now.every((x) => x.state === 'online' && x.revision === now[0].revision) ? now : undefined;
      };
      await waitFor(allSynced, { timeoutMs: 120_000, intervalMs: 1000, what: 'the local tier filled' });
      await sshd.stop();
      await writeFile(path.join(src, 'while-sshd-was-down.txt'), 'later\n');
      await waitConverged(src, dst, { timeoutMs: 60_000 });
      const during = JSON.parse(
        await beta.cliOk(['backup', 'run', 'docs', '--json'], { timeoutMs: 300_000 }),
      );
      assert.deepEqual(during.tiers, ['local']);
      assert.deepEqual(
        (await tiers()).filter((x) => x.name !== 'local').map((x) => x.state),
        ['offline', 'offline'],
      );
      await sshd.start();
      await waitFor(allSynced, { timeoutMs: 240_000, intervalMs: 1000, what: 'the SFTP tiers caught up' });
      const fromVault = cluster.dir('restore-during-vault');
      await beta.cliOk([
        'backup',
        'restore',
        'docs',
        '--id',
        during.id,
        '--into',
        fromVault,
        '--tier',
        'vault',
      ]);
      assert.equal(await treeHash(fromVault), await treeHash(src));
    });
  } finally {
    await sshd.dispose();
  }
});
