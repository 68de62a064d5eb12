import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ApiClient, BinaryAnswer, startApi } from '../../../src/api/index.ts';
import { HindsightError, isHindsightError } from '../../../src/core/index.ts';
import { createLogger } from '../../../src/sys/index.ts';

/** sink collects what a download writes. */
function sink(): { out: Writable; bytes: () => number } {
  let n = 0;
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      n += chunk.length;
      done();
    },
  });
  return { out, bytes: () => n };
}

describe('binary answers', () => {
  let dir: string;
  let close: () => Promise<void>;
  let client: ApiClient;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-api-'));
    const socketPath = path.join(dir, 'api.sock');
    const block = Buffer.alloc(64 * 1024, 1);
    const servers = await startApi(
      [
        {
          method: 'GET',
          path: '/whole',
          handler: () => new BinaryAnswer(4 * block.length, [block, block, block, block]),
        },
        {
          method: 'GET',
          path: '/broken',
          handler: () =>
            new BinaryAnswer(
              4 * block.length,
              (function* () {
                yield block;
                yield block;
                throw new HindsightError('E_CHUNK_MISSING', 'chunk gone');
              })(),
            ),
        },
      ],
      { socketPath },
      createLogger('test', { write: () => {} }),
    );
    close = async () => {
      for (const s of servers) await new Promise((r) => s.close(r));
    };
    client = new ApiClient({ socketPath });
  });
  afterEach(async () => {
    await close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('streams a whole answer', async () => {
    const s = sink();
    await client.download('/whole', s.out);
    assert.equal(s.bytes(), 4 * 64 * 1024);
  });

  it('fails a download that breaks midway instead of passing off a short file', async () => {
    const s = sink();
    await assert.rejects(client.download('/broken', s.out), (e) => isHindsightError(e, 'E_API_ANSWER_CUT'));
    assert.ok(s.bytes() < 4 * 64 * 1024);
  });
});
