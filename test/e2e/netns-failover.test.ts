/**
 * Failover in network namespaces (root): primary, mirror, witness and a client on one bridge.
 * The client writes through the service address to a small service that the on-promote hook
 * starts and on-demote stops; every answer names the node and epoch that accepted the write.
 * Oracle: answers from one node never interleave with another's (single writer), epochs only
 * grow. Scenarios: kill -9 (and the time until the address answers from the mirror), the
 * primary cut off from the mirror only (no promotion), from mirror and witness (it fences
 * itself before the mirror promotes), and SIGSTOP past the timeout (zero writes after SIGCONT,
 * and it rejoins as a mirror).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, needLab } from '../harness/netns.ts';
import { findVolume } from '../harness/status-json.ts';
import { startNode, type TestNode } from '../harness/test-node.ts';
import { waitFor } from '../harness/wait.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const HEARTBEAT = '1s';
const TIMEOUT_S = 5;

/** Answer is one line of the client's log. */
interface Answer {
  at: number;
  n: number;
  ok: boolean;
  node?: string;
  epoch?: number;
}

interface Scene {
  lab: Lab;
  alpha: TestNode;
  beta: TestNode;
  w: TestNode;
  baseDir: string;
  answers: () => Answer[];
  events: (node: TestNode, type: string) => Promise<{ t: number }[]>;
}

/**
 * withScene builds the lab, three nodes (alpha primary of docs, beta its mirror, w the
 * witness) with automatic failover, the service address and the hooks, starts the client, and
 * waits until the client's writes are accepted by alpha. Everything is torn down afterwards.
 */
async function withScene(t: TestContext, fn: (s: Scene) => Promise<void>): Promise<void> {
  if (!(await needLab(t))) return;
  const lab = await Lab.create(['alpha', 'beta', 'w', 'client']);
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-netns-'));
  const nodes: TestNode[] = [];
  let client: ChildProcess | undefined;
  let failed = true;
  try {
    const node = async (name: string, join?: TestNode) => {
      const n = await startNode({
        name,
        baseDir,
        listen: `${lab.ip(name)}:7420`,
        join,
        wrap: lab.wrap(name),
      });
      nodes.push(n);
      return n;
    };
    const alpha = await node('alpha');
    const beta = await node('beta', alpha);
    const w = await node('w', alpha);
    const src = path.join(baseDir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'readme.txt'), 'the service writes into svc/\n');
    await alpha.addVolume('docs', { path: src, mirrors: [{ node: 'beta', dir: path.join(baseDir, 'dst') }] });
    const hook = hookScript(baseDir);
    const address = lab.serviceAddress();
    await alpha.cliOk([
      'volume',
      'set',
      'docs',
      '--failover',
      'auto',
      '--heartbeat',
      HEARTBEAT,
      '--timeout',
      `${TIMEOUT_S}s`,
      '--witness',
      'w',
      '--address',
      address,
      '--interface',
      'eth0',
      '--hook',
      `on-promote=${hook}`,
      '--hook',
      `on-demote=${hook}`,
    ]);
    await waitFor(async () => findVolume(await beta.status(), 'docs', 'mirror') !== undefined, {
      timeoutMs: 30_000,
      what: 'beta mirrors docs',
    });
    // Hooks and the address take effect when a node becomes (or starts as) the confirmed primary.
    await alpha.stop();
    await alpha.startAgent();
    await waitFor(() => lab.holds('alpha', address), {
      timeoutMs: 30_000,
      what: 'alpha holds the service address',
    });

    const out = path.join(baseDir, 'client.log');
    writeFileSync(out, '');
    const [cmd, ...args] = lab.wrap('client');
    client = spawn(
      cmd,
      [
        ...args,
        process.execPath,
        path.join(FIXTURES, 'client.ts'),
        '--url',
        `http://${address.split('/')[0]}:8080`,
        '--out',
        out,
      ],
      {
        stdio: 'ignore',
      },
    );
    const answers = () => parseAnswers(readFileSync(out, 'utf8'));
    await waitFor(() => answers().some((a) => a.ok && a.node === 'alpha'), {
      timeoutMs: 30_000,
      what: 'the client writes through alpha',
    });
    const events = async (n: TestNode, type: string) =>
      (await n.cliOk(['events', '--json']))
        .split('\n')
        .filter((l) => l.includes(`"${type}"`))
        .map((l) => JSON.parse(l) as { t: number });
    await fn({ lab, alpha, beta, w, baseDir, answers, events });
    assertSingleWriter(answers());
    failed = false;
  } finally {
    client?.kill('SIGKILL');
    if (failed) {
      t.diagnostic(`scene dir: ${baseDir}`);
      for (const n of nodes) t.diagnostic(`--- ${n.name} ---\n${n.tail(30)}`);
    }
    await Promise.all(nodes.map((n) => n.close()));
    // The hook's services outlive their agents (and their namespaces): stop them here.
    for (const n of nodes) killService(path.join(baseDir, `service-${n.name}.pid`));
    await lab.destroy();
    if (!failed) rmSync(baseDir, { recursive: true, force: true });
  }
}

