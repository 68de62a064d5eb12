import type { HindsightError } from '../core/index.ts';
import type { FileOps } from '../sys/index.ts';
import type { Catalog } from './catalog.ts';

/** DEFAULT_WRITE_BUFFER_BYTES is how much chunk data is buffered before it is written in one call. */
export const DEFAULT_WRITE_BUFFER_BYTES = 4 * 1024 * 1024;

/** PackStoreOptions configure a PackStore: where its packs are and which catalog indexes them. */
export interface PackStoreOptions {
  /** The packs directory (created if missing). */
  dir: string;
  catalog: Catalog;
  /** A pack is closed and a new one started once it would grow beyond this size. */
  packBytes?: number;
  /** Buffered chunk data is written once it reaches this size (and at every sync). */
  writeBufferBytes?: number;
  /** The fdatasync to use; tests wrap the real one to inject a failure. */
  fdatasync?: (fd: number) => Promise<void>;
  /**
   * Called once, when an fsync of pack data fails and the store starts refusing writes
   * (E_STORE_FAILED, the error passed): the owner raises the alert. Every later write only throws.
   */
  onFailed?: (err: HindsightError) => void;
  /** The file calls that write and sync packs (default node:fs); tests record them to simulate a crash. */
  fs?: FileOps;
  /** How long a chunk found by `has` is kept from garbage collection (default PIN_MS). */
  pinMs?: number;
  /** A monotonic millisecond clock for pins (default performance.now); tests move it. */
  now?: () => number;
}

/**
 * PIN_MS is how long a chunk that `has` found stays safe from collection: far longer than any
 * batch takes from its check to its commit, and independent of how often collection runs.
 */
export const PIN_MS = 60 * 60 * 1000;
