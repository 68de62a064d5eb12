/**
 * runLimited calls `fn` for every item with at most `limit` calls in flight, and resolves when
 * all are done. The first failure rejects (after the calls already started have settled), so
 * no call is left running behind the caller's back.
 */
export async function runLimited<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    for (let next = iterator.next(); !next.done && failure === null; next = iterator.next()) {
      try {
        await fn(next.value);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}