/** killService stops the service whose pid file is `pidFile`, if it still runs. */
function killService(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
  } catch {
    // already gone
  }
}

/** hookScript starts the service on on-promote and stops it on on-demote, inside the node's namespace. */
function hookScript(baseDir: string): string {
  const file = path.join(baseDir, 'hook.sh');
  const pid = `${baseDir}/service-$HINDSIGHT_NODE.pid`;
  writeFileSync(
    file,
    `#!/bin/sh
case "$HINDSIGHT_HOOK" in
  on-promote)
    [ -f "${pid}" ] && kill "$(cat "${pid}")" 2>/dev/null
    "${process.execPath}" "${FIXTURES}/service.ts" --port 8080 --dir "$HINDSIGHT_PATH" \\
      --node "$HINDSIGHT_NODE" --epoch "$HINDSIGHT_EPOCH" >> "${baseDir}/service-$HINDSIGHT_NODE.log" 2>&1 &
    echo $! > "${pid}"
    sleep 0.5 ;;
  on-demote)
    [ -f "${pid}" ] && kill "$(cat "${pid}")" 2>/dev/null
    rm -f "${pid}" ;;
esac
exit 0
`,
  );
  chmodSync(file, 0o755);
  return file;
}

function parseAnswers(text: string): Answer[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [at, n, status, node, epoch] = l.split(' ');
      return status === 'ok'
        ? { at: Number(at), n: Number(n), ok: true, node, epoch: Number(epoch) }
        : { at: Number(at), n: Number(n), ok: false };
    });
}

/** assertSingleWriter: accepted writes come from one node, then the next, never back and forth; epochs grow. */
function assertSingleWriter(answers: Answer[]): void {
  const ok = answers.filter((a) => a.ok);
  const order: string[] = [];
  let epoch = 0;
  for (const a of ok) {
    if (order.at(-1) !== a.node) {
      assert.ok(
        !order.includes(a.node!),
        `writes went back to ${a.node} after ${order.join(' → ')} (write ${a.n})`,
      );
      order.push(a.node!);
    }
    assert.ok(a.epoch! >= epoch, `epoch went back from ${epoch} to ${a.epoch} (write ${a.n})`);
    epoch = a.epoch!;
  }
}

const isPrimaryAt = (epoch: number) => async (n: TestNode) =>
  findVolume(await n.status(), 'docs', 'primary')?.epoch === epoch;

