import type { Clock } from '../util/clock.js';

export interface Resumable {
  resumeReading(): void;
}

/**
 * Resumes reading for connections paused by the inbound limiter (`pause` mode), with one timer for
 * all of them rather than one per connection.
 */
export class ResumeScheduler {
  private readonly due = new Map<Resumable, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly clock: Clock) {}

  schedule(item: Resumable, afterMs: number): void {
    const at = this.clock() + afterMs;
    this.due.set(item, at);
    if (at < this.timerAt) this.arm(at);
  }

  cancel(item: Resumable): void {
    this.due.delete(item);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.due.clear();
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - this.clock()));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock();
    let next = Infinity;
    for (const [item, at] of this.due) {
      if (at <= now) {
        this.due.delete(item);
        item.resumeReading();
      } else if (at < next) next = at;
    }
    if (next !== Infinity) this.arm(next);
  };
}
