import { describe, expect, it } from 'vitest';
import { WorkMeter } from '../../src/util/work-meter.js';

/** A meter on a clock the test moves, whose stretches end when the test says (the next-tick queue). */
function setup(perTurnMs: number) {
  let now = 1000;
  const ticks: Array<() => void> = [];
  let reads = 0;
  const meter = new WorkMeter(
    perTurnMs,
    () => (reads++, now),
    (fn) => ticks.push(fn),
  );
  return {
    meter,
    advance: (ms: number) => void (now += ms),
    endStretch: () => ticks.splice(0).forEach((fn) => fn()),
    reads: () => reads,
    scheduled: () => ticks.length,
  };
}

describe('WorkMeter', () => {
  it('counts the time of stretches of work, not the time between them, and reads the clock every few calls', () => {
    const { meter, advance, endStretch, reads, scheduled } = setup(10);
    expect(meter.hasLeft()).toBe(true);
    advance(6);
    expect(scheduled()).toBe(1);
    endStretch();
    // Waiting for I/O between stretches is not work.
    advance(500);
    expect(meter.hasLeft()).toBe(true);
    const before = reads();
    advance(3);
    expect([meter.hasLeft(), meter.hasLeft(), meter.hasLeft()]).toEqual([true, true, true]);
    expect(reads()).toBe(before);
    // The fourth call reads the clock: 6 + 3 ms < 10.
    expect(meter.hasLeft()).toBe(true);
    expect(reads()).toBe(before + 1);
    advance(1);
    for (let i = 0; i < 3; i++) meter.hasLeft();
    expect(meter.hasLeft()).toBe(false);
    // Spent stays spent, however the stretch ends, until renewed.
    endStretch();
    expect(meter.hasLeft()).toBe(false);
    meter.renew();
    expect(meter.hasLeft()).toBe(true);
    expect(scheduled()).toBe(1);
  });

  it('a stretch under way at the renewal counts from the renewal', () => {
    const { meter, advance, endStretch } = setup(10);
    meter.hasLeft();
    advance(50);
    meter.renew();
    advance(4);
    endStretch();
    expect(meter.hasLeft()).toBe(true);
    advance(5);
    for (let i = 0; i < 3; i++) meter.hasLeft();
    advance(1);
    // 4 ms of the first stretch (from the renewal) and 6 of this one.
    expect(meter.hasLeft()).toBe(false);
  });

  it('0: always left, no clock read, nothing scheduled', () => {
    const { meter, advance, reads, scheduled } = setup(0);
    for (let i = 0; i < 100; i++) {
      advance(1);
      expect(meter.hasLeft()).toBe(true);
    }
    expect(reads()).toBe(0);
    expect(scheduled()).toBe(0);
  });
});
