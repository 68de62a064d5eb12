import type { EventSink } from '../core/index.ts';

/** DEFAULT_CLOCK_SKEW_MS is how far a peer's wall clock may be from ours before it is an alert. */
export const DEFAULT_CLOCK_SKEW_MS = 2000;

/**
 * ClockSkewAlarm watches the clock offset measured on the links to one peer. It raises
 * `link.clock-skew` (warn) when the offset first exceeds the threshold, and `link.clock-ok`
 * (info) once it is back within half of it, so an offset hovering at the threshold does not
 * flap. Keep one alarm per peer across reconnections: an episode is reported once, not once
 * per connection. Skew costs no data (the funnel counts on the monotonic clock and production
 * times are corrected by the offset), but it says a clock is wrong, and a node whose clock is
 * behind by more than the certificates' backdating (1 h) refuses its peers' certificates.
 */
export class ClockSkewAlarm {
  readonly #peer: string;
  readonly #events: EventSink;
  readonly #thresholdMs: number;
  #isRaised = false;

  constructor(peer: string, events: EventSink, thresholdMs = DEFAULT_CLOCK_SKEW_MS) {
    this.#peer = peer;
    this.#events = events;
    this.#thresholdMs = thresholdMs;
  }

  /** observe takes one measurement: the peer's wall clock minus ours, in ms. */
  observe(offsetMs: number): void {
    const size = Math.abs(offsetMs);
    const data = { offsetMs: Math.round(offsetMs), thresholdMs: this.#thresholdMs };
    if (!this.#isRaised && size > this.#thresholdMs) {
      this.#isRaised = true;
      this.#events.emit({
        level: 'warn',
        type: 'link.clock-skew',
        peer: this.#peer,
        msg: 'peer clock differs',
        data,
      });
    } else if (this.#isRaised && size <= this.#thresholdMs / 2) {
      this.#isRaised = false;
      this.#events.emit({
        level: 'info',
        type: 'link.clock-ok',
        peer: this.#peer,
        msg: 'peer clock agrees again',
        data,
      });
    }
  }
}
