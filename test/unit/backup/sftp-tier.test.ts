/**
 * The `sftp://` tier against a real OpenSSH sshd (test/harness/sshd.ts): the behaviours of the
 * `file://` tier's tests, then what is SFTP's own: the pinned host key, a server that is down and
 * back, a missing marker, a refused key, an append-only account that may not delete or rename,
 * and a repository written and restored through each account.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { RepoKey, Repository, TIER_MARKER } from '../../../src/backup/index.ts';
import { SftpTier, type SftpTierOptions } from '../../../src/backup/sftp-tier.ts';
import type { Change } from '../../../src/core/index.ts';
import { ingestFile, openCatalog, PackStore } from '../../../src/store/index.ts';
import { SystemClock } from '../../../src/sys/index.ts';
import { needPrerequisite } from '../../harness/prerequisite.ts';
import { type SshAccount, Sshd, sshdMissing } from '../../harness/sshd.ts';
import { treeHash } from '../../harness/tree-hash.ts';

type Entry = Pick<Change, 'path' | 'kind' | 'mode' | 'mtimeMs' | 'size' | 'target' | 'chunks'>;

const code = (expected: string) => (err: Error & { code?: string }) => err.code === expected;
/** FAST keeps a refused connection from costing the default attempts' back-off. */
const FAST = { attempts: 2 };

