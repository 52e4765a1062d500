import { describe, expect, it } from 'vitest';
import { Teardowns } from '../../src/session/teardowns.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WorkMeter } from '../../src/util/work-meter.js';

/**
 * Teardowns on a clock the test moves: each release costs `costMs`, each close is its own
 * callback (its stretch ends before the next), and turns run when the test says.
 */
function setup(perTurnMs: number, costMs = 1) {
  let now = 0;
  const ticks: Array<() => void> = [];
  const turns: Array<() => void> = [];
  const meter = perTurnMs > 0 ? new WorkMeter(perTurnMs, () => now, (fn) => ticks.push(fn)) : undefined;
  const teardowns = new Teardowns(new TurnAllowance(0, (fn) => turns.push(fn), meter), 10_000);
  const released: string[] = [];
  const endCallback = (): void => ticks.splice(0).forEach((fn) => fn());
  const closed = (name: string) => ({
    tearDown: () => {
      now += costMs;
      released.push(name);
    },
  });
  /** `n` peers close in one turn, each in a callback of its own. */
  const close = (names: string[]): void => {
    for (const name of names) {
      teardowns.add(closed(name));
      endCallback();
    }
  };
  /** Runs the turn scheduled; returns what it released. */
  const turn = (): string[] => {
    const from = released.length;
    turns.shift()?.();
    endCallback();
    return released.slice(from);
  };
  return { teardowns, close, turn, released, scheduled: () => turns.length };
}

const names = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `c${from + i}`);

describe('Teardowns', () => {
  it('releases closed connections at once while the turn has time, the rest on later turns, in the order they closed', () => {
    const { teardowns, close, turn, released } = setup(3);
    close(names(10));
    // 3 ms of releases at 1 ms each; the fourth finds the time spent.
    expect(released).toEqual(names(3));
    expect(teardowns.pending).toBe(7);
    expect(turn()).toEqual(names(3, 3));
    expect(turn()).toEqual(names(3, 6));
    expect(turn()).toEqual(['c9']);
    expect(teardowns.pending).toBe(0);
  });

  it('closes past the time of the turn wait behind those already waiting, and all are released in the order they closed', () => {
    const { teardowns, close, turn, released } = setup(2);
    close(names(4));
    close(['late']);
    expect(teardowns.pending).toBe(3);
    while (teardowns.pending > 0) expect(turn().length).toBeGreaterThan(0);
    expect(released).toEqual([...names(4), 'late']);
  });

  it('every turn releases one at least, however long one takes, and a few at most past its time (the meter reads the clock every few)', () => {
    const { teardowns, close, turn, released } = setup(1, 5);
    close(names(20));
    expect(released).toEqual(['c0']);
    while (teardowns.pending > 0) {
      const n = turn().length;
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(4);
    }
    expect(released).toEqual(names(20));
  });

  it('renews the time every turn, so closes on a later turn start afresh', () => {
    const { close, turn, released, scheduled } = setup(2);
    close(names(2));
    expect(released).toEqual(names(2));
    expect(scheduled()).toBe(1);
    expect(turn()).toEqual([]);
    close(names(2, 2));
    expect(released).toEqual(names(4));
  });

  it('0: every closed connection is released at once, nothing scheduled', () => {
    const { teardowns, close, released, scheduled } = setup(0);
    close(names(1000));
    expect(released).toHaveLength(1000);
    expect(teardowns.pending).toBe(0);
    expect(scheduled()).toBe(0);
  });
});
