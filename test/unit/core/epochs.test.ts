import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkEpochs,
  type EpochRow,
  epochForSeq,
  forkSeq,
  isHindsightError,
} from '../../../src/core/index.ts';

const e = (epoch: number, firstSeq: number, node = 'alpha'): EpochRow => ({
  epoch,
  firstSeq,
  node,
  at: 0,
  reason: 'test',
});

describe('epoch history', () => {
  it('gives each seq the last epoch that began at or before it', () => {
    const h = [e(1, 1), e(2, 101, 'beta'), e(3, 101, 'alpha'), e(4, 250)];
    assert.equal(epochForSeq(h, 1), 1);
    assert.equal(epochForSeq(h, 100), 1);
    assert.equal(epochForSeq(h, 101), 3, 'an epoch that wrote nothing (2) is passed over');
    assert.equal(epochForSeq(h, 249), 3);
    assert.equal(epochForSeq(h, 10_000), 4);
    assert.equal(epochForSeq([], 5), 1);
  });

  it('finds the fork: the seq before the first epoch the histories disagree on', () => {
    const mine = [e(1, 1)];
    assert.equal(forkSeq(mine, [e(1, 1), e(2, 41, 'beta')]), 40);
    // Both promoted from epoch 1, at different seqs: the fork is the earlier of the two.
    assert.equal(forkSeq([e(1, 1), e(2, 61, 'alpha')], [e(1, 1), e(2, 41, 'beta')]), 40);
    assert.equal(forkSeq(mine, mine), Number.POSITIVE_INFINITY, 'equal histories do not fork');
  });

  it('refuses a history from a peer that is not a list of increasing epochs', () => {
    assert.deepEqual(checkEpochs([e(1, 1), e(2, 5)]).length, 2);
    for (const bad of [
      [],
      'x',
      [e(2, 5), e(1, 1)],
      [e(1, 5), e(2, 3)],
      [{ ...e(1, 1), node: '' }],
      [{ ...e(1, 1), epoch: -1 }],
    ]) {
      assert.throws(
        () => checkEpochs(bad),
        (err) => isHindsightError(err, 'E_VERSION_INVALID'),
        JSON.stringify(bad),
      );
    }
  });
});
