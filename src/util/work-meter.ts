import type { Clock } from './clock.js';

/** Checks past the first of a stretch between two clock reads: bounds the overshoot to a few units of work. */
const CHECK_EVERY = 4;

/**
 * An allowance of milliseconds of synchronous work, renewed by its owner (once per event-loop
 * turn). Work is timed in stretches: the first `hasLeft()` of a stretch reads the clock, and the
 * process's next-tick queue (which runs when the callback under way returns) closes the stretch
 * and adds its length; in between the clock is read every {@link CHECK_EVERY} calls, so a stretch
 * of cheap work costs a clock read per few units and one scheduled callback, and time the loop
 * spends waiting for I/O is never counted. `perTurnMs` 0: no allowance (always left).
 */
export class WorkMeter {
  /** Milliseconds of closed stretches since the renewal. */
  private spentMs = 0;
  /** When the open stretch began; -1 when none is open. */
  private stretchStart = -1;
  private sinceRead = 0;
  private spent = false;

  constructor(
    private readonly perTurnMs: number,
    private readonly clock: Clock,
    private readonly schedule: (fn: () => void) => void = (fn) => process.nextTick(fn),
  ) {}

  /** True while the allowance lasts, counting the stretch under way; once false, false until `renew`. */
  hasLeft(): boolean {
    if (this.perTurnMs === 0) return true;
    if (this.spent) return false;
    if (this.stretchStart < 0) {
      this.stretchStart = this.clock();
      this.sinceRead = 0;
      this.schedule(this.closeStretch);
      this.spent = this.spentMs >= this.perTurnMs;
      return !this.spent;
    }
    if (++this.sinceRead < CHECK_EVERY) return true;
    this.sinceRead = 0;
    this.spent = this.spentMs + this.clock() - this.stretchStart >= this.perTurnMs;
    return !this.spent;
  }

  /** A new allowance; a stretch under way counts from now. */
  renew(): void {
    this.spentMs = 0;
    this.spent = false;
    if (this.stretchStart >= 0) this.stretchStart = this.clock();
  }

  private readonly closeStretch = (): void => {
    this.spentMs += this.clock() - this.stretchStart;
    this.stretchStart = -1;
  };
}
