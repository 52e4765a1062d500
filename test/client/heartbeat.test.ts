import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Heartbeat } from '../../src/client/heartbeat.js';

describe('Heartbeat (client dead-connection detection)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const make = (intervalMs: number, timeoutMs: number) => {
    const calls: string[] = [];
    const hb = new Heartbeat({ intervalMs, timeoutMs }, () => Date.now(), { ping: () => calls.push(`ping@${Date.now()}`), dead: () => calls.push(`dead@${Date.now()}`) });
    return { hb, calls };
  };

  it('pings a quiet line and declares it dead when nothing answers', () => {
    const { hb, calls } = make(1_000, 500);
    const t0 = Date.now();
    hb.start();
    vi.advanceTimersByTime(999);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([`ping@${t0 + 1_000}`]);
    vi.advanceTimersByTime(500);
    expect(calls).toEqual([`ping@${t0 + 1_000}`, `dead@${t0 + 1_500}`]);
  });

  it('stays quiet while traffic flows, and an answer to its ping keeps the line alive', () => {
    const { hb, calls } = make(1_000, 500);
    const t0 = Date.now();
    hb.start();
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(600);
      hb.heard();
    }
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(calls).toEqual([`ping@${t0 + 4_000}`]);
    vi.advanceTimersByTime(100);
    hb.heard();
    vi.advanceTimersByTime(999); // the answer came at 4 100: the next ping is due at 5 100
    expect(calls).toEqual([`ping@${t0 + 4_000}`]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([`ping@${t0 + 4_000}`, `ping@${t0 + 5_100}`]);
    hb.stop();
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(2);
  });

  it('is off with intervalMs 0', () => {
    const { hb, calls } = make(0, 500);
    hb.start();
    vi.advanceTimersByTime(60_000);
    expect(calls).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
