import { describe, expect, it } from 'vitest';
import { MemoryBudget, POOL_NAMES, type BudgetTimers } from '../../src/util/memory-budget.js';

/** Timers under the test's control: `later` queues, `fire` runs what is due. */
function manualTimers() {
  let now = 0;
  const queue: Array<{ at: number; fn: () => void }> = [];
  const timers: BudgetTimers = { now: () => now, later: (fn, ms) => void queue.push({ at: now + ms, fn }) };
  return {
    timers,
    pending: () => queue.length,
    advance(ms: number) {
      now += ms;
      const due = queue.filter((q) => q.at <= now);
      queue.splice(0, queue.length, ...queue.filter((q) => q.at > now));
      for (const q of due) q.fn();
    },
  };
}

describe('MemoryBudget', () => {
  it('adds and subtracts per pool and in total, with marks at 70% and 90%', () => {
    const clock = manualTimers();
    const budget = new MemoryBudget(1000, clock.timers);
    budget.pools.outbound.add(300);
    budget.pools.history.add(200);
    budget.pools.outbound.sub(100);
    expect(budget.pools.outbound.bytes).toBe(200);
    expect(budget.total).toBe(400);
    expect(budget.pressure).toBe('none');
    budget.pools.replay.add(301);
    expect(budget.pressure).toBe('soft');
    expect(budget.refusing).toBe(true);
    budget.pools.held.add(200);
    expect(budget.pressure).toBe('hard');
    expect(Object.keys(budget.pools)).toEqual([...POOL_NAMES]);
  });

  it('schedules one relief pass when the soft mark is crossed, however many bytes follow', () => {
    const clock = manualTimers();
    const budget = new MemoryBudget(1000, clock.timers);
    let reliefs = 0;
    budget.onRelief(() => reliefs++);
    budget.pools.outbound.add(700);
    expect(clock.pending()).toBe(0);
    for (let i = 0; i < 100; i++) budget.pools.outbound.add(1);
    expect(clock.pending()).toBe(1);
    clock.advance(0);
    expect(reliefs).toBe(1);
    // Still above the mark: the next growth schedules another pass, no sooner than 50 ms after the last.
    budget.pools.outbound.add(1);
    clock.advance(10);
    expect(reliefs).toBe(1);
    clock.advance(40);
    expect(reliefs).toBe(2);
  });

  it('relieves history past its share of the budget even when the total is below the soft mark', () => {
    const clock = manualTimers();
    const budget = new MemoryBudget(1000, clock.timers);
    let reliefs = 0;
    budget.onRelief(() => reliefs++);
    budget.pools.history.add(401);
    clock.advance(0);
    expect(reliefs).toBe(1);
  });

  it('check() runs a pass only above a mark', () => {
    const budget = new MemoryBudget(1000, manualTimers().timers);
    let reliefs = 0;
    budget.onRelief(() => reliefs++);
    budget.check();
    expect(reliefs).toBe(0);
    budget.pools.http.set(800);
    budget.check();
    expect(reliefs).toBe(1);
    budget.pools.http.set(10);
    expect(budget.total).toBe(10);
  });

  it('a zero budget measures but never relieves or refuses', () => {
    const clock = manualTimers();
    const budget = new MemoryBudget(0, clock.timers);
    budget.pools.history.add(1e12);
    expect(budget.refusing).toBe(false);
    expect(budget.pressure).toBe('none');
    expect(clock.pending()).toBe(0);
  });
});
