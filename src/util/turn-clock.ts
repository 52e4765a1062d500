import type { Clock } from './clock.js';

/**
 * A clock read once per stretch of synchronous work: the first read takes `clock()`, later reads
 * return the same time until the process's next-tick queue runs (one scheduled callback, whatever
 * the number of reads). For bookkeeping on paths that run once per message and subscriber (a
 * publication fanned out to a thousand queues), where a time that lags by the current stretch's
 * length is good enough and a system clock read (~50 ns) per message is not.
 */
export class TurnClock {
  private cached = -1;
  private readonly reset = (): void => {
    this.cached = -1;
  };

  constructor(
    private readonly clock: Clock,
    private readonly schedule: (fn: () => void) => void = (fn) => process.nextTick(fn),
  ) {}

  readonly now: Clock = () => {
    if (this.cached < 0) {
      this.cached = this.clock();
      this.schedule(this.reset);
    }
    return this.cached;
  };
}
