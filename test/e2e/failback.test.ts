/**
 * Promotion and failback with real agents: the primary dies, the mirror is promoted, and when
 * the old primary comes back it rejoins as a mirror of the new one. What only the old primary
 * had is quarantined (listed, exportable), never lost, and the old primary converges to the new
 * primary's tree with about the differences on the wire.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Cluster, waitConverged, withCluster } from '../harness/cluster.ts';
import { bytesSentTo, findVolume } from '../harness/status-json.ts';
import { waitFor } from '../harness/wait.ts';

const FILES = 40;
const FILE_BYTES = 256 * 1024;

/** mirrored makes 40 random files of 256 KiB on alpha, adds volume docs (alpha → beta) and waits for the copy. */
async function mirrored(cluster: Cluster): Promise<{ src: string; dst: string }> {
  const src = cluster.dir('src');
  const dst = cluster.dir('dst');
  mkdirSync(path.join(src, 'docs'), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(path.join(src, 'docs', `f${i}.bin`), randomBytes(FILE_BYTES));
  await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
  await waitConverged(src, dst, { timeoutMs: 120_000 });
  return { src, dst };
}

interface QuarantineEntry {
  origin: string;
  path: string;
  kind: string;
  epoch: number;
}

test('promote after the primary dies; the old primary rejoins as a mirror, its divergence quarantined', {
  timeout: 300_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const { src, dst } = await mirrored(cluster);

    // A promotion is refused while the primary is connected.
    const refused = await beta.cli(['promote', 'docs']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /E_PROMOTE_PRIMARY_UP/);

    await alpha.kill('SIGKILL');
    // What only alpha will have: edits made while its agent was down, captured when it restarts.
    const onlyAlpha = {
      'docs/f1.bin': randomBytes(FILE_BYTES),
      'alpha-only.txt': Buffer.from('alpha alone\n'),
    };
    for (const [rel, data] of Object.entries(onlyAlpha)) writeFileSync(path.join(src, rel), data);

    const promoted = JSON.parse(await beta.cliOk(['promote', 'docs', '--json'])) as {
      epoch: number;
      seq: number;
    };
    assert.equal(promoted.epoch, 2);
    const bs = await beta.status();
    assert.equal(findVolume(bs, 'docs', 'primary')?.epoch, 2, 'beta is the primary at epoch 2');

    // The new primary's own changes, which alpha must receive.
    writeFileSync(path.join(dst, 'beta-new.txt'), 'written on beta after the failover\n');
    writeFileSync(path.join(dst, 'docs', 'f2.bin'), randomBytes(FILE_BYTES));
    await waitFor(async () => ((await beta.status()).volumes[0]?.lastSeq ?? 0) > promoted.seq, {
      timeoutMs: 30_000,
      what: 'beta captured its own changes',
    });

    await alpha.startAgent();
    await waitFor(async () => findVolume(await alpha.status(), 'docs', 'mirror')?.epoch === 2, {
      timeoutMs: 60_000,
      what: 'alpha rejoined as a mirror at epoch 2',
    });
    await waitConverged(dst, src, { timeoutMs: 120_000 });

    const { quarantine } = JSON.parse(await alpha.cliOk(['divergence', 'docs', '--json'])) as {
      quarantine: QuarantineEntry[];
    };
    assert.deepEqual(
      quarantine.map((q) => [q.origin, q.path, q.kind]).sort(),
      [
        ['divergence', 'alpha-only.txt', 'put'],
        ['divergence', 'docs/f1.bin', 'put'],
      ],
      'exactly what only alpha had',
    );
    const exported = cluster.dir('exported');
    await alpha.cliOk(['divergence', 'docs', '--export', exported]);
    for (const [rel, data] of Object.entries(onlyAlpha)) {
      assert.deepEqual(readFileSync(path.join(exported, rel)), data, `${rel} exported as alpha had it`);
    }

    // Converged by delta: alpha had every chunk but beta's two new files and f1's old content.
    const sent = bytesSentTo(await beta.status(), 'docs', 'alpha');
    t.diagnostic(`bytes beta → alpha: ${sent} for a volume of ${FILES * FILE_BYTES}`);
    assert.ok(sent < (FILES * FILE_BYTES) / 4, `${sent} bytes sent: about the differences, not the volume`);

    // Replication goes on in the new direction.
    writeFileSync(path.join(dst, 'later.txt'), 'after the failback\n');
    await waitConverged(dst, src, { timeoutMs: 60_000 });
  });
});

test('promote --at T: the view moves to T and the changes received after it are quarantined', {
  timeout: 180_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const { src, dst } = await mirrored(cluster);
    await new Promise((r) => setTimeout(r, 1500));
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(path.join(src, 'late.txt'), 'written after T\n');
    await waitConverged(src, dst, { timeoutMs: 60_000 });
    await alpha.stop();

    const promoted = JSON.parse(await beta.cliOk(['promote', 'docs', '--at', String(t1), '--json'])) as {
      quarantined: number;
    };
    assert.equal(promoted.quarantined, 1);
    assert.equal(readFileSync(path.join(dst, 'docs', 'f0.bin')).length, FILE_BYTES);
    assert.throws(() => readFileSync(path.join(dst, 'late.txt')), /ENOENT/, 'the view shows T');
    const { quarantine } = JSON.parse(await beta.cliOk(['divergence', 'docs', '--json'])) as {
      quarantine: QuarantineEntry[];
    };
    assert.deepEqual(
      quarantine.map((q) => [q.origin, q.path]),
      [['after-promote', 'late.txt']],
    );
    const exported = cluster.dir('exported');
    await beta.cliOk(['divergence', 'docs', '--export', exported]);
    assert.equal(readFileSync(path.join(exported, 'late.txt'), 'utf8'), 'written after T\n');
  });
});