describe('SftpTier', () => {
  let server: Sshd | undefined;
  let next = 0;
  const tiers: SftpTier[] = [];

  before(async () => {
    if (!sshdMissing()) server = await Sshd.launch();
  });
  after(async () => {
    for (const tier of tiers) tier.close();
    await server?.dispose();
  });

  const ready = (t: TestContext) => needPrerequisite(t, sshdMissing());
  /** place is a new directory on the server for one test: its path here, and its tier URL. */
  const place = () => {
    const root = join(server!.dir, `t${next++}`, 'repo');
    return { root, url: `sftp://${server!.normal.user}@${server!.host}:${server!.port}${root}` };
  };
  const login = (account: SshAccount = server!.normal): SftpTierOptions => ({
    identity: account.identity,
    hostKey: server!.hostKey,
    clock: new SystemClock(),
    ...FAST,
  });
  const track = (tier: SftpTier) => {
    tiers.push(tier);
    return tier;
  };
  const create = async (url: string, id = 'tier-1', account?: SshAccount) =>
    track(await SftpTier.create(url, id, login(account)));
  const open = (url: string, account?: SshAccount, id = 'tier-1') =>
    track(new SftpTier(url, id, login(account)));
  const listAll = async (tier: SftpTier, prefix: string) => {
    const names: string[] = [];
    for await (const n of tier.list(prefix)) names.push(n);
    return names.sort();
  };
  /** leftovers are the dot files besides the marker under `root`: staging files, probes. */
  const leftovers = (root: string) =>
    (readdirSync(root, { recursive: true }) as string[]).filter(
      (p) => p.split('/').some((part) => part.startsWith('.')) && p !== TIER_MARKER,
    );

  it('stores, reads, lists and deletes objects, and by range', async (t) => {
    if (!ready(t)) return;
    const { root, url } = place();
    const tier = await create(url);
    await tier.put('packs/ab/abcdef', Buffer.from('0123456789'));
    await tier.put('packs/cd/cdef01', Buffer.from('c'));
    await tier.put('index/ab', Buffer.from('i'));
    await tier.put('empty', Buffer.alloc(0));
    assert.deepEqual(await tier.get('packs/ab/abcdef'), Buffer.from('0123456789'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 3, length: 4 }), Buffer.from('3456'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 8, length: 4 }), Buffer.from('89'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 3, length: 0 }), Buffer.alloc(0));
    assert.deepEqual(await tier.get('empty'), Buffer.alloc(0));
    assert.ok(await tier.exists('index/ab'));
    assert.ok(!(await tier.exists('index/cd')));
    assert.deepEqual(
      await listAll(tier, ''),
      ['empty', 'index/ab', 'packs/ab/abcdef', 'packs/cd/cdef01'],
      'the marker is not listed',
    );
    assert.deepEqual(await listAll(tier, 'packs/'), ['packs/ab/abcdef', 'packs/cd/cdef01']);
    assert.deepEqual(await listAll(tier, 'packs/a'), ['packs/ab/abcdef']);
    assert.deepEqual(await listAll(tier, 'snapshots/'), []);
    await tier.delete('index/ab');
    await tier.delete('index/ab');
    await assert.rejects(tier.get('index/ab'), code('E_TIER_MISSING'));
    await assert.rejects(tier.get('index/ab', { offset: 0, length: 0 }), code('E_TIER_MISSING'));
    assert.deepEqual(readdirSync(join(root, 'packs', 'ab')), ['abcdef']);
    assert.deepEqual(leftovers(root), [], 'no staging file is left');
  });

  it('never overwrites an object: OpenSSH’s rename refuses an existing name', async (t) => {
    if (!ready(t)) return;
    const { root, url } = place();
    const tier = await create(url);
    await tier.put('snapshots/01', Buffer.from('first'));
    await tier.put('snapshots/01', Buffer.from('second, longer'));
    assert.deepEqual(await tier.get('snapshots/01'), Buffer.from('first'));
    assert.deepEqual(leftovers(root), [], 'the refused staging file is removed');
  });

  it('refuses object names that could leave the repository', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place().url);
    for (const name of ['../escape', '/abs', 'a/../../b', 'A', 'a//b', '', '.hindsight-tier']) {
      await assert.rejects(tier.put(name, Buffer.from('x')), code('E_TIER_NAME'), name);
      await assert.rejects(tier.get(name), code('E_TIER_NAME'), name);
      await assert.rejects(tier.delete(name), code('E_TIER_NAME'), name);
    }
  });

  it('with the append-only key: stores, reads and lists, but deletes nothing', async (t) => {
    if (!ready(t)) return;
    const { root, url } = place();
    const tier = await create(url, 'tier-1', server!.appendOnly);
    await tier.put('packs/ab/abcdef', Buffer.from('0123456789'));
    await tier.put('index/ab', Buffer.from('i'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 3, length: 4 }), Buffer.from('3456'));
    assert.ok(await tier.exists('index/ab'));
    assert.deepEqual(await listAll(tier, ''), ['index/ab', 'packs/ab/abcdef']);
    await assert.rejects(tier.delete('index/ab'), (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, 'E_TIER_READ_ONLY');
      assert.match(err.hint ?? '', /prune needs separate credentials/);
      return true;
    });
    assert.deepEqual(await tier.get('index/ab'), Buffer.from('i'), 'the object is still there');
    assert.deepEqual(leftovers(root), [], 'no staging file the account could not remove');

    // Never overwritten either. A direct write cut short leaves a short object; one of another
    // size is taken for that, never for stored.
    await tier.put('index/ab', Buffer.from('j'));
    assert.deepEqual(await tier.get('index/ab'), Buffer.from('i'));
    writeFileSync(join(root, 'index', 'cd'), '01234');
    await assert.rejects(tier.put('index/cd', Buffer.from('0123456789')), code('E_TIER_TORN'));
    assert.equal(readFileSync(join(root, 'index', 'cd'), 'utf8'), '01234');
  });

  it('refuses a server whose host key is not the pinned one, and learns it on first contact', async (t) => {
    if (!ready(t)) return;
    const { root, url } = place();
    assert.equal(await SftpTier.probeHostKey(server!.host, server!.port), server!.hostKey);
    const impostor = track(
      new SftpTier(url, 'tier-1', {
        ...login(),
        hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      }),
    );
    await assert.rejects(impostor.check(), (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, 'E_TIER_UNTRUSTED');
      assert.ok(err.message.includes(server!.hostKey), 'the key presented is named');
      assert.match(err.hint ?? '', /ssh-keygen -lf/);
      return true;
    });
    await assert.rejects(
      SftpTier.create(url, 'tier-1', { ...login(), hostKey: 'SHA256:x' }),
      code('E_TIER_UNTRUSTED'),
    );
    assert.ok(!existsSync(root), 'nothing was made');
  });

  it('is offline, with why, when the server refuses the key', async (t) => {
    if (!ready(t)) return;
    const { url } = place();
    await create(url);
    // The server's own host key is a key it does not let in.
    const stranger = track(
      new SftpTier(url, 'tier-1', { ...login(), identity: join(server!.dir, 'host_ed25519') }),
    );
    await assert.rejects(stranger.check(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_TIER_OFFLINE');
      assert.match(err.message, /refused the key .*host_ed25519/);
      return true;
    });
    const keyless = track(new SftpTier(url, 'tier-1', { ...login(), identity: join(server!.dir, 'absent') }));
    await assert.rejects(keyless.check(), /cannot read its key file/);
  });

  it('is offline while the server is down, and works again when it is back', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place().url);
    await tier.put('index/01', Buffer.from('before'));
    await server!.stop();
    try {
      await assert.rejects(tier.check(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_TIER_OFFLINE');
        assert.match(err.message, /connection was refused/);
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

  it('connects again, unseen, when its connection drops', async (t) => {
    if (!ready(t)) return;
    const tier = await create(place().url);
    await tier.put('index/01', Buffer.from('one'));
    for (const op of [
      () => tier.get('index/01'),
      () => tier.put('index/02', Buffer.from('two')),
      () => tier.exists('index/02'),
      () => listAll(tier, 'index/'),
    ]) {
      assert.ok((await server!.dropSessions()) > 0, 'a session was there to drop');
      await op();
    }
    assert.deepEqual(await listAll(tier, ''), ['index/01', 'index/02']);
    assert.deepEqual(await tier.get('index/02'), Buffer.from('two'));
  });

  it('is offline, and writes nothing, when its directory was emptied', async (t) => {
    if (!ready(t)) return;
    const { root, url } = place();
    const tier = await create(url);
    await tier.put('index/01', Buffer.from('x'));
    rmSync(root, { recursive: true });
    mkdirSync(root);
    await assert.rejects(tier.check(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_TIER_OFFLINE');
      assert.match(err.message, /marker \.hindsight-tier is missing/);
      return true;
    });
    await assert.rejects(tier.put('index/ab', Buffer.from('x')), code('E_TIER_OFFLINE'));
    await assert.rejects(tier.get('index/01'), code('E_TIER_OFFLINE'), 'offline, not missing');
    await assert.rejects(tier.exists('index/01'), code('E_TIER_OFFLINE'));
    assert.deepEqual(readdirSync(root), []);
    writeFileSync(join(root, TIER_MARKER), 'tier-2\n');
    await assert.rejects(tier.check(), /names another tier \(tier-2\)/);
  });

  it('makes a missing directory; refuses a non-empty one and another tier’s', async (t) => {
    if (!ready(t)) return;
    const { root, url } = place();
    await create(url);
    assert.equal(readFileSync(join(root, TIER_MARKER), 'utf8'), 'tier-1\n');
    await create(url);
    await assert.rejects(SftpTier.create(url, 'tier-2', login()), code('E_TIER_FOREIGN'));
    const used = place();
    mkdirSync(used.root, { recursive: true });
    writeFileSync(join(used.root, 'notes.txt'), 'mine');
    await assert.rejects(SftpTier.create(used.url, 't', login()), code('E_TIER_SETUP'));
    await assert.rejects(
      SftpTier.create(`${used.url}/notes.txt/repo`, 't', login()),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'E_TIER_SETUP');
        assert.match(err.hint ?? '', /must exist, or the account must be allowed to create it/);
        return true;
      },
    );
  });

  it('refuses URLs with a password or without a user or a directory', (t) => {
    if (!ready(t)) return;
    const make = (url: string) => new SftpTier(url, 't', login());
    for (const url of [
      'sftp://u:secret@host/srv',
      'sftp://host/srv',
      'sftp://u@host',
      'sftp://u@host/',
      'ftp://u@h/x',
    ]) {
      assert.throws(() => make(url), code('E_TIER_URL'), url);
    }
    assert.equal(make('sftp://backup@nas.example:2222/srv/hs/').url, 'sftp://backup@nas.example:2222/srv/hs');
  });

  for (const which of ['normal', 'appendOnly'] as const) {
    it(`holds a repository with the ${which} key: backed up from a chunk store, restored the same`, async (t) => {
      if (!ready(t)) return;
      const dir = mkdtempSync(join(tmpdir(), 'hs-sftp-repo-'));
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

        const { root, url } = place();
        const account = server![which];
        const key = RepoKey.generate();
        const repo = await Repository.init(await create(url, 'tier-1', account), key, 'cluster-ca');
        const backup = () =>
          repo.backup({
            volume: 'docs',
            seq: 7,
            at: 1_700_000_000_000,
            node: 'beta',
            takenAt: 1_700_000_000_000,
            entries,
            readStored: (address) => store.readStored(address),
          });
        const { snapshot, totals } = await backup();
        assert.ok(totals.newChunks > 1);
        assert.equal((await backup()).totals.newChunks, 0, 'the second backup finds every chunk stored');

        // Read back through another tier object, as a restore on a bare machine would.
        const reopened = await Repository.open(open(url, account, '*'), RepoKey.fromKeyFile(key.toKeyFile()));
        const listed = await reopened.snapshots();
        assert.ok(listed.some((s) => s.id === snapshot.id));
        const into = join(dir, 'restored');
        await reopened.restore(snapshot.id, into);
        assert.equal(await treeHash(into), await treeHash(src));
        assert.deepEqual(leftovers(root), []);
      } finally {
        await store.close();
        catalog.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
