import { closeSync, fchmodSync, futimesSync, openSync, writeSync } from 'node:fs';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

/** WRITERS is how many threads create small files side by side during a restore. */
const WRITERS = 2;
/** BATCH_BYTES and BATCH_FILES close a batch of small files handed to one thread. */
const BATCH_BYTES = 512 * 1024;
const BATCH_FILES = 128;
/** SLACK_BYTES is room past BATCH_BYTES for the file that fills a batch (small files are at most 64 KiB). */
const SLACK_BYTES = 64 * 1024;
/** BATCHES_IN_FLIGHT bounds the batches handed out and not yet written, and the memory they hold. */
const BATCHES_IN_FLIGHT = 2 * WRITERS;

/** SmallFile is one file of a batch: where it goes, its mode and time, and its bytes in the batch. */
interface SmallFile {
  path: string;
  mode: number;
  mtimeMs: number;
  at: number;
  length: number;
}

interface Batch {
  id: number;
  files: SmallFile[];
  bytes: ArrayBuffer;
}

interface BatchDone {
  id: number;
  error?: { path: string; message: string; code?: string };
}

/**
 * SmallFileWriter creates the small files of a restore on worker threads, in batches. Creating a
 * file is the one step of a restore the kernel may make slow (a busy journal: ~350 µs a file was
 * measured under load), and a thread that waits there holds up decrypting too: restic creates
 * its files from several goroutines. Each batch is written with synchronous calls (open, write,
 * chmod, time, close), which cost less than the same through the thread pool and promises.
 * `add` waits while BATCHES_IN_FLIGHT are under way; the first failure is thrown by the next
 * `add` or by `close`, naming the file.
 */
export class SmallFileWriter {
  readonly #workers: Worker[] = [];
  /** The ids of the batches handed out and not yet answered. */
  readonly #pending = new Set<number>();
  #failure: Error | null = null;
  #nextId = 0;
  #files: SmallFile[] = [];
  /** The batch being filled: its buffer (handed to the thread whole) and how much of it is used. */
  #buf: Buffer = Buffer.alloc(0);
  #bytes = 0;
  #waiting: (() => void) | null = null;

  /** add queues one file; `parts` are its bytes in order (copied: the caller may reuse them). */
  async add(path: string, mode: number, mtimeMs: number, parts: Buffer[]): Promise<void> {
    this.#throwIfFailed();
    const length = parts.reduce((n, p) => n + p.length, 0);
    if (this.#bytes + length > this.#buf.length) {
      if (this.#files.length > 0) await this.#send();
      this.#buf = Buffer.from(new ArrayBuffer(Math.max(BATCH_BYTES + SLACK_BYTES, length)));
    }
    const at = this.#bytes;
    for (const p of parts) this.#bytes += p.copy(this.#buf, this.#bytes);
    this.#files.push({ path, mode, mtimeMs, at, length });
    if (this.#bytes >= BATCH_BYTES || this.#files.length >= BATCH_FILES) await this.#send();
  }

  /** close writes what is queued, waits for every batch, stops the threads, and throws the first failure. */
  async close(): Promise<void> {
    try {
      if (this.#files.length > 0 && this.#failure === null) await this.#send();
      while (this.#pending.size > 0) await this.#oneDone();
    } finally {
      await Promise.all(this.#workers.map((w) => w.terminate()));
    }
    this.#throwIfFailed();
  }

  async #send(): Promise<void> {
    while (this.#pending.size >= BATCHES_IN_FLIGHT) await this.#oneDone();
    this.#throwIfFailed();
    const bytes = this.#buf.buffer as ArrayBuffer;
    const batch: Batch = { id: this.#nextId++, files: this.#files, bytes };
    this.#files = [];
    this.#buf = Buffer.alloc(0);
    this.#bytes = 0;
    const worker = this.#worker(batch.id % WRITERS);
    this.#pending.add(batch.id);
    worker.postMessage(batch, [bytes]);
  }

  #worker(n: number): Worker {
    while (this.#workers.length <= n) {
      const w = new Worker(new URL(import.meta.url));
      w.on('message', (done: BatchDone) => this.#done(done));
      w.on('error', (err) => this.#fail(err));
      this.#workers.push(w);
    }
    return this.#workers[n];
  }

  #done(done: BatchDone): void {
    this.#pending.delete(done.id);
    if (done.error) {
      const { path, message, code } = done.error;
      this.#fail(Object.assign(new Error(`${path}: ${message}`), { code }));
    }
    this.#wake();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    // A thread that failed as a whole answers nothing more: nothing it held is waited for.
    if (!('code' in err)) this.#pending.clear();
    this.#wake();
  }

  #wake(): void {
    const wake = this.#waiting;
    this.#waiting = null;
    wake?.();
  }

  #oneDone(): Promise<void> {
    if (this.#failure !== null && this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }
}

/** writeBatch is the thread's side: each file of `batch`, whole, with its mode and time. */
function writeBatch(batch: Batch): BatchDone {
  const bytes = Buffer.from(batch.bytes);
  for (const f of batch.files) {
    try {
      const fd = openSync(f.path, 'w', 0o600);
      try {
        for (let done = 0; done < f.length; )
          done += writeSync(fd, bytes, f.at + done, f.length - done, done);
        fchmodSync(fd, f.mode);
        futimesSync(fd, f.mtimeMs / 1000, f.mtimeMs / 1000);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { id: batch.id, error: { path: f.path, message: e.message, code: e.code } };
    }
  }
  return { id: batch.id };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', (batch: Batch) => port.postMessage(writeBatch(batch)));
}
