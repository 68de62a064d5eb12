/**
 * store-micro measures the chunk store's parts on 256 MiB of random data: the chunker alone,
 * hashing, and ingestFile into a PackStore (chunk, hash, entropy test, pack write, fdatasync,
 * commit). Run: npx node bench/store-micro.ts [MiB]
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  chunkLengths,
  hashChunk,
  ingestFile,
  inTransaction,
  openCatalog,
  PackStore,
} from '../src/store/index.ts';

const mib = Number(process.argv[2] ?? 256);
const data = randomFillSync(Buffer.allocUnsafe(mib * 1024 * 1024));

function rate(bytes: number, ns: bigint): string {
  return `${((bytes / Number(ns)) * 1e3).toFixed(0)} MB/s`;
}

function best(runs: number, fn: () => void): bigint {
  let min = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    const dt = process.hrtime.bigint() - t;
    if (dt < min) min = dt;
  }
  return min;
}

let lengths: number[] = [];
const chunkNs = best(3, () => {
  lengths = chunkLengths(data);
});
console.log(
  `chunker: ${rate(data.length, chunkNs)} (${lengths.length} chunks, average ${(data.length / lengths.length).toFixed(0)} B)`,
);

const hashNs = best(3, () => {
  let at = 0;
  for (const len of lengths) {
    hashChunk(data.subarray(at, at + len));
    at += len;
  }
});
console.log(`hash: ${rate(data.length, hashNs)}`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-bench-'));
try {
  const file = path.join(dir, 'random.bin');
  fs.writeFileSync(file, data);
  const catalog = openCatalog(path.join(dir, 'catalog.db'));
  const store = new PackStore({ dir: path.join(dir, 'packs'), catalog });
  const t = process.hrtime.bigint();
  const got = await ingestFile(file, store);
  const tIngest = process.hrtime.bigint();
  await store.sync();
  inTransaction(catalog, () => store.commitPending());
  const tDone = process.hrtime.bigint();
  console.log(`ingest (page-cached file, without sync): ${rate(got.size, tIngest - t)}`);
  console.log(`ingest + sync + commit: ${rate(got.size, tDone - t)}`);
  await store.close();
  catalog.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
