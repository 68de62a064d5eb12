import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DEFAULT_GUARD, DEFAULT_ROLES, type EventInput, isHindsightError } from '../../../src/core/index.ts';
import { Hooks } from '../../../src/roles/index.ts';
import { type Catalog, openCatalog } from '../../../src/store/index.ts';
import { createLogger, SystemClock } from '../../../src/sys/index.ts';
import { Volumes } from '../../../src/volumes/index.ts';

describe('Hooks', () => {
  let dir: string;
  let catalog: Catalog;
  let volumes: Volumes;
  let events: EventInput[];
  let hooks: Hooks;

  /** script writes an executable hook and sets it (with `timeoutMs`) as the volume's `on-promote`. */
  function script(body: string, timeoutMs = 60_000): string {
    const file = path.join(dir, 'hook.sh');
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    const v = volumes.get('docs')!;
    volumes.setSpec('docs', {
      ...v.spec,
      roles: { ...v.spec.roles, hooks: { 'on-promote': file }, hookTimeoutMs: timeoutMs },
    });
    return file;
  }

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-hooks-'));
    mkdirSync(path.join(dir, 'docs'));
    catalog = openCatalog(path.join(dir, 'catalog.db'));
    volumes = new Volumes(catalog, 'alpha', path.join(dir, 'state'));
    await volumes.addPrimary({
      name: 'docs',
      kind: 'files',
      primary: { node: 'alpha', path: path.join(dir, 'docs') },
      mirrors: [{ node: 'beta', path: '/srv/docs', delayMs: 0, views: [] }],
      include: [],
      exclude: [],
      historyMs: 1000,
      guard: DEFAULT_GUARD,
      roles: { ...DEFAULT_ROLES, hooks: {} },
      createdAt: 0,
    });
    events = [];
    hooks = new Hooks({
      self: 'alpha',
      clock: new SystemClock(),
      volumes,
      events: { emit: (e) => events.push(e) },
      log: createLogger('test', { write: () => {} }),
    });
  });
  afterEach(() => {
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the hook with its documented environment and records the outcome', async () => {
    const out = path.join(dir, 'env.txt');
    script(
      `echo "$HINDSIGHT_HOOK $HINDSIGHT_VOLUME $HINDSIGHT_NODE $HINDSIGHT_ROLE $HINDSIGHT_EPOCH $HINDSIGHT_PRIMARY" > ${out}; echo said`,
    );
    await hooks.run('on-promote', 'docs', { HINDSIGHT_TARGET: 'beta' });
    assert.equal(readFileSync(out, 'utf8'), 'on-promote docs alpha primary 1 alpha\n');
    assert.equal(events[0].type, 'hook.finished');
    assert.equal((events[0].data as { output: string }).output, 'said\n');
  });

  it('is skipped when not configured', async () => {
    await hooks.run('on-demote', 'docs');
    assert.deepEqual(events, []);
  });

  it('returns when the hook exits, even if what it started keeps its output open', async () => {
    const pidFile = path.join(dir, 'service.pid');
    script(`sleep 300 &\necho $! > ${pidFile}\necho started`);
    await hooks.run('on-promote', 'docs');
    // Returned while what it started still runs (and holds the hook's output pipe).
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.doesNotThrow(() => process.kill(pid, 0), 'the background process is still running');
    process.kill(pid, 'SIGKILL');
    assert.equal(events[0].type, 'hook.finished');
  });

  it('fails a hook that exits non-zero or runs past its time limit, with what it printed', async () => {
    script('echo broken >&2; exit 3');
    await assert.rejects(hooks.run('on-promote', 'docs'), (e) => isHindsightError(e, 'E_HOOK_FAILED'));
    const failed = events.at(-1)!;
    assert.equal(failed.type, 'hook.failed');
    assert.equal((failed.data as { exitCode: number }).exitCode, 3);
    assert.match((failed.data as { output: string }).output, /broken/);

    script('sleep 30', 1000);
    await assert.rejects(hooks.run('on-promote', 'docs'), /ran past 1000 ms/);
    assert.equal((events.at(-1)!.data as { timedOut: boolean }).timedOut, true);
  });
});
