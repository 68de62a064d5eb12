/**
 * End-to-end: the mirror backs a volume up from its timeline to a `file://` tier, through the
 * CLI of real agents, and what a backup restores equals `preview --at` the same moment (content,
 * modes, links). A second backup of an unchanged volume writes no new data; a restore picks a
 * backup by id or by moment, and one path alone.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, treeHash, waitConverged, waitFor, withCluster } from '../harness/cluster.ts';
import { createRng, makeTree, seedFromEnv } from '../harness/workload.ts';

interface Backup {
  id: string;
  at: number;
  seq: number;
  files: number;
  newBytes: number;
  tiers: string[];
}

test('backups from the mirror to a file tier restore what preview shows at the same moment', {
  timeout: 300_000,
}, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed}`);
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const src = cluster.dir('src');
    const dst = cluster.dir('dst');
    await makeTree(
      src,
      { smallFiles: 120, mediumFiles: 2, largeFileBytes: 6 * 1024 * 1024 },
      createRng(seed),
    );
    await mkdir(path.join(src, 'private'));
    await writeFile(path.join(src, 'private', 'secret.txt'), 'only for the owner\n');
    await chmod(path.join(src, 'private', 'secret.txt'), 0o600);
    await symlink('private/secret.txt', path.join(src, 'shortcut'));
    await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
    await waitConverged(src, dst, { timeoutMs: 120_000 });
    const beta = cluster.node('beta');

    const nas = cluster.dir('nas');
    await mkdir(nas);
    const added = JSON.parse(await beta.cliOk(['tier', 'add', 'local', `file://${nas}`, '--json']));
    assert.equal(added.state, 'online');
    const [listed] = JSON.parse(await beta.cliOk(['tier', 'list', '--json']));
    assert.deepEqual(
      { name: listed.name, url: listed.url, state: listed.state, revision: listed.revision },
      { name: 'local', url: `file://${nas}`, state: 'online', revision: 0 },
    );

    const first = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json'])) as Backup;
    assert.deepEqual(first.tiers, ['local']);
    assert.ok(first.files > 120);
    const again = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json'])) as Backup;
    assert.equal(again.newBytes, 0, 'an unchanged volume costs no new data');

    // Change the volume, and back the new state up too.
    await rm(path.join(src, 'private'), { recursive: true });
    await writeFile(path.join(src, 'late.txt'), 'after the first backup\n');
    await waitConverged(src, dst, { timeoutMs: 60_000 });
    const second = await waitFor(
      async () => {
        const b = JSON.parse(await beta.cliOk(['backup', 'run', 'docs', '--json'])) as Backup;
        return b.seq > first.seq ? b : undefined;
      },
      { timeoutMs: 30_000, what: 'a backup that holds the later changes' },
    );

    const atFirst = new Date(first.at).toISOString();
    const preview = cluster.dir('preview-first');
    await beta.cliOk(['preview', 'docs', '--at', atFirst, '--into', preview]);
    const byId = cluster.dir('restore-by-id');
    await beta.cliOk(['backup', 'restore', 'docs', '--id', first.id, '--into', byId]);
    assert.equal(
      await treeHash(byId),
      await treeHash(preview),
      'the first backup equals the preview of its moment',
    );
    const byMoment = cluster.dir('restore-by-moment');
    await beta.cliOk(['backup', 'restore', 'docs', '--at', atFirst, '--into', byMoment]);
    assert.equal(await treeHash(byMoment), await treeHash(preview));

    const latest = cluster.dir('restore-latest');
    await beta.cliOk(['backup', 'restore', 'docs', '--id', second.id, '--into', latest]);
    assert.equal(await treeHash(latest), await treeHash(src), 'the second backup equals the volume now');

    const one = cluster.dir('restore-one');
    await beta.cliOk(['backup', 'restore', 'docs', 'private', '--id', first.id, '--into', one]);
    assert.deepEqual(await readdir(one), ['private']);
    assert.deepEqual(await readdir(path.join(one, 'private')), ['secret.txt']);

    const list = JSON.parse(await beta.cliOk(['backup', 'list', 'docs', '--json'])) as Backup[];
    assert.equal(list.length, 3);
    const key = await beta.cliOk(['backup', 'key', 'export']);
    assert.match(key, /^hindsight-backup-key-v1 [A-Za-z0-9+/=]+\n$/);

    // After losing everything: only the tier and the key, no agent, no state directory.
    const keyFile = cluster.dir('kept-apart.key');
    await writeFile(keyFile, key);
    const bare = cluster.dir('bare-machine');
    const offline = await runCli([
      'backup',
      'restore',
      '--from',
      `file://${nas}`,
      '--key-file',
      keyFile,
      '--volume',
      'docs',
      '--into',
      bare,
    ]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(await treeHash(bare), await treeHash(src), 'the newest backup, restored on a bare machine');
    const wrongKey = cluster.dir('wrong.key');
    await writeFile(wrongKey, 'hindsight-backup-key-v1 ' + Buffer.alloc(64, 1).toString('base64') + '\n');
    const refused = await runCli([
      'backup',
      'restore',
      '--from',
      `file://${nas}`,
      '--key-file',
      wrongKey,
      '--volume',
      'docs',
      '--into',
      cluster.dir('never'),
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /the key does not open the repository/);

    // Verify, drill, a plan, status, and prune, through the CLI.
    await beta.cliOk(['backup', 'verify', '--read-data', '100%']);
    const drill = JSON.parse(await beta.cliOk(['backup', 'drill', 'docs', '--json']));
    assert.equal(drill.isOk, true, drill.problems?.join('\n'));
    const plan = JSON.parse(
      await beta.cliOk([
        'volume',
        'set',
        'docs',
        '--backup',
        'daily 02:00',
        '--keep-last',
        '2',
        '--drill',
        'weekly',
        '--json',
      ]),
    );
    assert.deepEqual(plan, { volume: 'docs', schedule: 'daily 02:00', keep: { last: 2 }, drill: 'weekly' });
    const badPlan = await beta.cli(['volume', 'set', 'docs', '--backup', 'at tea time']);
    assert.notEqual(badPlan.code, 0);
    assert.match(badPlan.stderr, /not a schedule[\s\S]*daily 02:00/);
    const status = JSON.parse(await beta.cliOk(['status', '--json']));
    assert.equal(status.backups.tiers[0].name, 'local');
    assert.equal(status.backups.volumes[0].lastBackup.id, second.id);
    assert.equal(status.backups.volumes[0].lastDrill.problems, 0);
    const pruned = JSON.parse(await beta.cliOk(['backup', 'prune', '--keep-last', '1', '--json']));
    assert.equal(pruned.snapshots, 2);
    assert.equal(JSON.parse(await beta.cliOk(['backup', 'list', '--json'])).length, 1);
    await beta.cliOk(['backup', 'verify', '--read-data', '100%']);

    // Nothing in the tier shows a file name or its content.
    const names = await readdir(nas, { recursive: true });
    assert.ok(!names.some((n) => n.includes('secret')), 'object names say nothing of the files');
  });
});

test('backup commands say what to do when something is missing', { timeout: 120_000 }, async (t) => {
  await withCluster(t, ['alpha'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const noTier = await alpha.cli(['backup', 'run', 'docs']);
    assert.notEqual(noTier.code, 0);
    assert.match(noTier.stderr, /no backup tier[\s\S]*hindsight tier add/);
    const noCredentials = await alpha.cli(['tier', 'add', 'cloud', 's3://bucket/prefix']);
    assert.notEqual(noCredentials.code, 0);
    assert.match(noCredentials.stderr, /needs a credentials file[\s\S]*--credentials FILE/);
    const scheme = await alpha.cli(['tier', 'add', 'tape', 'ftp://nas/backups']);
    assert.notEqual(scheme.code, 0);
    assert.match(scheme.stderr, /not supported[\s\S]*file:\/\/.*sftp:\/\/.*s3:\/\//);
    const absent = await alpha.cli(['tier', 'add', 'nas', `file://${cluster.dir('not-mounted')}`]);
    assert.notEqual(absent.code, 0);
    assert.match(absent.stderr, /mount the share first/);
  });
});
