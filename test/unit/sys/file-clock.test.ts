import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileClock } from '../../../src/sys/index.ts';

// Regression: the clock file was re-read only when its mtime changed, and two atomic writes
// within one tick of the file system's timestamps share an mtime, so the jump was lost (seen
// once in the scheduler test, which advances right after the file is made). Here the tick is
// made certain: both files carry the same mtime.
test('a FileClock sees a jump written within the same timestamp tick as the file it replaced', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-file-clock-'));
  try {
    const file = path.join(dir, 'clock');
    const write = (ms: number) => {
      writeFileSync(`${file}.tmp`, String(ms));
      utimesSync(`${file}.tmp`, 1_700_000_000, 1_700_000_000);
      renameSync(`${file}.tmp`, file);
    };
    write(0);
    const clock = new FileClock(file);
    assert.equal(clock.offset(), 0);
    write(60_000);
    await new Promise((r) => setTimeout(r, 30)); // past the re-read interval
    assert.equal(clock.offset(), 60_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
