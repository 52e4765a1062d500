import { describe, expect, it } from 'vitest';
import { TurnClock } from '../../src/util/turn-clock.js';

describe('TurnClock', () => {
  it('reads the clock once per stretch of work, with one scheduled reset however many reads', () => {
    let time = 100;
    let reads = 0;
    const scheduled: Array<() => void> = [];
    const clock = new TurnClock(
      () => {
        reads++;
        return time;
      },
      (fn) => scheduled.push(fn),
    );
    expect(clock.now()).toBe(100);
    time = 105;
    expect([clock.now(), clock.now()]).toEqual([100, 100]);
    expect([reads, scheduled.length]).toEqual([1, 1]);
    scheduled.shift()!();
    expect(clock.now()).toBe(105);
    expect([reads, scheduled.length]).toEqual([2, 1]);
  });

  it('by default lets the time move on at the next tick', async () => {
    let time = 0;
    const clock = new TurnClock(() => time);
    expect(clock.now()).toBe(0);
    time = 7;
    expect(clock.now()).toBe(0);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(clock.now()).toBe(7);
  });
});
