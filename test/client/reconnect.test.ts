import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { Backoff, reconnectAction } from '../../src/client/reconnect.js';

describe('reconnectAction (close-code bands)', () => {
  it('never reconnects after a terminal code, backs off after 41xx, reconnects at once after 42xx', () => {
    expect(reconnectAction(CLOSE.bad_protocol.code)).toBe('stop');
    expect(reconnectAction(CLOSE.unauthorized.code)).toBe('stop');
    expect(reconnectAction(CLOSE.forbidden.code)).toBe('stop');
    expect(reconnectAction(4099)).toBe('stop');
    for (const name of ['slow_consumer', 'rate_limit_strikes', 'at_capacity', 'idle_timeout'] as const) {
      expect(reconnectAction(CLOSE[name].code)).toBe('backoff');
    }
    expect(reconnectAction(4199)).toBe('backoff');
    expect(reconnectAction(CLOSE.shutting_down.code)).toBe('immediate');
    expect(reconnectAction(4299)).toBe('immediate');
  });

  it('treats 1006 and the other standard codes like the backoff band', () => {
    for (const code of [1000, 1001, 1006, 1009, 1011, 3000, 4300]) expect(reconnectAction(code)).toBe('backoff');
  });
});

describe('Backoff (exponential, full jitter)', () => {
  it('draws each delay uniformly under a ceiling that doubles up to the maximum', () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0.999999 });
    const delays = Array.from({ length: 8 }, () => b.next());
    expect(delays).toEqual([99, 199, 399, 799, 999, 999, 999, 999]);
  });

  it('is jittered: the injected random scales the delay between 0 and the ceiling', () => {
    const draws = [0, 0.5, 0.25, 0.75];
    const b = new Backoff({ initialDelayMs: 1_000, maxDelayMs: 60_000, random: () => draws.shift()! });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([0, 1_000, 1_000, 6_000]);
  });

  it('never exceeds its bounds, whatever the random source returns in [0, 1)', () => {
    let x = 0.123;
    const b = new Backoff({ initialDelayMs: 50, maxDelayMs: 5_000, random: () => (x = (x * 9301 + 0.49297) % 1) });
    for (let i = 0; i < 200; i++) {
      const ceiling = b.ceiling();
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.max(1, ceiling));
      expect(ceiling).toBeLessThanOrEqual(5_000);
    }
    expect(b.ceiling()).toBe(5_000);
  });

  it('starts over only after a connection that lasted resetAfterMs', () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000, resetAfterMs: 5_000, random: () => 0.5 });
    b.next();
    b.next();
    b.next();
    b.connectionLasted(10);
    expect(b.attempts).toBe(3);
    expect(b.ceiling()).toBe(800);
    b.connectionLasted(5_000);
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(50);
  });

  it('refuses inconsistent bounds', () => {
    expect(() => new Backoff({ initialDelayMs: 500, maxDelayMs: 100 })).toThrow(RangeError);
    expect(() => new Backoff({ factor: 0.5 })).toThrow(RangeError);
  });
});
