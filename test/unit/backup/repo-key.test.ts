import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { RepoKey } from '../../../src/backup/index.ts';

describe('RepoKey', () => {
  it('survives its key file, and refuses a file that is not one with a hint', () => {
    const key = RepoKey.generate();
    const again = RepoKey.fromKeyFile(key.toKeyFile());
    assert.equal(again.chunkId(Buffer.alloc(32, 7)), key.chunkId(Buffer.alloc(32, 7)));
    for (const text of ['', 'hindsight-backup-key-v1 AAAA', '-----BEGIN OPENSSH PRIVATE KEY-----']) {
      assert.throws(
        () => RepoKey.fromKeyFile(text),
        (err: Error & { code?: string; hint?: string }) => {
          assert.equal(err.code, 'E_BACKUP_KEY_FILE');
          assert.match(err.hint ?? '', /backup key export/);
          return true;
        },
      );
    }
  });

  it('names a chunk by a keyed id: the same for one key, unrelated across keys and to the address', () => {
    const a = RepoKey.generate();
    const b = RepoKey.generate();
    const address = randomBytes(32);
    assert.equal(a.chunkId(address), a.chunkId(Buffer.from(address)));
    assert.notEqual(a.chunkId(address), b.chunkId(address));
    assert.notEqual(a.chunkId(address), address.toString('hex'));
    assert.match(a.chunkId(address), /^[0-9a-f]{64}$/);
  });

  it('tells its own key check from another key’s', () => {
    const a = RepoKey.generate();
    const check = a.keyCheck('repo-1');
    assert.ok(a.isKeyOf('repo-1', check));
    assert.ok(!RepoKey.generate().isKeyOf('repo-1', check));
    assert.ok(!a.isKeyOf('repo-2', check));
    assert.ok(!a.isKeyOf('repo-1', 'nonsense'));
  });

  it('seals and opens compressible and random bodies, and the sealed form hides the body', () => {
    const key = RepoKey.generate();
    const text = Buffer.from('the same line again\n'.repeat(1000));
    const noise = randomBytes(10_000);
    const sealedText = key.seal('manifests/aa', text);
    assert.ok(sealedText.length < text.length / 4, 'compressed before encryption');
    assert.ok(!sealedText.includes(Buffer.from('the same line')));
    assert.deepEqual(key.open('manifests/aa', sealedText), text);
    assert.deepEqual(key.open('chunk/x', key.seal('chunk/x', noise)), noise);
    assert.deepEqual(key.open('e', key.seal('e', Buffer.alloc(0))), Buffer.alloc(0));
    assert.notDeepEqual(key.seal('e', text), key.seal('e', text), 'a fresh nonce each time');
  });

  it('refuses a flipped byte, another object’s name, another key and a truncated object', () => {
    const key = RepoKey.generate();
    const sealed = key.seal('snapshots/01', Buffer.from('{"volume":"docs"}'));
    const corrupt = (fn: () => unknown, what: string) =>
      assert.throws(fn, (err: Error & { code?: string }) => err.code === 'E_BACKUP_CORRUPT', what);
    for (let i = 0; i < sealed.length; i += 7) {
      const flipped = Buffer.from(sealed);
      flipped[i] ^= 0x10;
      corrupt(() => key.open('snapshots/01', flipped), `byte ${i} flipped`);
    }
    corrupt(() => key.open('snapshots/02', sealed), 'another name');
    corrupt(() => RepoKey.generate().open('snapshots/01', sealed), 'another key');
    corrupt(() => key.open('snapshots/01', sealed.subarray(0, 20)), 'truncated');
    assert.throws(() => key.open('snapshots/01', sealed.subarray(0, 20)), /snapshots\/01 is damaged/);
  });
});
