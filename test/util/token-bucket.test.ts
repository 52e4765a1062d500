import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TokenBucket } from '../../src/util/token-bucket.js';
import { manualClock } from '../helpers/clock.js';

describe('TokenBucket', () => {
  it('admits exactly the burst at once, then nothing until time passes', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 5, clock);
    let admitted = 0;
    for (let i = 0; i < 20; i++) if (bucket.tryTake(1)) admitted++;
    expect(admitted).toBe(5);
    expect(bucket.msUntil(1)).toBe(100);
  });

  it('admits exactly burst + rate × t over t (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        // A burst above what one step can refill, so draining after every step never hits the cap.
        fc.integer({ min: 51, max: 200 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 200 }),
        (rate, burst, steps) => {
          const clock = manualClock();
          const bucket = new TokenBucket(rate, burst, clock);
          let admitted = 0;
          let elapsed = 0;
          while (bucket.tryTake(1)) admitted++;
          for (const step of steps) {
            clock.advance(step);
            elapsed += step;
            while (bucket.tryTake(1)) admitted++;
          }
          // Draining greedily after every step admits floor(burst + rate*t) in total (never more).
          const exact = burst + (rate * elapsed) / 1000;
          expect(admitted).toBeLessThanOrEqual(exact + 1e-9);
          // ...and exactly that many, up to floating-point drift in the continuous refill.
          expect(admitted).toBeGreaterThanOrEqual(Math.floor(exact - 1e-6));
        },
      ),
    );
  });

  it('never refills above the burst', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(100, 3, clock);
    clock.advance(60_000);
    expect(bucket.available()).toBe(3);
  });

  it('goes into debt with forceTake and reports the time to repay it', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 2, clock);
    bucket.forceTake(7);
    expect(bucket.available()).toBe(-5);
    expect(bucket.msUntil(0)).toBe(500);
    clock.advance(500);
    expect(bucket.available()).toBe(0);
  });

  it('treats rate 0 as unlimited', () => {
    const bucket = new TokenBucket(0, 1, manualClock());
    for (let i = 0; i < 1000; i++) expect(bucket.tryTake(1000)).toBe(true);
  });
});
