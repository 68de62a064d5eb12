/**
 * The mass-change guard: a ransomware-like burst (most files rewritten with random bytes) and
 * an emptied root on the primary hold the delayed view and raise guard.tripped; an ordinary
 * day's changes do not.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Cluster, waitFor, withCluster } from '../harness/cluster.ts';

const FILES = 120;
const MINUTE = 60_000;

async function setUp(cluster: Cluster): Promise<string> {
  const src = cluster.dir('src');
  for (let d = 0; d < 6; d++) {
    mkdirSync(path.join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < FILES / 6; f++)
      writeFileSync(path.join(src, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
  }
  await cluster.addVolume('docs', {
    path: src,
    primary: 'alpha',
    mirrors: [{ node: 'beta', dir: cluster.dir('view') }],
    extra: ['--delay', '4h', '--guard-share', '0.3', '--guard-min', '20', '--guard-window', '10m'],
  });
  await waitFor(async () => ((await cluster.node('beta').status()).volumes[0]?.receivedSeq ?? 0) >= FILES, {
    what: 'initial copy received',
  });
  return src;
}

async function mainView(cluster: Cluster) {
  return (await cluster.node('beta').status()).volumes.find((v) => v.name === 'docs')?.views?.[0];
}

async function guardEvents(cluster: Cluster): Promise<number> {
  const out = await cluster.node('beta').cliOk(['events', '--json']);
  return out.split('\n').filter((l) => l.includes('"guard.tripped"')).length;
}

test('a ransomware-like burst trips the guard and holds the delayed view', {
  timeout: 180_000,
}, async (t) => {
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const src = await setUp(cluster);
      for (let d = 0; d < 5; d++) {
        for (let f = 0; f < FILES / 6; f++)
          writeFileSync(path.join(src, `d${d}`, `f${f}.txt`), randomBytes(4096));
      }
      await waitFor(async () => (await mainView(cluster))?.held, {
        timeoutMs: 60_000,
        what: 'view held by the guard',
      });
      assert.equal((await mainView(cluster))?.holdReason, 'guard');
      assert.equal(await guardEvents(cluster), 1);
      await cluster.node('beta').cliOk(['resume', 'docs']);
      assert.equal((await mainView(cluster))?.held, false);
    },
    { testClock: true },
  );
});

test('an emptied root on the primary trips the guard', { timeout: 180_000 }, async (t) => {
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const src = await setUp(cluster);
      for (let d = 0; d < 6; d++) rmSync(path.join(src, `d${d}`), { recursive: true });
      await waitFor(async () => (await mainView(cluster))?.held, {
        timeoutMs: 60_000,
        what: 'view held by the guard',
      });
      assert.equal((await mainView(cluster))?.holdReason, 'guard');
    },
    { testClock: true },
  );
});

test("an ordinary day's changes do not trip the guard", { timeout: 240_000 }, async (t) => {
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const src = await setUp(cluster);
      // A working day: every 20 minutes a few documents edited, one created, one deleted.
      for (let hour = 0; hour < 16; hour++) {
        const d = hour % 6;
        for (let f = 0; f < 4; f++) writeFileSync(path.join(src, `d${d}`, `f${f}.txt`), `edit ${hour}\n`);
        writeFileSync(path.join(src, `d${d}`, `new-${hour}.txt`), 'new\n');
        rmSync(path.join(src, `d${d}`, `f${10 + (hour % 8)}.txt`), { force: true });
        await new Promise((r) => setTimeout(r, 400));
        cluster.clock!.advance(20 * MINUTE);
      }
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal((await mainView(cluster))?.held, false);
      assert.equal(await guardEvents(cluster), 0);
    },
    { testClock: true },
  );
});
