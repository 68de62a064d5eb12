/**
 * SerialQueue runs async operations one after another, in the order they were asked for: a
 * failure of one does not stop the next. It is how a node keeps operations that must not
 * overlap apart (a rewind and a garbage collection, two role changes of one volume).
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** run starts `fn` once every operation asked for before it has settled, and returns its outcome. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.catch(() => {}).then(fn);
    this.#tail = run;
    return run;
  }
}

/** KeyedSerialQueue is one SerialQueue per key: operations on one key take turns, keys run side by side. */
export class KeyedSerialQueue {
  readonly #queues = new Map<string, SerialQueue>();

  /** run runs `fn` after every operation asked for on `key` before it. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = new SerialQueue();
      this.#queues.set(key, queue);
    }
    return queue.run(fn);
  }
}
