import assert from 'node:assert/strict';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DirtyPaths, GlobFilter, type VolumeCapture } from '../../../src/capture/index.ts';
import { TreeWatch } from '../../../src/capture/tree-watch.ts';
import {
  COMPLETE_COOLDOWN_MS,
  COMPLETE_MAX_WAITING,
  COMPLETE_SETTLE_MS,
} from '../../../src/capture/watch.ts';
import { allChanges, type CaptureEnv, contentOf, makeCapture, makeEnv, summary, waitFor } from './fixture.ts';

describe('DirtyPaths', () => {
  it('hands out a path once no event came within the settle time, parents first', () => {
    const d = new DirtyPaths({ settleMs: 100, maxSettleMs: 1000 });
    d.mark('a/b', 0);
    d.mark('a', 10);
    d.mark('a/b', 50);
    assert.deepEqual(d.takeDue(120), ['a']);
    assert.equal(d.nextDueIn(120), 30);
    assert.deepEqual(d.takeDue(150), ['a/b']);
    assert.equal(d.nextDueIn(150), undefined);
  });

  it('reads a path that never settles after the maximum wait, and overflows into a rescan', () => {
    const d = new DirtyPaths({ settleMs: 100, maxSettleMs: 300, maxSize: 2 });
    for (let t = 0; t < 300; t += 50) d.mark('busy', t);
    assert.deepEqual(d.takeDue(300), ['busy']);
    assert.equal(d.mark('x', 0), true);
    assert.equal(d.mark('y', 0), true);
    assert.equal(d.mark('z', 0), false);
    assert.equal(d.size, 0);
  });

  it('hands out a file that was closed after writing without the settle time, once a second at most', () => {
    const d = new DirtyPaths({ settleMs: 200, maxSettleMs: 5000 });
    d.mark('saved', 0);
    d.mark('saved', 5, true);
    d.mark('still-open', 5);
    assert.deepEqual(d.takeDue(5 + COMPLETE_SETTLE_MS), ['saved']);
    // Closed again at once (a shell's >> in a loop): this time it waits the settle time.
    d.mark('saved', 100, true);
    assert.deepEqual(d.takeDue(100 + COMPLETE_SETTLE_MS), []);
    assert.deepEqual(d.takeDue(300), ['saved', 'still-open']);
    // A second later it is early again.
    const later = 5 + COMPLETE_SETTLE_MS + COMPLETE_COOLDOWN_MS;
    d.mark('saved', later, true);
    assert.deepEqual(d.takeDue(later + COMPLETE_SETTLE_MS), ['saved']);
  });

  it('reads complete files early only while few paths wait: a burst waits the settle time and ships as one batch', () => {
    const d = new DirtyPaths({ settleMs: 200 });
    const burst = Array.from(
      { length: COMPLETE_MAX_WAITING + 1 },
      (_, i) => `f${String(i).padStart(3, '0')}`,
    );
    for (const p of burst) d.mark(p, 0, true);
    assert.deepEqual(d.takeDue(COMPLETE_SETTLE_MS), [], 'a burst is not read early');
    assert.equal(d.nextDueIn(COMPLETE_SETTLE_MS), 200 - COMPLETE_SETTLE_MS);
    assert.deepEqual(d.takeDue(200), burst);
    d.mark('alone', 300, true);
    assert.deepEqual(d.takeDue(300 + COMPLETE_SETTLE_MS), ['alone'], 'a quiet volume again');
  });

  it('waits the settle time again for a file written after it was closed', () => {
    const d = new DirtyPaths({ settleMs: 200, maxSettleMs: 5000 });
    d.mark('f', 0, true);
    d.mark('f', 10);
    assert.deepEqual(d.takeDue(10 + COMPLETE_SETTLE_MS), []);
    assert.deepEqual(d.takeDue(210), ['f']);
  });
});

/** pipeCount counts this process's descriptors that are pipes. */
function pipeCount(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
    } catch {
      return false; // the descriptor readdir itself used, closed by now
    }
  }).length;
}

