import { type Clock, HindsightError } from '../core/index.ts';
import { MSG } from './messages.ts';
import type { PeerConnection } from './peer-connection.ts';

type Settle = (reply: Record<string, unknown> | Error) => void;

/**
 * PendingReplies matches the REPLY frames of a link to the REQUESTs sent on it (leases, votes,
 * relayed API calls), by id. Each request ends exactly once: with its reply, or with an error
 * when it cannot be sent, the link closes, or no reply comes in time.
 */
export class PendingReplies {
  readonly #peer: string;
  readonly #clock: Clock;
  readonly #waiting = new Map<number, Settle>();
  #nextId = 1;

  constructor(peer: string, clock: Clock) {
    this.#peer = peer;
    this.#clock = clock;
  }

  /** ask sends `header` as a REQUEST on `conn` and resolves with the REPLY's header. */
  ask(
    conn: PeerConnection,
    header: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = new AbortController();
      this.#clock.sleep(timeoutMs, timer.signal).then(
        () => settle(new HindsightError('E_LINK_TIMEOUT', `${this.#peer} did not answer`)),
        () => {}, // answered in time
      );
      const settle: Settle = (reply) => {
        timer.abort();
        this.#waiting.delete(id);
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      };
      this.#waiting.set(id, settle);
      conn.send(MSG.REQUEST, { ...header, id }).catch((err: Error) => settle(err));
      conn.closed.then(() => settle(new HindsightError('E_LINK_DOWN', `the link to ${this.#peer} closed`)));
    });
  }

  /** answered hands a REPLY's header to the request it answers; a reply nobody waits for is dropped. */
  answered(header: Record<string, unknown>): void {
    this.#waiting.get(Number(header.id))?.(header);
  }
}
