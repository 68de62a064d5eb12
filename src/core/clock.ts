/**
 * Clock is the only source of time in Hindsight. Wall time (`now`) is what people read and what
 * is stamped on changes; monotonic time (`monotonic`) measures durations and never jumps.
 * Tests inject their own clock so that long delays run in seconds.
 */
export interface Clock {
  /** now returns wall-clock milliseconds since the Unix epoch. */
  now(): number;
  /** monotonic returns milliseconds from an arbitrary origin that never goes backwards. */
  monotonic(): number;
  /** sleep resolves after `ms` milliseconds, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** every calls `fn` every `ms` milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}