test('kill -9 of the primary: the service address answers from the mirror', {
  timeout: 300_000,
}, async (t) => {
  await withScene(t, async ({ lab, alpha, beta, answers }) => {
    await alpha.kill('SIGKILL');
    await lab.unplug('alpha'); // the machine is gone, not just the process
    const killedAt = Date.now();
    await waitFor(() => answers().some((a) => a.ok && a.node === 'beta'), {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'the address answers from beta',
    });
    const first = answers().find((a) => a.ok && a.node === 'beta')!;
    t.diagnostic(
      `kill -9 → first answer from beta through the address: ${((first.at - killedAt) / 1000).toFixed(1)} s (heartbeat ${HEARTBEAT}, timeout ${TIMEOUT_S} s)`,
    );
    assert.equal(first.epoch, 2);
    assert.ok(await isPrimaryAt(2)(beta));
  });
});

test('the primary cut off from the mirror only: no promotion', { timeout: 300_000 }, async (t) => {
  await withScene(t, async ({ lab, alpha, beta, answers, events }) => {
    await lab.partition('alpha', 'beta');
    const cutAt = Date.now();
    await sleep(3 * TIMEOUT_S * 1000);
    assert.equal(findVolume(await beta.status(), 'docs', 'mirror')?.epoch, 1, 'beta is still a mirror');
    assert.ok(await isPrimaryAt(1)(alpha), 'alpha is still the primary');
    assert.ok(
      answers().some((a) => a.ok && a.node === 'alpha' && a.at > cutAt + 2 * TIMEOUT_S * 1000),
      'alpha serves on',
    );
    assert.ok((await events(beta, 'failover.refused')).length > 0, 'beta says why it does not promote');
    await lab.heal();
  });
});

test('the primary cut off from mirror and witness fences itself before the mirror promotes', {
  timeout: 300_000,
}, async (t) => {
  await withScene(t, async ({ lab, alpha, beta, answers, events }) => {
    await lab.partition('alpha', 'beta');
    await lab.partition('alpha', 'w');
    await waitFor(() => isPrimaryAt(2)(beta), { timeoutMs: 60_000, intervalMs: 200, what: 'beta promoted' });
    await waitFor(() => answers().some((a) => a.ok && a.node === 'beta'), {
      timeoutMs: 30_000,
      what: 'beta serves',
    });
    const fenced = await events(alpha, 'role.fenced');
    const promoted = await events(beta, 'role.promoted');
    assert.ok(fenced.length > 0 && promoted.length > 0);
    t.diagnostic(`alpha fenced ${promoted[0].t - fenced[0].t} ms before beta promoted`);
    assert.ok(fenced[0].t < promoted[0].t, 'the old primary stopped before the new one started');
    assert.equal(await lab.holds('alpha', lab.serviceAddress()), false, 'alpha released the address');

    // Healed: alpha meets epoch 2 and rejoins as a mirror; what it took while still leased is quarantined.
    await lab.heal();
    await waitFor(async () => findVolume(await alpha.status(), 'docs', 'mirror')?.epoch === 2, {
      timeoutMs: 60_000,
      what: 'alpha rejoined as a mirror',
    });
  });
});

test('SIGSTOP of the primary past the timeout: after SIGCONT it accepts nothing and rejoins as a mirror', {
  timeout: 300_000,
}, async (t) => {
  await withScene(t, async ({ alpha, beta, answers, baseDir }) => {
    await alpha.kill('SIGSTOP');
    await waitFor(() => isPrimaryAt(2)(beta), { timeoutMs: 60_000, intervalMs: 200, what: 'beta promoted' });
    await waitFor(() => answers().some((a) => a.ok && a.node === 'beta'), {
      timeoutMs: 30_000,
      what: 'beta serves',
    });
    const resumedAt = Date.now();
    await alpha.kill('SIGCONT');
    await waitFor(async () => findVolume(await alpha.status(), 'docs', 'mirror')?.epoch === 2, {
      timeoutMs: 60_000,
      what: 'alpha rejoined as a mirror',
    });
    await sleep(2000);
    const late = answers().filter((a) => a.ok && a.node === 'alpha' && a.at >= resumedAt);
    assert.deepEqual(late, [], 'alpha accepted no write after it resumed');
    assert.equal(
      existsSync(path.join(baseDir, 'service-alpha.pid')),
      false,
      'on-demote stopped the service on alpha',
    );
  });
});
