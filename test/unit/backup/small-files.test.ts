/**
 * SmallFileWriter, the restore's writer of small files on worker threads: every file lands whole
 * with its mode and time, across many batches; a file that cannot be created fails the writer
 * with an error that names it, and `close` returns only once no write is under way.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SmallFileWriter } from '../../../src/backup/small-files.ts';

describe('SmallFileWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hs-small-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every file whole, with its mode and time, across many batches', async () => {
    const writer = new SmallFileWriter();
    const want = new Map<string, Buffer>();
    for (let i = 0; i < 1_000; i++) {
      const name = `f${i}`;
      // Some files in several parts, some empty, the parts reused by the caller afterwards.
      const body = randomBytes(i % 7 === 0 ? 0 : 1 + ((i * 7919) % 9000));
      const parts = [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)];
      await writer.add(join(dir, name), i % 2 === 0 ? 0o640 : 0o600, 1_700_000_000_000 + i * 1000, parts);
      want.set(name, Buffer.from(body));
      parts[0].fill(0);
    }
    await writer.close();
    assert.equal(readdirSync(dir).length, 1_000);
    for (const [name, body] of want) {
      assert.deepEqual(readFileSync(join(dir, name)), body, name);
      const i = Number(name.slice(1));
      const st = lstatSync(join(dir, name));
      assert.equal(st.mode & 0o777, i % 2 === 0 ? 0o640 : 0o600, name);
      assert.equal(st.mtimeMs, 1_700_000_000_000 + i * 1000, name);
    }
  });

  it('fails naming the file it could not create, and writes nothing after close', async () => {
    mkdirSync(join(dir, 'ok'));
    const writer = new SmallFileWriter();
    const missing = join(dir, 'no-such-dir', 'lost.txt');
    let failure: unknown;
    try {
      for (let i = 0; i < 300; i++) {
        const path = i === 150 ? missing : join(dir, 'ok', `f${i}`);
        await writer.add(path, 0o644, Date.now(), [Buffer.from(`file ${i}\n`)]);
      }
      await writer.close();
    } catch (err) {
      failure = err;
      await writer.close().catch(() => {});
    }
    assert.ok(failure instanceof Error, 'the failure is thrown');
    assert.match(failure.message, /no-such-dir\/lost\.txt/);
    assert.equal((failure as NodeJS.ErrnoException).code, 'ENOENT');
    const written = readdirSync(join(dir, 'ok')).length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(readdirSync(join(dir, 'ok')).length, written, 'no file lands after close returned');
  });
});
