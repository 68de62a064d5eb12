import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRng, writeRandomFile, writeSmallFile } from '../test/harness/workload.ts';
import { type BenchConfig, scaled } from './bench-config.ts';

/** DataSet is a generated input tree: where it is, how many files and bytes it holds. */
export interface DataSet {
  dir: string;
  files: number;
  bytes: number;
}

const MIB = 1024 * 1024;
const SMALL_PER_DIR = 1000;
const VOLUME_PER_DIR = 100;

/**
 * largeFiles returns ~2 GiB (× scale) of random data in 20 files, generated once per scale and
 * seed and reused by later runs (a marker beside the tree, not in it, says it is complete).
 */
export async function largeFiles(config: BenchConfig): Promise<DataSet> {
  const size = scaled(config, 100 * MIB, 4096);
  const dir = path.join(config.dir, 'data', `large-${config.scale}-${config.seed}`);
  return cached(dir, async () => {
    const rng = createRng(config.seed);
    for (let i = 0; i < 20; i++) await writeRandomFile(path.join(dir, `large-${i}.bin`), size, rng);
    return { dir, files: 20, bytes: 20 * size };
  });
}

/** smallFiles returns 50,000 (× scale) random files of 1–8 KiB in directories of 1,000. */
export async function smallFiles(config: BenchConfig): Promise<DataSet> {
  const count = scaled(config, 50_000, 10);
  const dir = path.join(config.dir, 'data', `small-${config.scale}-${config.seed}`);
  return cached(dir, async () => {
    const rng = createRng(config.seed + 1);
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const sub = path.join(dir, `d${String(Math.floor(i / SMALL_PER_DIR)).padStart(3, '0')}`);
      if (i % SMALL_PER_DIR === 0) mkdirSync(sub, { recursive: true });
      const size = rng.int(1024, 8192);
      await writeSmallFile(path.join(sub, `f${i}.dat`), size, rng);
      bytes += size;
    }
    return { dir, files: count, bytes };
  });
}

/** deltaFile writes a fresh 1 GiB (× scale) random file alone in `dir`; it is edited by the run. */
export async function deltaFile(config: BenchConfig, dir: string): Promise<DataSet> {
  rmSync(dir, { recursive: true, force: true });
  const size = scaled(config, 1024 * MIB, 4096 * 100);
  await writeRandomFile(path.join(dir, 'big.bin'), size, createRng(config.seed + 2));
  return { dir, files: 1, bytes: size };
}

/**
 * volumeFiles writes a fresh volume of 100,000 (× scale) random files of 1–4 KiB into `dir`, 100
 * to a directory (~1,000 directories, grouped 100 to a parent); the run edits it, so it is not
 * cached. `relPath(i)` names file i, for a scenario that picks files to change.
 */
export async function volumeFiles(config: BenchConfig, dir: string): Promise<DataSet> {
  rmSync(dir, { recursive: true, force: true });
  const count = scaled(config, 100_000, 100);
  const rng = createRng(config.seed + 6);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    if (i % VOLUME_PER_DIR === 0) mkdirSync(path.join(dir, path.dirname(volumeFile(i))), { recursive: true });
    const size = rng.int(1024, 4096);
    await writeSmallFile(path.join(dir, volumeFile(i)), size, rng);
    bytes += size;
  }
  return { dir, files: count, bytes };
}

/** volumeFile is the path of file `i` of volumeFiles, relative to the volume. */
export function volumeFile(i: number): string {
  const sub = Math.floor(i / VOLUME_PER_DIR);
  const top = String(Math.floor(sub / VOLUME_PER_DIR)).padStart(2, '0');
  return `t${top}/d${String(sub).padStart(4, '0')}/f${String(i).padStart(6, '0')}.dat`;
}

async function cached(dir: string, make: () => Promise<DataSet>): Promise<DataSet> {
  const marker = `${dir}.json`;
  if (existsSync(marker) && existsSync(dir)) return JSON.parse(readFileSync(marker, 'utf8')) as DataSet;
  rmSync(dir, { recursive: true, force: true });
  rmSync(marker, { force: true });
  mkdirSync(dir, { recursive: true });
  const set = await make();
  writeFileSync(marker, JSON.stringify(set));
  return set;
}
