import { HindsightError } from './errors.ts';

/**
 * Epochs order the primaries of a volume: every promotion starts a new one, and `(epoch, seq)`
 * orders every change. These are the pure rules over an epoch history; the history itself is
 * kept by the volume registry (src/volumes/epoch-history.ts).
 */

/** EpochRow is one entry of a volume's epoch history: epoch `epoch` began with `firstSeq`, written by `node`. */
export interface EpochRow {
  epoch: number;
  firstSeq: number;
  node: string;
  at: number;
  reason: string;
}

/** epochForSeq is the epoch a history gives to `seq`: the last one that began at or before it. */
export function epochForSeq(history: EpochRow[], seq: number): number {
  let epoch = 1;
  for (const e of history) if (e.firstSeq <= seq) epoch = e.epoch;
  return epoch;
}

/**
 * forkSeq is the last seq two histories share: the seq before the first epoch that `theirs`
 * has and `mine` does not have with the same first seq. Changes of `mine` after it are the
 * divergence. Equal histories fork nowhere: the result is Infinity.
 */
export function forkSeq(mine: EpochRow[], theirs: EpochRow[]): number {
  for (const t of theirs) {
    const m = mine.find((e) => e.epoch === t.epoch);
    if (!m || m.firstSeq !== t.firstSeq) return t.firstSeq - 1;
  }
  return Number.POSITIVE_INFINITY;
}

/** checkEpochs validates an epoch history from a peer: increasing epochs, non-decreasing first seqs. */
export function checkEpochs(value: unknown): EpochRow[] {
  const bad = (why: string): never => {
    throw new HindsightError('E_VERSION_INVALID', `epoch history from the peer: ${why}`);
  };
  if (!Array.isArray(value) || value.length === 0 || value.length > 10_000) bad('not a list of epochs');
  const out: EpochRow[] = [];
  for (const raw of value as Record<string, unknown>[]) {
    const e = {
      epoch: Number(raw?.epoch),
      firstSeq: Number(raw?.firstSeq),
      node: String(raw?.node ?? ''),
      at: Number(raw?.at ?? 0),
      reason: String(raw?.reason ?? '').slice(0, 200),
    };
    if (![e.epoch, e.firstSeq, e.at].every((n) => Number.isSafeInteger(n) && n >= 0)) bad('bad numbers');
    if (e.epoch < 1 || e.firstSeq < 1 || e.node === '' || e.node.length > 100) bad('bad entry');
    const prev = out.at(-1);
    if (prev && (e.epoch <= prev.epoch || e.firstSeq < prev.firstSeq)) bad('epochs out of order');
    out.push(e);
  }
  return out;
}
