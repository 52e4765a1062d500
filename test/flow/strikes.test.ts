import { describe, expect, it } from 'vitest';
import { StrikeCounter } from '../../src/flow/strikes.js';
import { manualClock } from '../helpers/clock.js';

describe('StrikeCounter', () => {
  it('trips at the limit within a window and forgets old windows', () => {
    const clock = manualClock();
    const strikes = new StrikeCounter(3, 1000, clock);
    expect(strikes.hit()).toBe(false);
    expect(strikes.hit()).toBe(false);
    clock.advance(1001);
    expect(strikes.hit()).toBe(false);
    expect(strikes.hit()).toBe(false);
    expect(strikes.hit()).toBe(true);
  });
});
