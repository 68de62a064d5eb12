/**
 * A mirror seeded with an older copy of the data (say, brought on a disk) transfers only the
 * differences, and ends up identical: files the primary no longer has are removed.
 */
import assert from 'node:assert/strict';
import { cp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { createRng, modifyScattered, seedFromEnv, writeRandomFile } from '../harness/workload.ts';

const MIB = 1024 * 1024;

test('a mirror seeded with an older copy transfers only the differences', { timeout: 300_000 }, async (t) => {
  const rng = createRng(seedFromEnv());
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const src = cluster.dir('src');
    const dst = cluster.dir('dst');
    for (let i = 0; i < 8; i++) await writeRandomFile(path.join(src, 'data', `file-${i}.bin`), 8 * MIB, rng);
    await writeFile(path.join(src, 'gone-later.txt'), 'the primary deletes this after the copy');
    // The copy on the disk that is carried to the mirror site.
    await cp(src, dst, { recursive: true, preserveTimestamps: true });
    // Production moves on before the mirror is connected.
    await rm(path.join(src, 'gone-later.txt'));
    await modifyScattered(path.join(src, 'data', 'file-0.bin'), rng, 0.01);
    await writeRandomFile(path.join(src, 'data', 'new.bin'), 1 * MIB, rng);
    const total = 9 * 8 * MIB;

    await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
    await waitConverged(src, dst, { timeoutMs: 120_000 });
    const sent = (await cluster.node('alpha').status()).volumes[0].mirrors?.[0]?.bytesSent ?? 0;
    t.diagnostic(`bytes sent ${sent} of ${total} (${((100 * sent) / total).toFixed(1)} %)`);
    // New file (1 MiB) + ~1 % of one 8 MiB file in 16 KiB chunks + change lists: far below a full copy.
    assert.ok(sent < 4 * MIB, `sent ${sent} bytes; a full copy would be ${total}`);
    const events = await cluster.node('beta').cliOk(['events', '--json']);
    assert.match(events, /volume\.seeded/);
  });
});
