/**
 * Clock chaos, CI tier: real agents whose wall clocks libfaketime sets hours off, or steps
 * while changes flow, as a bad RTC or an NTP step would. CLOCK_MONOTONIC stays real, as it does
 * under a real step. Under a seeded workload every scenario checks: the mirror converges (tree
 * hash), nothing shows in a delayed view before its delay (the funnel counts on the monotonic
 * clock), nothing is lost (every seq is stored), production times are the primary's capture
 * times on the mirror's clock (not shifted by the skew) and never decrease along seq, the
 * measured offset and its `link.clock-skew` alert, and bounded descriptors and memory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock, needFaketime } from '../harness/faketime.ts';
import { assertWithin, isWithinBounds, resources } from '../harness/resources.ts';
import { findVolume } from '../harness/status-json.ts';
import { explainNodes, startNode, type TestNode } from '../harness/test-node.ts';
import { waitConverged, waitFor } from '../harness/wait.ts';
import { createRng, makeTree, mutate, type Rng, seedFromEnv } from '../harness/workload.ts';

const HOUR = 3_600_000;
/** The delay of the `late` view: long enough to see an early apply, short enough to wait out. */
const LATE_DELAY_MS = 20_000;
/**
 * How far a measured offset or a production time may be from the truth. The error of a
 * measurement is half a round trip; this is far above that and far below the skews (hours).
 */
const CLOCK_SLACK_MS = 5_000;
interface EventRow {
  id: number;
  t: number;
  type: string;
  peer?: string;
  data?: Record<string, unknown>;
}

interface TimelineRow {
  seq: number;
  at: number;
  path: string;
}

interface Scene {
  alpha: TestNode;
  beta: TestNode;
  alphaClock: FakeClock;
  betaClock: FakeClock;
  src: string;
  /** The views on beta: `main` (no delay), `late` (20 s) and `hour` (1 h). */
  main: string;
  late: string;
  hour: string;
  rng: Rng;
  /** Real time (this process is not faked) before the first file was written. */
  startedAt: number;
}

/**
 * withScene starts alpha (primary) and beta (mirror) each on its own FakeClock (at the real
 * time), lets `prepare` set the clocks, mirrors a seeded tree into three views of beta, and
 * runs `fn`. Afterwards: no unhandled error, every seq stored on beta, production times in
 * order, the 1 h view still empty, and bounded resources.
 */
