import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor, withDeadline } from '../../harness/wait.ts';

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    assert.equal(await waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 }), 3);
  });

  it('treats a throw as not yet, and names what it waited for and the last value on timeout', async () => {
    let n = 0;
    await assert.rejects(
      waitFor(
        () => {
          n++;
          if (n === 1) throw new Error('first try fails');
          return n < 0;
        },
        { timeoutMs: 30, intervalMs: 1, what: 'the mirror' },
      ),
      /waiting for the mirror; last value: false/,
    );
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('still broken');
        },
        { timeoutMs: 10, intervalMs: 1 },
      ),
      /last error: .*still broken/s,
    );
  });
});

describe('withDeadline', () => {
  it('passes a result through and turns a hang into an error', async () => {
    assert.equal(await withDeadline(Promise.resolve(5), 1000, 'quick'), 5);
    await assert.rejects(
      withDeadline(new Promise(() => {}), 20, 'stuck step'),
      /stuck step did not finish within 20 ms/,
    );
  });
});
