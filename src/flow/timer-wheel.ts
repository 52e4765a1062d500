import type { Clock } from '../util/clock.js';

/** Something the wheel calls back once, at or after the time it was scheduled for. */
export interface WheelEntry {
  fire(now: number): void;
}

/** Starts a repeating timer and returns what stops it. */
export type Every = (fn: () => void, ms: number) => () => void;

/**
 * One hashed timer wheel for the whole gateway (per-subscriber delivery contracts schedule their
 * next flush here): `slots` buckets of `tickMs`, a horizon of `slots × tickMs`. Scheduling is O(1)
 * and allocates nothing but the bucket's slot; an entry never fires before its time. The wheel's
 * one timer runs only while something is scheduled, so an idle wheel costs nothing.
 */
export class TimerWheel {
  private readonly slots: WheelEntry[][];
  /** The last tick processed. */
  private cursor = 0;
  private count = 0;
  private stop: (() => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly tickMs: number,
    slots: number,
    private readonly every: Every,
  ) {
    this.slots = Array.from({ length: slots }, () => []);
  }

  get horizonMs(): number {
    return (this.slots.length - 1) * this.tickMs;
  }

  /** Entries waiting. */
  get size(): number {
    return this.count;
  }

  /** Fires `entry` once, at or after `at` (clock ms); at most `horizonMs` ahead. */
  schedule(entry: WheelEntry, at: number): void {
    if (this.count === 0) this.cursor = Math.floor(this.clock() / this.tickMs);
    const tick = Math.min(Math.max(Math.ceil(at / this.tickMs), this.cursor + 1), this.cursor + this.slots.length - 1);
    this.slots[tick % this.slots.length]!.push(entry);
    this.count++;
    this.stop ??= this.every(() => this.advance(this.clock()), this.tickMs);
  }

  /** Fires every entry due by `now` (the timer calls this; tests call it with an injected clock). */
  advance(now: number): void {
    const target = Math.floor(now / this.tickMs);
    while (this.cursor < target && this.count > 0) {
      this.cursor++;
      const i = this.cursor % this.slots.length;
      const due = this.slots[i]!;
      if (due.length === 0) continue;
      this.slots[i] = [];
      this.count -= due.length;
      for (const entry of due) entry.fire(now);
    }
    if (this.count === 0 && this.stop !== undefined) {
      this.stop();
      this.stop = undefined;
    }
  }
}