async function withScene(
  t: TestContext,
  prepare: (s: Pick<Scene, 'alphaClock' | 'betaClock'>) => void,
  fn: (s: Scene) => Promise<void>,
): Promise<void> {
  if (!needFaketime(t)) return;
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (HINDSIGHT_SEED to repeat)`);
  const rng = createRng(seed);
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-clock-'));
  const nodes: TestNode[] = [];
  let failed = true;
  try {
    const alphaClock = new FakeClock(baseDir, 'alpha');
    const betaClock = new FakeClock(baseDir, 'beta');
    const alpha = await startNode({ name: 'alpha', baseDir, env: alphaClock.env });
    nodes.push(alpha);
    const beta = await startNode({ name: 'beta', baseDir, join: alpha, env: betaClock.env });
    nodes.push(beta);
    // The clocks are set once the cluster exists: its certificates were issued at the real time.
    prepare({ alphaClock, betaClock });
    const src = path.join(baseDir, 'src');
    const [main, late, hour] = ['main', 'late', 'hour'].map((v) => path.join(baseDir, `view-${v}`));
    const startedAt = Date.now();
    await makeTree(src, { smallFiles: 60, mediumFiles: 2, mediumBytes: 512 * 1024 }, rng);
    await alpha.addVolume('docs', {
      path: src,
      mirrors: [{ node: 'beta', dir: main }],
      extra: [
        '--view',
        `beta:late:${late}@${LATE_DELAY_MS / 1000}s`,
        '--view',
        `beta:hour:${hour}@1h`,
        // The workload deletes and rewrites much of the small tree: not what the guard is for.
        '--guard-min',
        '1000000',
      ],
    });
    await waitConverged(src, main, { timeoutMs: 120_000 });
    const before = [resources(alpha), resources(beta)];
    const s: Scene = { alpha, beta, alphaClock, betaClock, src, main, late, hour, rng, startedAt };
    await fn(s);
    await waitConverged(src, main, { timeoutMs: 180_000 });
    await waitConverged(src, late, { timeoutMs: 180_000 });
    await assertNothingLost(s);
    assert.deepEqual(viewEntries(hour), [], 'nothing may show in the 1 h view within the test');
    // Descriptors in use for a moment (a CLI call, a pack being read) are let go; a leak stays.
    let after = [resources(alpha), resources(beta)];
    await waitFor(
      () => {
        after = [resources(alpha), resources(beta)];
        return isWithinBounds(before[0], after[0]) && isWithinBounds(before[1], after[1]);
      },
      { timeoutMs: 30_000, what: 'descriptors and memory within bounds' },
    ).catch(() => {});
    assertWithin('alpha', before[0], after[0]);
    assertWithin('beta', before[1], after[1]);
    for (const n of nodes) n.assertCleanOutput();
    failed = false;
  } finally {
    if (failed) {
      t.diagnostic(`scene dir: ${baseDir}`);
      for (const n of nodes) t.diagnostic(`--- ${n.name} ---\n${n.tail(30)}`);
    }
    await Promise.all(nodes.map((n) => n.close()));
    if (!failed && !process.env.HINDSIGHT_KEEP_TEST_DIR) rmSync(baseDir, { recursive: true, force: true });
  }
}

function viewEntries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function eventsOf(node: TestNode, type: string): Promise<EventRow[]> {
  return (await node.cliOk(['events', '--json']))
    .split('\n')
    .filter((l) => l.includes(`"${type}"`))
    .map((l) => JSON.parse(l) as EventRow)
    .filter((e) => e.type === type);
}

/** timeline returns every change beta stores for `docs`, by seq, with its production time. */
async function timeline(beta: TestNode): Promise<TimelineRow[]> {
  // --until far ahead: after beta's clock stepped back, production times lie in its future.
  const until = new Date(Date.now() + 100 * 24 * HOUR).toISOString();
  const answer = JSON.parse(await beta.cliOk(['timeline', 'docs', '--json', '--until', until])) as {
    truncated: boolean;
    changes: TimelineRow[];
  };
  assert.equal(answer.truncated, false, 'the timeline fits in one answer');
  return answer.changes;
}

/**
 * assertNothingLost checks that beta received every seq alpha captured, stores each one once
 * (none skipped), and that production times never decrease along seq.
 */
async function assertNothingLost(s: Scene): Promise<void> {
  const last = findVolume(await s.alpha.status(), 'docs', 'primary')?.lastSeq ?? 0;
  await waitFor(
    async () => (findVolume(await s.beta.status(), 'docs', 'mirror')?.receivedSeq ?? -1) >= last,
    { timeoutMs: 120_000, what: `beta received seq ${last}` },
  );
  const rows = await timeline(s.beta);
  const seqs = rows.map((r) => r.seq);
  assert.deepEqual(
    seqs.filter((seq, i) => seq !== i + 1),
    [],
    `beta stores seq 1…${last} without a gap (has ${seqs.length})`,
  );
  assert.ok(seqs.length >= last, `beta stores ${seqs.length} of ${last} changes`);
  for (let i = 1; i < rows.length; i++) {
    assert.ok(
      rows[i].at >= rows[i - 1].at,
      `production time decreases from seq ${rows[i - 1].seq} (${rows[i - 1].at}) to seq ${rows[i].seq} (${rows[i].at})`,
    );
  }
}

/**
 * assertProducedOnMirrorClock checks that every production time beta shows is the real
 * capture time on beta's clock: real time + `betaSkewMs`, between the scene's start and now.
 * A time shifted by the skew between the two clocks is hours outside.
 */
async function assertProducedOnMirrorClock(s: Scene, betaSkewMs: number): Promise<void> {
  const now = Date.now();
  const rows = await timeline(s.beta);
  const off = rows.filter(
    (r) => r.at - betaSkewMs < s.startedAt - CLOCK_SLACK_MS || r.at - betaSkewMs > now + CLOCK_SLACK_MS,
  );
  assert.deepEqual(
    off.slice(0, 5).map((r) => ({ seq: r.seq, path: r.path, offByMs: r.at - betaSkewMs - s.startedAt })),
    [],
    `${off.length} of ${rows.length} production times lie outside the real capture window on beta's clock`,
  );
}

/** measuredOffset returns what `node` measures of `peer`'s clock (peer minus own), once known. */
async function measuredOffset(node: TestNode, peer: string): Promise<number> {
  let offset = 0;
  await waitFor(
    async () => {
      const p = (await node.status()).peers.find((x) => x.node === peer);
      if (typeof p?.clockOffsetMs !== 'number') return false;
      offset = p.clockOffsetMs;
      return true;
    },
    { timeoutMs: 30_000, what: `${node.name} measures the clock of ${peer}` },
  );
  return offset;
}

