/**
 * Switchover there and back under a running write load: the pre-switch hook stops the writer
 * (the application), the primary drains, the mirror applies everything despite its one-hour
 * delay and takes over; the same command on the new primary swaps back. Nothing acknowledged is
 * lost, the trees are equal, nothing diverges, and the hooks run in order with their variables.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Cluster, waitConverged, withCluster } from '../harness/cluster.ts';
import { bytesSentTo, findVolume } from '../harness/status-json.ts';
import { treeHash } from '../harness/tree-hash.ts';
import { waitFor } from '../harness/wait.ts';

/**
 * Writer is the application: it writes and rewrites files in `dir` every few ms until the
 * stop file appears, then says it stopped. What it wrote last is what must survive.
 */
class Writer {
  readonly dir: string;
  readonly control: string;
  writes = 0;
  #done: Promise<void>;

  constructor(dir: string, control: string) {
    this.dir = dir;
    this.control = control;
    rmSync(path.join(control, 'stop'), { force: true });
    rmSync(path.join(control, 'stopped'), { force: true });
    this.#done = this.#run();
  }

  async #run(): Promise<void> {
    while (!existsSync(path.join(this.control, 'stop'))) {
      const n = this.writes++;
      mkdirSync(path.join(this.dir, 'load'), { recursive: true });
      writeFileSync(path.join(this.dir, 'load', `w${n % 50}.bin`), randomBytes(1024 + (n % 7) * 4096));
      await sleep(15);
    }
    writeFileSync(path.join(this.control, 'stopped'), String(this.writes));
  }

  stopped(): Promise<void> {
    return this.#done;
  }
}

/** hookScript writes the hook that logs each call and, before a switch, stops the writer and waits for it. */
function hookScript(cluster: Cluster, control: string, log: string): string {
  const file = cluster.dir('hook.sh');
  writeFileSync(
    file,
    `#!/bin/sh
echo "$HINDSIGHT_HOOK $HINDSIGHT_NODE $HINDSIGHT_VOLUME $HINDSIGHT_ROLE" >> ${log}
if [ "$HINDSIGHT_HOOK" = pre-switch ]; then
  touch ${control}/stop
  while [ ! -f ${control}/stopped ]; do sleep 0.05; done
fi
`,
  );
  chmodSync(file, 0o755);
  return file;
}

test('switchover there and back under a write load loses nothing', { timeout: 300_000 }, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const src = cluster.dir('src');
    const dst = cluster.dir('dst');
    const control = cluster.dir('control');
    mkdirSync(control);
    mkdirSync(src);
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `base${i}.bin`), randomBytes(64 * 1024));
    await cluster.addVolume('docs', {
      path: src,
      primary: 'alpha',
      mirrors: [{ node: 'beta', dir: dst }],
      // The writer rewrites its 50 files over and over: ransomware, to the guard.
      extra: ['--delay', '1h', '--guard-min', '1000000'],
    });
    const log = cluster.dir('hooks.log');
    const hook = hookScript(cluster, control, log);
    await alpha.cliOk([
      'volume',
      'set',
      'docs',
      ...['pre-switch', 'on-promote', 'on-demote'].flatMap((h) => ['--hook', `${h}=${hook}`]),
    ]);

    // There: alpha → beta, with the writer running on alpha until the pre-switch hook stops it.
    let writer = new Writer(src, control);
    await sleep(1500);
    const there = JSON.parse(await alpha.cliOk(['switchover', 'docs', '--json'], { timeoutMs: 120_000 })) as {
      primary: string;
      epoch: number;
    };
    await writer.stopped();
    assert.ok(writer.writes > 20, `the writer wrote ${writer.writes} times before the switch`);
    assert.deepEqual([there.primary, there.epoch], ['beta', 2]);
    assert.equal(await treeHash(dst), await treeHash(src), 'beta holds every write, despite its 1 h delay');
    await waitFor(async () => findVolume(await alpha.status(), 'docs', 'mirror')?.epoch === 2, {
      timeoutMs: 60_000,
      what: 'alpha is the mirror at epoch 2',
    });
    const sentBack = bytesSentTo(await beta.status(), 'docs', 'alpha');

    // Back: beta → alpha, with the writer now running on beta.
    writer = new Writer(dst, control);
    await sleep(1500);
    const back = JSON.parse(await beta.cliOk(['switchover', 'docs', '--json'], { timeoutMs: 120_000 })) as {
      primary: string;
      epoch: number;
    };
    await writer.stopped();
    assert.deepEqual([back.primary, back.epoch], ['alpha', 3]);
    assert.equal(await treeHash(src), await treeHash(dst), 'alpha holds every write made on beta');
    await waitFor(async () => findVolume(await beta.status(), 'docs', 'mirror')?.epoch === 3, {
      timeoutMs: 60_000,
      what: 'beta is the mirror at epoch 3',
    });

    for (const node of [alpha, beta]) {
      const { quarantine } = JSON.parse(await node.cliOk(['divergence', 'docs', '--json'])) as {
        quarantine: [];
      };
      assert.deepEqual(quarantine, [], `nothing diverged on ${node.name}`);
    }
    t.diagnostic(`after the first switch beta had sent ${sentBack} bytes to alpha`);
    assert.ok(sentBack < 256 * 1024, `a clean switch sends next to nothing back (${sentBack} bytes)`);
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
      'pre-switch alpha docs primary',
      'on-demote alpha docs primary',
      'on-promote beta docs primary',
      'pre-switch beta docs primary',
      'on-demote beta docs primary',
      'on-promote alpha docs primary',
    ]);

    // Replication runs on in the original direction.
    writeFileSync(path.join(src, 'after.txt'), 'after both switches\n');
    await waitFor(async () => (await beta.status()).volumes[0]?.views?.[0] !== undefined, {
      timeoutMs: 10_000,
    });
    await beta.cliOk(['delay', 'docs', '0']);
    await waitConverged(src, dst, { timeoutMs: 60_000 });
  });
});
