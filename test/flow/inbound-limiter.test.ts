import { describe, expect, it } from 'vitest';
import { InboundLimiter } from '../../src/flow/inbound-limiter.js';
import { manualClock } from '../helpers/clock.js';

describe('InboundLimiter', () => {
  const limits = { messagesPerSecond: 10, messagesBurst: 10, bytesPerSecond: 1000, bytesBurst: 1000 };

  it('rejects on the message bucket without taking byte tokens', () => {
    const clock = manualClock();
    const limiter = new InboundLimiter(limits, clock);
    for (let i = 0; i < 10; i++) expect(limiter.tryAdmit(10)).toBe(0);
    expect(limiter.tryAdmit(10)).toBe(100);
    clock.advance(100);
    expect(limiter.tryAdmit(10)).toBe(0);
  });

  it('given the frame’s time, reads no clock of its own (one read per frame, by the caller)', () => {
    const clock = manualClock();
    let reads = 0;
    const counting = () => (reads++, clock());
    const limiter = new InboundLimiter(limits, counting);
    reads = 0;
    for (let i = 0; i < 10; i++) expect(limiter.tryAdmit(10, clock())).toBe(0);
    expect(limiter.tryAdmit(10, clock())).toBe(100);
    expect(limiter.admitWithDebt(10, clock())).toBe(100);
    expect(reads).toBe(0);
  });

  it('rejects on the byte bucket and says when the frame would fit', () => {
    const clock = manualClock();
    const limiter = new InboundLimiter(limits, clock);
    expect(limiter.tryAdmit(900)).toBe(0);
    expect(limiter.tryAdmit(600)).toBe(500);
    clock.advance(500);
    expect(limiter.tryAdmit(600)).toBe(0);
  });

  it('in pause mode admits everything and asks to pause until the debt is repaid', () => {
    const clock = manualClock();
    const limiter = new InboundLimiter(limits, clock);
    for (let i = 0; i < 10; i++) expect(limiter.admitWithDebt(1)).toBe(0);
    expect(limiter.admitWithDebt(1)).toBe(100);
    expect(limiter.admitWithDebt(1)).toBe(200);
  });
});