/** waitOffset waits until `node` measures `peer`'s clock at `expectedMs` (± the slack). */
async function waitOffset(node: TestNode, peer: string, expectedMs: number): Promise<number> {
  let offset = 0;
  await waitFor(
    async () => {
      offset = await measuredOffset(node, peer);
      return Math.abs(offset - expectedMs) <= CLOCK_SLACK_MS;
    },
    { timeoutMs: 60_000, what: `${node.name} measures ${peer}'s clock at ${expectedMs} ms` },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last measured ${offset} ms)`, { cause: err });
  });
  return offset;
}

/**
 * assertHeldForDelay writes a marker file into the source and watches the `late` view until
 * it shows: it must not appear before LATE_DELAY_MS have passed since the write (its receipt is
 * later still). Returns when it shows. `during` runs once the mirror has received the marker
 * (it shows in the undelayed view), e.g. to step a clock while the marker is in the funnel.
 */
async function assertHeldForDelay(s: Scene, name: string, during: () => void = () => {}): Promise<void> {
  const writtenAt = performance.now();
  writeFileSync(path.join(s.src, name), `${name}\n`);
  await waitFor(() => existsSync(path.join(s.main, name)), {
    timeoutMs: 60_000,
    what: `${name} in beta's main view`,
  });
  during();
  const shown = path.join(s.late, name);
  await waitFor(
    () => {
      const isShown = existsSync(shown);
      const elapsed = performance.now() - writtenAt;
      assert.ok(
        !isShown || elapsed >= LATE_DELAY_MS,
        `${name} shows in the ${LATE_DELAY_MS} ms view ${Math.round(elapsed)} ms after it was written`,
      );
      return isShown;
    },
    { timeoutMs: LATE_DELAY_MS + 120_000, intervalMs: 100, what: `${name} in beta's late view` },
  );
}

/**
 * Workload runs the seeded workload in the background: 10 edits every 400 ms until stopped. It
 * spares the markers at the root, which the tests watch: a marker renamed or deleted before
 * capture read it never reaches the mirror (CI, seed 332431680).
 */
function startWorkload(s: Scene): () => Promise<void> {
  let isRunning = true;
  const done = (async () => {
    while (isRunning) {
      await mutate(s.src, s.rng, 10, { spare: (rel) => rel.startsWith('marker-') });
      await sleep(400);
    }
  })();
  return async () => {
    isRunning = false;
    await done;
  };
}

for (const [label, skewMs] of [
  ['ahead of', 3 * HOUR],
  ['behind', -3 * HOUR],
] as const) {
  test(`the mirror's clock 3 h ${label} the primary's: offset measured and alerted, production times true, no early apply`, {
    timeout: 600_000,
  }, async (t) => {
    await withScene(
      t,
      ({ betaClock }) => betaClock.set(skewMs),
      async (s) => {
        const seen = await waitOffset(s.beta, 'alpha', -skewMs);
        const seenByAlpha = await waitOffset(s.alpha, 'beta', skewMs);
        t.diagnostic(`beta measures alpha at ${seen} ms, alpha measures beta at ${seenByAlpha} ms`);
        const stop = startWorkload(s);
        try {
          await assertHeldForDelay(s, 'marker-skew.txt');
        } finally {
          await stop();
        }
        await waitConverged(s.src, s.main, { timeoutMs: 180_000, explain: explainNodes(s.alpha, s.beta) });
        await assertProducedOnMirrorClock(s, skewMs);
        for (const [node, peer, expected] of [
          [s.beta, 'alpha', -skewMs],
          [s.alpha, 'beta', skewMs],
        ] as const) {
          const alerts = (await eventsOf(node, 'link.clock-skew')).filter((e) => e.peer === peer);
          assert.equal(alerts.length, 1, `${node.name}: one link.clock-skew alert for ${peer}`);
          const offsetMs = Number(alerts[0].data?.offsetMs);
          assert.ok(
            Math.abs(offsetMs - expected) <= CLOCK_SLACK_MS,
            `${node.name}: the alert gives the offset (${offsetMs} ms, expected ${expected})`,
          );
        }
      },
    );
  });
}

