import type { EventSink } from '../core/index.ts';

/** DEFAULT_CLOCK_SKEW_MS is how far a peer's wall clock may be from ours before it is an alert. */
export const DEFAULT_CLOCK_SKEW_MS = 2000;

/** OFFSET_SAMPLES is how many heartbeat measurements the offset estimate chooses from. */
const OFFSET_SAMPLES = 8;
/** What two measurements of one clock may disagree by beyond their round trips (scheduling). */
const AGREEMENT_SLACK_MS = 100;

/** OffsetSample is one heartbeat's measurement: the peer's wall clock minus ours, and its round trip. */
export interface OffsetSample {
  offsetMs: number;
  rttMs: number;
}

/**
 * OffsetEstimator turns heartbeat measurements into the peer's clock offset, as NTP does. A
 * measurement is only known to within half its round trip, so the estimate is the measurement
 * with the smallest round trip among the last few: an answer delayed by a stalled network
 * widens its own error and is passed over, instead of moving the estimate by seconds. A
 * measurement that contradicts the older ones (their error ranges do not overlap) means a
 * clock was stepped — or was being stepped while the measurement was in flight, so that one
 * side read the clock before the step and the other after it. Such a measurement is held back
 * until the next one agrees with it: then the older ones are dropped and the new offset holds.
 * A lone stray measurement never moves the production times of the changes received meanwhile.
 */
export class OffsetEstimator {
  #samples: OffsetSample[] = [];
  /** A measurement that contradicted the estimate, waiting for a second one to confirm it. */
  #stepped: OffsetSample | null = null;

  /** add takes one measurement and returns the estimate. */
  add(sample: OffsetSample): OffsetSample {
    const agreeing = (a: OffsetSample) => (b: OffsetSample) =>
      Math.abs(a.offsetMs - b.offsetMs) <= (a.rttMs + b.rttMs) / 2 + AGREEMENT_SLACK_MS;
    const kept = this.#samples.filter(agreeing(sample));
    if (kept.length === 0 && this.#samples.length > 0) {
      const confirmed = this.#stepped !== null && agreeing(sample)(this.#stepped);
      if (!confirmed) {
        this.#stepped = sample;
        return this.#best();
      }
      kept.push(this.#stepped as OffsetSample);
    }
    this.#stepped = null;
    this.#samples = [...kept, sample].slice(-OFFSET_SAMPLES);
    return this.#best();
  }

  #best(): OffsetSample {
    return this.#samples.reduce((best, s) => (s.rttMs < best.rttMs ? s : best));
  }
}

/**
 * ClockSkewAlarm watches the clock offset measured on the links to one peer. It raises
 * `link.clock-skew` (warn) when the offset first exceeds the threshold, and `link.clock-ok`
 * (info) once it is back within half of it, so an offset hovering at the threshold does not
 * flap. Keep one alarm per peer across reconnections: an episode is reported once, not once
 * per connection. Skew costs no data (the funnel counts on the monotonic clock and production
 * times are corrected by the offset), but it says a clock is wrong, and a node whose clock is
 * behind by more than the certificates' backdating (CERT_BACKDATE_MS) refuses its peers'
 * certificates.
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

  /**
   * observe takes the estimated offset (the peer's wall clock minus ours, in ms) and its round
   * trip: only the part of the offset beyond half the round trip is certain.
   */
  observe(offsetMs: number, rttMs = 0): void {
    const size = Math.abs(offsetMs);
    const data = { offsetMs: Math.round(offsetMs), thresholdMs: this.#thresholdMs };
    if (!this.#isRaised && size - rttMs / 2 > this.#thresholdMs) {
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
