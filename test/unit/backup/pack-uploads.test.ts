/**
 * PackUploads on a real `file://` tier: packs are written two at a time, each index after its
 * own pack, and only indexed chunks are reported; after a failed write no further pack is begun,
 * and `drain` throws the failure. The failure is injected by a wrapper that passes every other
 * call to the real tier.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileTier, RepoKey } from '../../../src/backup/index.ts';
import { type IndexedChunk, PACK_TARGET_BYTES, PackUploads } from '../../../src/backup/pack-uploads.ts';
import type { Tier } from '../../../src/backup/tier.ts';

describe('PackUploads', () => {
  let dir: string;
  let tier: FileTier;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hs-uploads-'));
    mkdirSync(join(dir, 'tier'));
    tier = await FileTier.create(join(dir, 'tier'), 'tier-1');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** failingOn wraps the real tier: the `n`th pack put fails; every call is logged in order. */
  function failingOn(n: number, log: string[]): Tier {
    let packs = 0;
    return new Proxy(tier, {
      get(target, prop) {
        if (prop !== 'put') {
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (name: string, bytes: Uint8Array) => {
          log.push(`start ${name}`);
          if (name.startsWith('packs/') && ++packs === n) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            log.push(`failed ${name}`);
            throw new Error('the share went away');
          }
          await target.put(name, bytes);
          log.push(`done ${name}`);
        };
      },
    });
  }

  const CHUNK = 256 * 1024;
  const chunksFor = (packs: number) => Math.ceil((packs * PACK_TARGET_BYTES) / CHUNK);

  it('writes each index after its pack, and reports only indexed chunks', async () => {
    const log: string[] = [];
    const indexed: IndexedChunk[] = [];
    const uploads = new PackUploads(failingOn(0, log), RepoKey.generate(), (c) => indexed.push(...c));
    const n = chunksFor(5);
    for (let i = 0; i < n; i++) await uploads.add(`c${i}`, { isZstd: false, data: randomBytes(CHUNK) });
    await uploads.drain();
    assert.equal(indexed.length, n);
    for (const [, pack] of indexed) assert.ok(existsSync(join(dir, 'tier', pack)), pack);
    for (const line of log.filter((l) => l.startsWith('start index/'))) {
      const hash = line.slice('start index/'.length);
      const packDone = log.findIndex((l) => l.startsWith('done packs/') && l.endsWith(hash));
      assert.ok(
        packDone >= 0 && packDone < log.indexOf(line),
        `the pack of ${hash} was written before its index`,
      );
    }
    const starts = log.filter((l) => l.startsWith('start packs/')).length;
    assert.ok(starts >= 5, `${starts} packs`);
  });

  it('begins no pack after a failure, and drain throws it', async () => {
    const log: string[] = [];
    const indexed: IndexedChunk[] = [];
    const uploads = new PackUploads(failingOn(2, log), RepoKey.generate(), (c) => indexed.push(...c));
    await assert.rejects(async () => {
      for (let i = 0; i < chunksFor(8); i++)
        await uploads.add(`c${i}`, { isZstd: false, data: randomBytes(CHUNK) });
      await uploads.drain();
    }, /the share went away/);
    const failedAt = log.findIndex((l) => l.startsWith('failed '));
    assert.ok(failedAt >= 0);
    // A pack already under way finishes and gets its index; no other pack is begun.
    assert.deepEqual(
      log.slice(failedAt).filter((l) => l.startsWith('start packs/')),
      [],
      `no pack was begun after the failure: ${log.join(', ')}`,
    );
    for (const [, pack] of indexed) assert.ok(existsSync(join(dir, 'tier', pack)), `${pack} exists`);
  });
});