test("the mirror's clock steps 5 h forward, then back, while changes flow: held for the delay, link kept, converges", {
  timeout: 600_000,
}, async (t) => {
  await withScene(
    t,
    () => {},
    async (s) => {
      const lostBefore = [
        (await eventsOf(s.alpha, 'link.disconnected')).length,
        (await eventsOf(s.beta, 'link.disconnected')).length,
      ];
      const stop = startWorkload(s);
      try {
        // Forward: a wall-clock funnel would release what is in it at once.
        await assertHeldForDelay(s, 'marker-forward.txt', () => s.betaClock.set(5 * HOUR));
        t.diagnostic(`beta measures alpha at ${await waitOffset(s.beta, 'alpha', -5 * HOUR)} ms`);
        await waitFor(async () => (await eventsOf(s.beta, 'link.clock-skew')).length > 0, {
          timeoutMs: 30_000,
          what: 'beta raises link.clock-skew',
        });
        // Back: a wall-clock funnel would hold what arrived at +5 h for five hours.
        await assertHeldForDelay(s, 'marker-back.txt', () => s.betaClock.set(0));
        t.diagnostic(`beta measures alpha at ${await waitOffset(s.beta, 'alpha', 0)} ms`);
        await waitFor(async () => (await eventsOf(s.beta, 'link.clock-ok')).length > 0, {
          timeoutMs: 30_000,
          what: 'beta clears the clock alert (link.clock-ok)',
        });
      } finally {
        await stop();
      }
      const lostAfter = [
        (await eventsOf(s.alpha, 'link.disconnected')).length,
        (await eventsOf(s.beta, 'link.disconnected')).length,
      ];
      assert.deepEqual(lostAfter, lostBefore, 'no link was cut by the steps');
      assert.equal((await eventsOf(s.beta, 'link.clock-skew')).length, 1, 'one alert for the episode');
    },
  );
});

test("the primary's clock steps 5 h back while changes flow: production times stay in order and true, nothing lost", {
  timeout: 600_000,
}, async (t) => {
  await withScene(
    t,
    () => {},
    async (s) => {
      const stop = startWorkload(s);
      try {
        await sleep(3000);
        s.alphaClock.set(-5 * HOUR);
        t.diagnostic(`beta measures alpha at ${await waitOffset(s.beta, 'alpha', -5 * HOUR)} ms`);
        await assertHeldForDelay(s, 'marker-primary-back.txt');
        await waitFor(async () => (await eventsOf(s.alpha, 'link.clock-skew')).length > 0, {
          timeoutMs: 30_000,
          what: 'alpha raises link.clock-skew',
        });
      } finally {
        await stop();
      }
      await waitConverged(s.src, s.main, { timeoutMs: 180_000, explain: explainNodes(s.alpha, s.beta) });
      // Capture times went 5 h back; corrected by the measured offset they stay real times.
      await assertProducedOnMirrorClock(s, 0);
    },
  );
});

test("the mirror's clock two days behind: it refuses the primary, both sides say why, no event storm; fixed, it catches up", {
  timeout: 600_000,
}, async (t) => {
  await withScene(
    t,
    () => {},
    async (s) => {
      const [refusedBefore, lostBefore] = [
        (await eventsOf(s.beta, 'link.refused')).length,
        (await eventsOf(s.alpha, 'link.disconnected')).length,
      ];
      // Beyond the certificates' backdating: TLS on beta finds alpha's certificate not yet valid.
      s.betaClock.set(-48 * HOUR);
      await s.beta.restart();
      const lostAtRestart = (await eventsOf(s.alpha, 'link.disconnected')).length;
      const stop = startWorkload(s);
      try {
        await waitFor(
          async () =>
            (await eventsOf(s.beta, 'link.refused'))
              .slice(refusedBefore)
              .some((e) => /not valid now on this node's clock/.test(String(e.data?.reason))),
          { timeoutMs: 60_000, what: "beta's link.refused naming its clock" },
        );
        await waitFor(
          async () =>
            (await eventsOf(s.alpha, 'link.error')).some((e) =>
              /ended before the mirror's HELLO: closed or reset/.test(String(e.data?.error)),
            ),
          { timeoutMs: 60_000, what: "alpha's link.error: the mirror refuses it" },
        );
        await sleep(10_000);
      } finally {
        await stop();
      }
      const refusals = (await eventsOf(s.alpha, 'link.error')).filter((e) =>
        /ended before the mirror's HELLO: closed or reset/.test(String(e.data?.error)),
      );
      assert.equal(refusals.length, 1, 'alpha reports the refusal once, not once per attempt');
      assert.equal(
        (await eventsOf(s.alpha, 'link.disconnected')).length,
        lostAtRestart,
        'a link that never came up is not reported as lost, again and again',
      );
      t.diagnostic(
        `beta refused ${(await eventsOf(s.beta, 'link.refused')).length - refusedBefore} connections; alpha lost the link ${lostAtRestart - lostBefore} time(s) at the restart`,
      );
      s.betaClock.set(0);
    },
  );
});
