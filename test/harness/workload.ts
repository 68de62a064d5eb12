import { chmod, mkdir, open, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Rng } from './rng.ts';

export { createRng, type Rng, seedFromEnv } from './rng.ts';

/** TreeSpec describes the mixed tree that makeTree generates; every field has a default. */
export interface TreeSpec {
  /** number of small files (1 B – 8 KiB) spread over a few directories; default 20. */
  smallFiles?: number;
  /** number of medium files of `mediumBytes` each; default 3. */
  mediumFiles?: number;
  /** size of each medium file; default 3 MiB. */
  mediumBytes?: number;
  /** size of the one large file, or 0 for none (the default). */
  largeFileBytes?: number;
  /** depth of the deep path; default 22 levels. */
  depth?: number;
  /** include symlinks (relative, absolute, dangling); default true. */
  symlinks?: boolean;
}

/** TreeSummary counts what makeTree created. */
export interface TreeSummary {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const UNICODE_NAMES = [
  'with space.txt',
  'café é.txt',
  '日本語のファイル.txt',
  'emoji 🎉 party.txt',
  'ñandú.md',
];

/**
 * makeTree fills `dir` with a tree that exercises every kind of entry a mirror must reproduce:
 * an empty and a one-byte file, small and multi-MiB files, an optional large file, a path 20+
 * levels deep, names with spaces and non-ASCII, relative/absolute/dangling symlinks, and the
 * permission bits 0600, 0755 and 0640.
 */
export async function makeTree(dir: string, spec: TreeSpec, rng: Rng): Promise<TreeSummary> {
  const sum: TreeSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const file = async (rel: string, size: number, mode = 0o644) => {
    await writeRandomFile(path.join(dir, rel), size, rng, mode);
    sum.files++;
    sum.bytes += size;
  };
  const folder = async (rel: string, mode = 0o755) => {
    await mkdir(path.join(dir, rel), { recursive: true });
    await chmod(path.join(dir, rel), mode);
    sum.dirs++;
  };
  await mkdir(dir, { recursive: true });
  await folder('edge');
  await file('edge/empty.bin', 0);
  await file('edge/one-byte.bin', 1);
  await file('edge/private.key', 100, 0o600);
  await file('edge/run.sh', 200, 0o755);
  await file('edge/group-read.cfg', 300, 0o640);
  await folder('edge/restricted', 0o750);
  await file('edge/restricted/inside.txt', 50);

  await folder('unicode 日本');
  for (const name of UNICODE_NAMES) await file(`unicode 日本/${name}`, rng.int(1, 4096));

  const smallDirs = ['small/a', 'small/b', 'small/c'];
  await folder('small');
  for (const d of smallDirs) await folder(d);
  for (let i = 0; i < (spec.smallFiles ?? 20); i++) {
    await file(`${rng.pick(smallDirs)}/f-${i}.dat`, rng.int(1, 8192));
  }

  await folder('medium');
  const mediumBytes = spec.mediumBytes ?? 3 * 1024 * 1024;
  for (let i = 0; i < (spec.mediumFiles ?? 3); i++)
    await file(`medium/m-${i}.bin`, mediumBytes + rng.int(0, 4095));

  if ((spec.largeFileBytes ?? 0) > 0) {
    await folder('large');
    await file('large/large.bin', spec.largeFileBytes!);
  }

  const depth = spec.depth ?? 22;
  let deep = 'deep';
  await folder(deep);
  for (let i = 1; i < depth; i++) {
    deep += `/level-${String(i).padStart(2, '0')}`;
    await folder(deep);
  }
  await file(`${deep}/bottom.txt`, 123);

  if (spec.symlinks ?? true) {
    await folder('links');
    const links: [string, string][] = [
      ['links/relative', '../edge/one-byte.bin'],
      ['links/absolute', path.join(dir, 'edge/empty.bin')],
      ['links/dangling', 'no/such/target'],
      ['links/to-dir', '../small'],
    ];
    for (const [at, target] of links) {
      await symlink(target, path.join(dir, at));
      sum.symlinks++;
    }
  }
  return sum;
}

/**
 * writeRandomFile writes `size` seeded pseudo-random bytes to `file` in 4 MiB blocks (so a
 * 1 GiB file never sits in memory) and sets `mode` explicitly, because the umask would trim it.
 */
export async function writeRandomFile(file: string, size: number, rng: Rng, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const fh = await open(file, 'w', mode);
  try {
    for (const block of rng.byteStream(size)) await fh.write(block);
  } finally {
    await fh.close();
  }
  await chmod(file, mode);
}

/** writeSmallFile writes a small file in one call, for benchmarks that create many. */
export async function writeSmallFile(file: string, size: number, rng: Rng): Promise<void> {
  await writeFile(file, rng.bytes(size));
}

/** ScatterEdit is one block that planScattered chose to overwrite. */
export interface ScatterEdit {
  offset: number;
  data: Buffer;
}

/**
 * planScattered chooses `fraction` of a file of `size` bytes as blocks of `blockSize` at seeded
 * random aligned offsets, with new content for each — the "database page" edit pattern that
 * content-defined chunking and rsync deltas are measured on. The plan is separate from its
 * application so a benchmark can compute the expected result before the clock starts.
 */
export function planScattered(size: number, rng: Rng, fraction: number, blockSize = 4096): ScatterEdit[] {
  const blocks = Math.floor(size / blockSize);
  const count = Math.min(blocks, Math.max(1, Math.round((size * fraction) / blockSize)));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(rng.int(0, blocks - 1));
  return [...chosen]
    .sort((x, y) => x - y)
    .map((b) => ({ offset: b * blockSize, data: rng.bytes(blockSize) }));
}

/** applyEdits writes the planned blocks into `file` in place and fsyncs it. */
export async function applyEdits(file: string, edits: ScatterEdit[]): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    for (const e of edits) await fh.write(e.data, 0, e.data.length, e.offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** modifyScattered plans and applies a scattered edit of `file`, returning the bytes rewritten. */
export async function modifyScattered(
  file: string,
  rng: Rng,
  fraction: number,
  blockSize = 4096,
): Promise<number> {
  const { size } = await stat(file);
  const edits = planScattered(size, rng, fraction, blockSize);
  await applyEdits(file, edits);
  return edits.length * blockSize;
}

export { type Mutation, type MutationKind, mutate } from './mutate.ts';
