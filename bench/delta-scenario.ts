import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { hashFile } from '../test/harness/cluster.ts';
import { applyEdits, createRng, planScattered, type ScatterEdit } from '../test/harness/workload.ts';
import { deltaFile } from './bench-data.ts';
import { type BenchRow, row } from './bench-report.ts';
import { HindsightPair } from './hindsight-pair.ts';
import { rssRows, type ScenarioContext } from './scenario-context.ts';

const SCENARIO = 'c. 1 % scattered edit of a large file';
const MIB = 1024 * 1024;

/**
 * benchDelta measures what crosses the wire after 1 % of a 1 GiB file (× BENCH_SCALE) changed in
 * scattered 4 KiB blocks: Hindsight's bytesSent delta and time until the mirror holds the new
 * content, against `rsync -a --stats` to a daemon that already holds the old version.
 */
export async function benchDelta(ctx: ScenarioContext): Promise<BenchRow[]> {
  const dataDir = path.join(ctx.runDir, 'source');
  const data = await deltaFile(ctx.config, dataDir);
  const file = path.join(dataDir, 'big.bin');
  ctx.log(`delta: ${(data.bytes / MIB).toFixed(0)} MiB file`);

  const pair = await HindsightPair.start(path.join(ctx.runDir, 'pair'));
  ctx.defer(() => pair.close());
  await pair.addVolume('delta', dataDir);
  const mirrored = path.join(pair.mirrorDir('delta'), 'big.bin');
  const originalHash = await hashFile(file);
  await pair.waitCaughtUp('delta', {
    minSeq: 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await hashFile(mirrored).catch(() => '')) === originalHash,
  });
  if (ctx.rsync) {
    await ctx.rsync.push(dataDir, 'delta', ctx.timeoutMs);
    await ctx.rsync.push(dataDir, 'delta-durable', ctx.timeoutMs);
  }

  const edits = planScattered(data.bytes, createRng(ctx.config.seed + 3), 0.01);
  const expected = await hashWithEdits(file, edits);
  const bytesBefore = await pair.bytesSent('delta');
  const seqBefore = await pair.lastSeq('delta');
  ctx.log(`delta: initial sync done (${bytesBefore} bytes sent); editing ${edits.length} blocks`);

  await applyEdits(file, edits);
  const started = performance.now();
  const doneAt = await pair.waitCaughtUp('delta', {
    minSeq: seqBefore + 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await hashFile(mirrored).catch(() => '')) === expected,
  });
  const seconds = (doneAt - started) / 1000;
  const sent = (await pair.bytesSent('delta')) - bytesBefore;
  const rsync = ctx.rsync ? await ctx.rsync.push(dataDir, 'delta', ctx.timeoutMs) : undefined;
  const durable = ctx.rsync
    ? await ctx.rsync.push(dataDir, 'delta-durable', ctx.timeoutMs, { durable: true })
    : undefined;
  const competitorName = rsync ? 'rsync --stats' : 'rsync (missing)';
  const changed = edits.length * 4096;
  return [
    row({
      scenario: SCENARIO,
      metric: 'bytes sent',
      unit: 'MiB',
      better: 'lower',
      hindsight: sent / MIB,
      competitor: rsync ? rsync.bytesSent / MIB : null,
      competitorName,
      note: `${(changed / MIB).toFixed(1)} MiB changed; H ${pct(sent, data.bytes)}, rsync ${rsync ? pct(rsync.bytesSent, data.bytes) : '-'} of the file`,
    }),
    row({
      scenario: SCENARIO,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: seconds,
      competitor: rsync ? rsync.seconds : null,
      competitorName,
    }),
    row({
      scenario: SCENARIO,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: seconds,
      competitor: durable ? durable.seconds : null,
      competitorName: durable ? 'rsync --stats + sync' : 'rsync (missing)',
    }),
    ...rssRows(SCENARIO, pair),
  ];
}

/** hashWithEdits returns the SHA-256 `file` will have once `edits` are applied, reading it once. */
async function hashWithEdits(file: string, edits: ScatterEdit[]): Promise<string> {
  const h = createHash('sha256');
  let pos = 0;
  let next = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MIB })) {
    const buf = Buffer.from(chunk as Buffer);
    const end = pos + buf.length;
    // Edits are block aligned and sorted; a block may straddle two reads, so copy the overlap.
    while (next < edits.length && edits[next].offset < end) {
      const e = edits[next];
      const from = Math.max(e.offset, pos);
      const to = Math.min(e.offset + e.data.length, end);
      e.data.copy(buf, from - pos, from - e.offset, to - e.offset);
      if (e.offset + e.data.length <= end) next++;
      else break;
    }
    h.update(buf);
    pos = end;
  }
  return h.digest('hex');
}

function pct(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(2)} %`;
}
