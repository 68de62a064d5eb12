import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createLogger,
  FileClock,
  KeyedSerialQueue,
  Scheduler,
  SerialQueue,
  SystemClock,
  scheduleDailyAt,
  scheduleEvery,
} from '../../../src/sys/index.ts';
import { TestClockFile } from '../../harness/test-clock.ts';
import { waitFor } from '../../harness/wait.ts';

const quiet = createLogger('test', { write: () => {} });

describe('Scheduler', () => {
  let dir: string;
  let time: TestClockFile;
  let scheduler: Scheduler;
  const failures: string[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-scheduler-'));
    time = new TestClockFile(dir);
    failures.length = 0;
    scheduler = new Scheduler({
      clock: new FileClock(time.file),
      log: quiet,
      onFailure: (job, err) => failures.push(`${job}: ${(err as Error).message}`),
    });
  });
  afterEach(async () => {
    await scheduler.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a job when its time on the clock has come, not before', async () => {
    let runs = 0;
    scheduler.add('gc', scheduleEvery(3_600_000), () => {
      runs++;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(runs, 0, 'an hour has not passed');
    time.advance(3_600_000);
    await waitFor(() => runs === 1, { what: 'the job ran after the clock moved an hour' });
    time.advance(3_600_000);
    await waitFor(() => runs === 2, { what: 'and again an hour later' });
    assert.deepEqual(scheduler.names(), ['gc']);
  });

  it('reports a failed run and runs the job again at its next time', async () => {
    let runs = 0;
    scheduler.add('check', scheduleEvery(60_000), () => {
      runs++;
      if (runs === 1) throw new Error('disk gone');
    });
    time.advance(60_000);
    await waitFor(() => failures.length === 1, { what: 'the failure was reported' });
    assert.deepEqual(failures, ['check: disk gone']);
    time.advance(60_000);
    await waitFor(() => runs === 2, { what: 'the job ran again' });
  });

  it('never runs two runs of one job at once, and stop waits for the one in progress', async () => {
    let running = 0;
    let most = 0;
    let finished = 0;
    scheduler.add('slow', scheduleEvery(1), async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
      finished++;
    });
    await waitFor(() => finished >= 3, { what: 'three runs' });
    await scheduler.stop();
    assert.equal(running, 0, 'stop returned with no run in progress');
    assert.equal(most, 1);
  });

  it('refuses a second job of one name; a removed job runs no more', async () => {
    let runs = 0;
    const remove = scheduler.add('once', scheduleEvery(60_000), () => {
      runs++;
    });
    assert.throws(() => scheduler.add('once', scheduleEvery(1), () => {}), /exists already/);
    remove();
    time.advance(120_000);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(runs, 0);
    assert.deepEqual(scheduler.names(), []);
  });
});

describe('schedules', () => {
  it('scheduleDailyAt waits until the next hh:mm local time', () => {
    const at = new Date(2026, 11, 5, 1, 30, 0, 0).getTime();
    assert.equal(scheduleDailyAt(2, 0).waitFrom(at), 30 * 60_000);
    const after = new Date(2026, 11, 5, 2, 0, 0, 0).getTime();
    assert.equal(after + scheduleDailyAt(2, 0).waitFrom(after), new Date(2026, 11, 6, 2, 0).getTime());
    assert.equal(scheduleDailyAt(2, 0).text, 'daily at 02:00');
  });
});

describe('SerialQueue', () => {
  it('runs operations one after another in order; a failure does not stop the next', async () => {
    const q = new SerialQueue();
    const order: string[] = [];
    const slow = q.run(async () => {
      await new SystemClock().sleep(20);
      order.push('a');
    });
    const failing = q.run(async () => {
      order.push('b');
      throw new Error('b failed');
    });
    const last = q.run(async () => {
      order.push('c');
      return 'c';
    });
    await slow;
    await assert.rejects(failing, /b failed/);
    assert.equal(await last, 'c');
    assert.deepEqual(order, ['a', 'b', 'c']);
  });

  it('keyed: one key waits, another runs beside it', async () => {
    const q = new KeyedSerialQueue();
    const order: string[] = [];
    const a1 = q.run('a', async () => {
      await new SystemClock().sleep(30);
      order.push('a1');
    });
    const a2 = q.run('a', async () => {
      order.push('a2');
    });
    const b = q.run('b', async () => {
      order.push('b');
    });
    await Promise.all([a1, a2, b]);
    assert.deepEqual(order, ['b', 'a1', 'a2']);
  });
});
