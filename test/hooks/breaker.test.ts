import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/hooks/breaker.js';
import { manualClock } from '../helpers/clock.js';

describe('CircuitBreaker', () => {
  it('opens after the configured consecutive failures, lets one probe through after openMs, and closes on its success', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(3, 1_000, clock);
    for (let i = 0; i < 2; i++) {
      expect(breaker.admit()).toBeUndefined();
      breaker.failed();
    }
    expect(breaker.state).toBe('closed');
    expect(breaker.admit()).toBeUndefined();
    breaker.failed();
    expect(breaker.state).toBe('open');
    expect(breaker.admit()).toBe(1_000);
    clock.advance(400);
    expect(breaker.admit()).toBe(600);
    clock.advance(600);
    expect(breaker.state).toBe('half_open');
    expect(breaker.admit(), 'the probe').toBeUndefined();
    expect(breaker.admit(), 'a second call while the probe is in flight').toBe(1_000);
    breaker.succeeded();
    expect(breaker.state).toBe('closed');
    expect(breaker.admit()).toBeUndefined();
  });

  it('a failed probe opens it again for a whole period', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(1, 500, clock);
    breaker.admit();
    breaker.failed();
    clock.advance(500);
    expect(breaker.admit()).toBeUndefined();
    breaker.failed();
    expect(breaker.state).toBe('open');
    expect(breaker.admit()).toBe(500);
  });

  it('a success resets the count of consecutive failures', () => {
    const breaker = new CircuitBreaker(2, 500, manualClock());
    breaker.failed();
    breaker.succeeded();
    breaker.failed();
    expect(breaker.state).toBe('closed');
    breaker.failed();
    expect(breaker.state).toBe('open');
  });

  it('never opens with failures 0', () => {
    const breaker = new CircuitBreaker(0, 500, manualClock());
    for (let i = 0; i < 100; i++) breaker.failed();
    expect(breaker.state).toBe('closed');
    expect(breaker.admit()).toBeUndefined();
  });
});
