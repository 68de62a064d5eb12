import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CrashFs, isCrash } from '../../harness/crash-fs.ts';
import { createRng } from '../../harness/rng.ts';

const W = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;
const DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;

describe('CrashFs', () => {
  let tmp: string;
  let root: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-crashfs-'));
    root = path.join(tmp, 'root');
    fs.mkdirSync(root);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** outcomes crashes copies of one history under many seeds and counts the distinct results. */
  async function outcomes(
    history: (c: CrashFs) => Promise<void>,
    read: (out: string) => string,
  ): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let s = 0; s < 100; s++) {
      fs.rmSync(root, { recursive: true, force: true });
      fs.mkdirSync(root);
      fs.writeFileSync(path.join(root, 'old'), 'old');
      const crash = new CrashFs(root);
      await history(crash);
      const out = path.join(tmp, `out-${s}`);
      crash.crash(createRng(Math.imul(s + 1, 0x9e3779b9) >>> 0), out);
      const r = read(out);
      seen.set(r, (seen.get(r) ?? 0) + 1);
    }
    return seen;
  }

  const readOr = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'latin1') : '<none>');

  it('keeps what existed, and a file whose data and directory were synced', async () => {
    const seen = await outcomes(
      async (c) => {
        const fd = c.openSync(path.join(root, 'a'), W, 0o600);
        c.writeSync(fd, Buffer.from('hello'), 0, 5, 0);
        await c.fdatasync(fd);
        c.closeSync(fd);
        const d = await c.open(root, DIR);
        await c.fsync(d);
        await c.close(d);
      },
      (out) => `${readOr(path.join(out, 'a'))} ${readOr(path.join(out, 'old'))}`,
    );
    assert.deepEqual([...seen.keys()], ['hello old']);
  });

  it('may lose an unsynced create, and keep its unsynced data or not', async () => {
    const seen = await outcomes(
      async (c) => {
        const fd = c.openSync(path.join(root, 'a'), W, 0o600);
        c.writeSync(fd, Buffer.alloc(2000, 'x'), 0, 2000, 0);
        c.closeSync(fd);
      },
      (out) => {
        const s = readOr(path.join(out, 'a'));
        return s === '<none>' || s === '' ? s : s.replace(/x+/, 'x…').replace(/\0+/, '0…');
      },
    );
    assert.ok(seen.has('<none>'), 'the create can be lost');
    assert.ok(seen.has(''), 'the name can survive without the data');
    assert.ok(seen.has('x…'), 'the data can survive');
  });

  it('tears a write at a sector boundary and keeps a rename only with its directory fsync', async () => {
    const lengths = await outcomes(
      async (c) => {
        const fd = c.openSync(path.join(root, 'a'), W, 0o600);
        c.writeSync(fd, Buffer.alloc(4096, 'x'), 0, 4096, 0);
        c.closeSync(fd);
        const d = await c.open(root, DIR);
        await c.fsync(d);
        await c.close(d);
        await c.rename(path.join(root, 'a'), path.join(root, 'old'));
      },
      (out) => `${fs.readFileSync(path.join(out, 'old')).length}`,
    );
    assert.ok(lengths.has('3'), 'the rename can be lost');
    assert.ok([...lengths.keys()].some((n) => Number(n) > 0 && Number(n) < 4096 && Number(n) % 512 === 0));
  });

  it('crashes after the given number of calls and refuses every call after', async () => {
    const crash = new CrashFs(root);
    crash.crashAfter = 1;
    const fd = crash.openSync(path.join(root, 'a'), W, 0o600);
    assert.throws(() => crash.writeSync(fd, Buffer.from('x'), 0, 1, 0), isCrash);
    await assert.rejects(crash.fsync(fd), isCrash);
    crash.closeSync(fd);
    assert.throws(() => crash.mkdirSync(path.join(root, 'x'), { recursive: true, mode: 0o700 }), isCrash);
  });
});
