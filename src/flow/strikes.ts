import type { Clock } from '../util/clock.js';

/** Counts offences in a fixed window; tells when `limit` of them fall within one window. */
export class StrikeCounter {
  private count = 0;
  private windowStart = -Infinity;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** Records one strike; true when the limit is reached. `now`: the caller's reading of the clock, if it has one. */
  hit(now = this.clock()): boolean {
    if (now - this.windowStart > this.windowMs) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count >= this.limit;
  }
}
