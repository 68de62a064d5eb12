/**
 * The `s3://` tier against a real S3-compatible server (s3rver, test/harness/s3-server.ts): the
 * behaviours of the `file://` tier's tests, then what is S3's own: a server that is down and
 * back, a missing marker, refused keys, a missing bucket, and a repository written and restored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { RepoKey, Repository } from '../../../src/backup/index.ts';
import { readS3Credentials, S3Tier } from '../../../src/backup/s3-tier.ts';
import type { Change } from '../../../src/core/index.ts';
import { ingestFile, openCatalog, PackStore } from '../../../src/store/index.ts';
import { needPrerequisite } from '../../harness/prerequisite.ts';
import { S3RVER_CREDENTIALS, S3Server, s3rverMissing } from '../../harness/s3-server.ts';
import { treeHash } from '../../harness/tree-hash.ts';

type Entry = Pick<Change, 'path' | 'kind' | 'mode' | 'mtimeMs' | 'size' | 'target' | 'chunks'>;

const code = (expected: string) => (err: Error & { code?: string }) => err.code === expected;
/** FAST keeps a refused connection from costing the default attempts' back-off. */
const FAST = { maxAttempts: 2 };

describe('S3Tier', () => {
  let server: S3Server | undefined;
  let raw: S3Client;
  let next = 0;
  const tiers: S3Tier[] = [];

  before(async () => {
    if (s3rverMissing()) return;
    server = await S3Server.launch({ buckets: ['backups'] });
    raw = new S3Client({
      endpoint: server.endpoint,
      region: 'eu-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
  });
  after(async () => {
    for (const tier of tiers) tier.close();
    raw?.destroy();
    await server?.close();
  });

  /** place is a new prefix of the bucket for one test, as a tier URL. */
  const place = (bucket = 'backups') =>
    `s3://${bucket}/t${next++}/repo?endpoint=${server!.endpoint}&region=eu-1`;
  const track = (tier: S3Tier) => {
    tiers.push(tier);
    return tier;
  };
  const create = async (url: string, id = 'tier-1') =>
    track(await S3Tier.create(url, id, S3RVER_CREDENTIALS, FAST));
  const ready = (t: TestContext) => needPrerequisite(t, s3rverMissing());

  it('stores, reads, lists and deletes objects, whole and by range', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place());
    await tier.put('packs/ab/abcdef', Buffer.from('0123456789'));
    await tier.put('index/ab', Buffer.from('i'));
    assert.deepEqual(await tier.get('packs/ab/abcdef'), Buffer.from('0123456789'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 3, length: 4 }), Buffer.from('3456'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 8, length: 4 }), Buffer.from('89'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 3, length: 0 }), Buffer.alloc(0));
    assert.deepEqual(
      await tier.get('packs/ab/abcdef', { offset: 20, length: 4 }),
      Buffer.alloc(0),
      'as past a file’s end',
    );
    assert.ok(await tier.exists('index/ab'));
    assert.ok(!(await tier.exists('index/cd')));
    const names: string[] = [];
    for await (const n of tier.list('')) names.push(n);
    assert.deepEqual(names.sort(), ['index/ab', 'packs/ab/abcdef'], 'the marker is not listed');
    await tier.delete('index/ab');
    await tier.delete('index/ab');
    await assert.rejects(tier.get('index/ab'), code('E_TIER_MISSING'));
    await assert.rejects(tier.get('index/ab', { offset: 0, length: 0 }), code('E_TIER_MISSING'));
  });

  it('lists page by page, by prefix', async (t) => {
    if (!ready(t)) return;
    const url = place();
    await create(url);
    const tier = track(new S3Tier(url, 'tier-1', S3RVER_CREDENTIALS, { ...FAST, listPageSize: 2 }));
    const written = ['index/01', 'index/02', 'index/03', 'index/04', 'index/05', 'snapshots/01'];
    for (const name of written) await tier.put(name, Buffer.from(name));
    const names: string[] = [];
    for await (const n of tier.list('index/')) names.push(n);
    assert.deepEqual(names.sort(), written.slice(0, 5));
  });

  it('never overwrites an object, though the server would', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place());
    await tier.put('snapshots/01', Buffer.from('first'));
    await tier.put('snapshots/01', Buffer.from('second'));
    assert.deepEqual(await tier.get('snapshots/01'), Buffer.from('first'));
  });

  it('refuses object names that could leave the repository', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place());
    for (const name of ['../escape', '/abs', 'a/../../b', 'A', 'a//b', '', '.hindsight-tier']) {
      await assert.rejects(tier.put(name, Buffer.from('x')), code('E_TIER_NAME'), name);
      await assert.rejects(tier.get(name), code('E_TIER_NAME'), name);
      await assert.rejects(tier.delete(name), code('E_TIER_NAME'), name);
    }
  });

  it('is offline while the server is down, and works again when it is back', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place());
    await tier.put('index/01', Buffer.from('before'));
    await server!.stop();
    try {
      await assert.rejects(tier.check(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_TIER_OFFLINE');
        assert.match(err.message, /cannot reach http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/);
        return true;
      });
      await assert.rejects(tier.get('index/01'), code('E_TIER_OFFLINE'));
      await assert.rejects(tier.put('index/02', Buffer.from('x')), code('E_TIER_OFFLINE'));
      await assert.rejects(tier.exists('index/01'), code('E_TIER_OFFLINE'));
      await assert.rejects(tier.delete('index/01'), code('E_TIER_OFFLINE'));
      await assert.rejects(async () => {
        for await (const _ of tier.list('')) assert.fail('nothing is listed');
      }, code('E_TIER_OFFLINE'));
    } finally {
      await server!.start();
    }
    await tier.check();
    assert.deepEqual(await tier.get('index/01'), Buffer.from('before'));
    await tier.put('index/02', Buffer.from('after'));
    assert.deepEqual(await tier.get('index/02'), Buffer.from('after'));
  });

  it('is offline, and writes nothing, when its marker is gone', async (t) => {
    if (!ready(t)) return;
    const url = place();
    const tier = await create(url);
    const prefix = new URL(url).pathname.slice(1);
    await raw.send(new DeleteObjectCommand({ Bucket: 'backups', Key: `${prefix}/.hindsight-tier` }));
    await assert.rejects(tier.check(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_TIER_OFFLINE');
      assert.match(err.message, /marker .*\.hindsight-tier is missing/);
      return true;
    });
    // A tier that failed its check reads the marker again before the next write.
    await assert.rejects(tier.put('index/ab', Buffer.from('x')), code('E_TIER_OFFLINE'));
    const fresh = track(new S3Tier(url, 'tier-1', S3RVER_CREDENTIALS, FAST));
    await assert.rejects(fresh.put('index/ab', Buffer.from('x')), code('E_TIER_OFFLINE'));
    const other = track(new S3Tier(place(), 'tier-1', S3RVER_CREDENTIALS, FAST));
    await assert.rejects(other.exists('index/ab'), code('E_TIER_OFFLINE'));
    await raw.send(
      new PutObjectCommand({ Bucket: 'backups', Key: `${prefix}/.hindsight-tier`, Body: 'tier-2\n' }),
    );
    await assert.rejects(tier.check(), /names another tier \(tier-2\)/);
  });

  it('is offline, access denied, with keys the server does not know', async (t) => {
    if (!ready(t)) return;
    const url = place();
    await create(url);
    // s3rver checks the access key id only, not the signature: a wrong secret would pass.
    const stranger = track(
      new S3Tier(url, 'tier-1', { accessKeyId: 'NOBODY', secretAccessKey: 'nothing' }, FAST),
    );
    await assert.rejects(stranger.check(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_TIER_OFFLINE');
      assert.match(err.message, /access denied \(InvalidAccessKeyId, HTTP 403\)/);
      return true;
    });
  });

  it('refuses a missing bucket, a prefix in use, and another tier’s, with what to do', async (t) => {
    if (!ready(t)) return;
    await assert.rejects(
      S3Tier.create(place('absent'), 't', S3RVER_CREDENTIALS, FAST),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'E_TIER_SETUP');
        assert.match(err.message, /bucket absent does not exist/);
        assert.match(err.hint ?? '', /create the bucket first/);
        return true;
      },
    );
    const used = place();
    const prefix = new URL(used).pathname.slice(1);
    await raw.send(new PutObjectCommand({ Bucket: 'backups', Key: `${prefix}/notes.txt`, Body: 'mine' }));
    await assert.rejects(S3Tier.create(used, 't', S3RVER_CREDENTIALS, FAST), code('E_TIER_SETUP'));
    const url = place();
    await create(url, 'tier-a');
    await create(url, 'tier-a');
    await assert.rejects(S3Tier.create(url, 'tier-b', S3RVER_CREDENTIALS, FAST), code('E_TIER_FOREIGN'));
  });

  it('refuses URLs with keys in them or without a bucket, and shows them without secrets', (t) => {
    if (!ready(t)) return;
    const make = (url: string) => new S3Tier(url, 't', S3RVER_CREDENTIALS, FAST);
    for (const url of [
      's3://KEY:secret@backups/p',
      's3:///p',
      's3://backups/p?endpoint=ftp://host',
      's3://backups/a//b',
      's3://backups/p?endpont=https://host',
    ]) {
      assert.throws(() => make(url), code('E_TIER_URL'), url);
    }
    const tier = track(make('s3://backups/site/repo/?endpoint=https://s3.example:9000&region=eu-1'));
    assert.equal(tier.url, 's3://backups/site/repo?endpoint=https://s3.example:9000&region=eu-1');
  });

  it('reads its keys from a credentials file, and names what is missing', async (t) => {
    if (!ready(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'hs-s3-creds-'));
    try {
      const file = join(dir, 'credentials');
      const read = (text: string) => {
        writeFileSync(file, text);
        return readS3Credentials(file);
      };
      assert.deepEqual(
        await read('# backup account\nAWS_ACCESS_KEY_ID=AKIA1\n\nAWS_SECRET_ACCESS_KEY = s3cr=t\n'),
        {
          accessKeyId: 'AKIA1',
          secretAccessKey: 's3cr=t',
        },
      );
      assert.deepEqual(await read('AWS_ACCESS_KEY_ID=a\nAWS_SECRET_ACCESS_KEY=b\nAWS_SESSION_TOKEN=c'), {
        accessKeyId: 'a',
        secretAccessKey: 'b',
        sessionToken: 'c',
      });
      const refused = (text: string, message: RegExp) =>
        assert.rejects(read(text), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'E_TIER_CREDENTIALS');
          assert.match(err.message, message);
          assert.doesNotMatch(err.message, /hunter2/, 'a secret is never shown');
          return true;
        });
      await refused('AWS_ACCESS_KEY_ID=a\n', /credentials has no AWS_SECRET_ACCESS_KEY/);
      await refused('AWS_SECRET_ACCESS_KEY=hunter2\n', /credentials has no AWS_ACCESS_KEY_ID/);
      await refused('AWS_ACCESS_KEY_ID=a\nhunter2\n', /credentials line 2 is not KEY=VALUE/);
      await refused('AWS_ACCESS_KEY_ID=a\nAWS_ACCESS_KEY_ID=hunter2\n', /sets AWS_ACCESS_KEY_ID twice/);
      await assert.rejects(readS3Credentials(join(dir, 'absent')), code('E_TIER_CREDENTIALS'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds a repository: backed up from a chunk store, restored the same', async (t) => {
    if (!ready(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'hs-s3-repo-'));
    const catalog = openCatalog(join(dir, 'catalog.db'));
    const store = new PackStore({ dir: join(dir, 'packs'), catalog });
    try {
      const src = join(dir, 'src');
      mkdirSync(join(src, 'docs'), { recursive: true });
      writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n');
      writeFileSync(join(src, 'docs', 'big.bin'), randomBytes(2 * 1024 * 1024), { mode: 0o640 });
      // The timeline state capture would have made of the tree, its files in the chunk store.
      const entries: Entry[] = [];
      for (const path of ['docs', 'docs/a.txt', 'docs/big.bin']) {
        const st = lstatSync(join(src, path));
        const base = { path, mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), target: null };
        if (st.isDirectory()) {
          entries.push({ ...base, kind: 'mkdir', size: 0, chunks: null });
        } else {
          const { size, chunks } = await ingestFile(join(src, path), store);
          entries.push({ ...base, kind: 'put', size, chunks });
        }
      }
      await store.sync();

      const url = place();
      const key = RepoKey.generate();
      const repo = await Repository.init(await create(url), key, 'cluster-ca');
      const { snapshot, totals } = await repo.backup({
        volume: 'docs',
        seq: 7,
        at: 1_700_000_000_000,
        node: 'beta',
        takenAt: 1_700_000_000_000,
        entries,
        readStored: (address) => store.readStored(address),
      });
      assert.ok(totals.newChunks > 1);

      // Read back through another tier object, as a restore on a bare machine would.
      const reader = track(new S3Tier(url, '*', S3RVER_CREDENTIALS, FAST));
      const reopened = await Repository.open(reader, RepoKey.fromKeyFile(key.toKeyFile()));
      const [listed] = await reopened.snapshots();
      assert.equal(listed.id, snapshot.id);
      const into = join(dir, 'restored');
      await reopened.restore(snapshot.id, into);
      assert.equal(await treeHash(into), await treeHash(src));
    } finally {
      await store.close();
      catalog.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