/** zombieCount counts this process's children that exited and were never waited for. */
function zombieCount(): number {
  let zombies = 0;
  for (const task of readdirSync('/proc/self/task')) {
    for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) zombies++;
    }
  }
  return zombies;
}

describe('TreeWatch', () => {
  // Capture used to subscribe afresh after every directory move, and @parcel/watcher leaked a
  // pipe and a zombie shell per subscription (found by e2e/chaos-proxy). Capture's own watch
  // opens one inotify descriptor, a pipe and a thread, and must give all three back.
  it('holds no descriptor, thread or child once closed', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hindsight-watch-'));
    const threads = () => readdirSync('/proc/self/task').length;
    try {
      const cycle = () => {
        const watch = TreeWatch.open(root, new GlobFilter([], []), {
          onPaths: () => {},
          onOverflow: () => {},
          onWatchFailed: () => {},
        });
        watch.watchDir('');
        watch.close();
      };
      cycle();
      const before = { pipes: pipeCount(), zombies: zombieCount(), threads: threads() };
      for (let i = 0; i < 10; i++) cycle();
      assert.deepEqual({ pipes: pipeCount(), zombies: zombieCount(), threads: threads() }, before);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('says which files are complete: closed after writing or renamed into place, not written since', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hindsight-watch-'));
    const heard = new Map<string, boolean>();
    const watch = TreeWatch.open(root, new GlobFilter([], []), {
      onPaths: (paths, complete) => {
        for (const p of paths) heard.set(p, complete.has(p));
      },
      onOverflow: () => {},
      onWatchFailed: () => {},
    });
    try {
      watch.watchDir('');
      writeFileSync(join(root, 'closed'), 'x');
      writeFileSync(join(root, 'staged'), 'y');
      renameSync(join(root, 'staged'), join(root, 'renamed'));
      const fd = openSync(join(root, 'open'), 'w');
      writeSync(fd, 'still writing');
      await waitFor(() => heard.has('closed') && heard.has('renamed') && heard.has('open'), 'the events');
      assert.equal(heard.get('closed'), true);
      assert.equal(heard.get('renamed'), true);
      assert.equal(heard.get('open'), false);
      closeSync(fd);
      await waitFor(() => heard.get('open'), 'the close of open');
    } finally {
      watch.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('VolumeCapture watching', () => {
  let env: CaptureEnv;
  let capture: VolumeCapture;
  beforeEach(async () => {
    env = makeEnv();
    mkdirSync(join(env.root, 'existing'));
    writeFileSync(join(env.root, 'existing/old.txt'), 'old');
    capture = makeCapture(env, { exclude: ['*.tmp'] });
  });
  afterEach(async () => {
    await capture.stop();
    await env.cleanup();
  });

  function has(after: number, line: string) {
    return () => summary(allChanges(env, after)).includes(line);
  }

  it('scans at start, then turns create, modify, rename and delete of files and directories into changes', async () => {
    const woken: number[] = [];
    capture.onAppended((seq) => woken.push(seq));
    await capture.start();
    assert.deepEqual(summary(allChanges(env)), ['mkdir existing', 'put existing/old.txt']);
    assert.deepEqual(woken, [2]);
    let mark = env.outbox.lastSeq(env.volume);

    writeFileSync(join(env.root, 'new.txt'), 'first');
    writeFileSync(join(env.root, 'ignored.tmp'), 'not captured');
    await waitFor(has(mark, 'put new.txt'), 'put new.txt');
    writeFileSync(join(env.root, 'new.txt'), 'second version');
    await waitFor(
      () => allChanges(env, mark).filter((c) => c.path === 'new.txt').length === 2,
      'second put of new.txt',
    );
    const puts = allChanges(env, mark).filter((c) => c.path === 'new.txt');
    assert.equal(contentOf(env, puts[1]).toString(), 'second version');

    mark = env.outbox.lastSeq(env.volume);
    renameSync(join(env.root, 'new.txt'), join(env.root, 'moved.txt'));
    await waitFor(() => has(mark, 'delete new.txt')() && has(mark, 'put moved.txt')(), 'rename of a file');

    mark = env.outbox.lastSeq(env.volume);
    mkdirSync(join(env.root, 'dir/sub'), { recursive: true });
    writeFileSync(join(env.root, 'dir/sub/f'), 'f');
    await waitFor(has(mark, 'put dir/sub/f'), 'new tree');
    const tree = summary(allChanges(env, mark));
    assert.ok(tree.indexOf('mkdir dir') < tree.indexOf('mkdir dir/sub'));
    assert.ok(tree.indexOf('mkdir dir/sub') < tree.indexOf('put dir/sub/f'));

    mark = env.outbox.lastSeq(env.volume);
    renameSync(join(env.root, 'dir'), join(env.root, 'dir2'));
    await waitFor(() => has(mark, 'delete dir')() && has(mark, 'put dir2/sub/f')(), 'rename of a directory');
    const renamed = summary(allChanges(env, mark));
    assert.ok(renamed.indexOf('delete dir/sub/f') < renamed.indexOf('delete dir/sub'));
    assert.ok(renamed.indexOf('delete dir/sub') < renamed.indexOf('delete dir'));

    mark = env.outbox.lastSeq(env.volume);
    rmSync(join(env.root, 'dir2'), { recursive: true });
    rmSync(join(env.root, 'moved.txt'));
    await waitFor(() => has(mark, 'delete dir2')() && has(mark, 'delete moved.txt')(), 'deletes');

    assert.ok(!summary(allChanges(env)).some((s) => s.includes('.tmp')));
    // Nothing was recorded twice: every path's latest row matches the files table.
    const files = env.catalog.prepare("SELECT path FROM files WHERE volume = 'vol' ORDER BY path").all();
    assert.deepEqual(
      files.map((r) => r.path),
      ['existing', 'existing/old.txt'],
    );
  });

  it('captures a tree moved into the volume with its content', async () => {
    await capture.start();
    const mark = env.outbox.lastSeq(env.volume);
    const outside = join(env.dir, 'outside');
    mkdirSync(join(outside, 'x/y'), { recursive: true });
    writeFileSync(join(outside, 'x/y/z.txt'), 'zzz');
    writeFileSync(join(outside, 'x/top.txt'), 'top');
    renameSync(outside, join(env.root, 'moved-in'));
    await waitFor(
      () => has(mark, 'put moved-in/x/y/z.txt')() && has(mark, 'put moved-in/x/top.txt')(),
      'moved-in tree',
    );
    const got = summary(allChanges(env, mark));
    assert.equal(got.filter((s) => s === 'put moved-in/x/y/z.txt').length, 1);
  });

  it('rescans on request and finds what happened while it was not watching', async () => {
    await capture.start();
    await capture.stop();
    writeFileSync(join(env.root, 'while-stopped.txt'), 'w');
    await capture.start();
    assert.ok(has(0, 'put while-stopped.txt')());
    await capture.rescan();
    assert.equal(env.events.ofType('capture.scan-finished').length, 3);
  });

  it('runs a rescan asked for while a scan runs after it, instead of leaving the caller waiting', async () => {
    mkdirSync(join(env.root, 'many'));
    for (let i = 0; i < 3000; i++) writeFileSync(join(env.root, 'many', `f${i}`), String(i));
    await capture.start();
    const finished = () => env.events.ofType('capture.scan-finished').length;
    // The second rescan is asked for from inside the first one's scan-started event, so it is
    // certainly asked for while that scan runs (polling for a running scan could miss a short one).
    let asked = false;
    let second: Promise<void> | undefined;
    const emit = env.events.emit.bind(env.events);
    env.events.emit = (event) => {
      emit(event);
      if (asked && second === undefined && event.type === 'capture.scan-started') second = capture.rescan();
    };
    asked = true;
    const first = capture.rescan();
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the second rescan never finished')), 20_000);
    });
    try {
      await Promise.race([first, hung]);
      assert.ok(second, 'the first rescan emitted scan-started');
      await Promise.race([second, hung]);
    } finally {
      clearTimeout(timer);
    }
    assert.equal(finished(), 3, 'start, the first rescan, and the one asked for during it');
  });
});
