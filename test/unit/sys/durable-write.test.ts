import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type FileOps, isStagingName, NODE_FILE_OPS, writeFileDurable } from '../../../src/sys/index.ts';

describe('writeFileDurable', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-durable-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const failing = (override: Partial<FileOps>): FileOps => ({ ...NODE_FILE_OPS, ...override });
  const unlinkFails = async () => {
    throw new Error('unlink failed');
  };

  it('throws the rename error, not the failed cleanup after it', async () => {
    const target = path.join(tmp, 'config.json');
    fs.writeFileSync(target, 'old');
    const ops = failing({
      rename: async () => {
        throw new Error('rename failed');
      },
      unlink: unlinkFails,
    });
    await assert.rejects(writeFileDurable(target, 'new', 0o600, ops), /rename failed/);
    assert.equal(fs.readFileSync(target, 'utf8'), 'old');
  });

  it('throws the fsync error, not the failed cleanup after it', async () => {
    const target = path.join(tmp, 'config.json');
    const ops = failing({
      fsync: async () => {
        throw new Error('fsync failed');
      },
      unlink: unlinkFails,
    });
    await assert.rejects(writeFileDurable(target, 'new', 0o600, ops), /fsync failed/);
    assert.equal(fs.existsSync(target), false);
  });

  it('removes the staging file when the rename fails', async () => {
    const target = path.join(tmp, 'config.json');
    const ops = failing({
      rename: async () => {
        throw new Error('rename failed');
      },
    });
    await assert.rejects(writeFileDurable(target, 'new', 0o600, ops), /rename failed/);
    assert.deepEqual(fs.readdirSync(tmp).filter(isStagingName), []);
  });
});
