import { describe, expect, it } from 'vitest';
import { BufferFullError } from '../../src/client/errors.js';
import { PublishQueue, utf8Length, type PublishEntry } from '../../src/client/publish-queue.js';

const entry = (id: number, bytes = 10): PublishEntry => ({ id, channel: 'c', frame: 'x'.repeat(bytes), bytes, resolve: () => {}, reject: () => {} });

describe('PublishQueue', () => {
  it('refuses past its message bound, counting in-flight entries too', () => {
    const q = new PublishQueue({ maxMessages: 3, maxBytes: 1_000, maxInFlight: 2 });
    expect(q.add(entry(1))).toBeUndefined();
    expect(q.add(entry(2))).toBeUndefined();
    q.sent(q.peek()!);
    expect(q.add(entry(3))).toBeUndefined();
    const refused = q.add(entry(4));
    expect(refused).toBeInstanceOf(BufferFullError);
    expect(refused?.code).toBe('buffer_full');
    expect(q.size).toBe(3);
    q.settle(1);
    expect(q.add(entry(4))).toBeUndefined();
  });

  it('refuses past its byte bound and releases bytes on settle', () => {
    const q = new PublishQueue({ maxMessages: 100, maxBytes: 25 });
    expect(q.add(entry(1, 10))).toBeUndefined();
    expect(q.add(entry(2, 10))).toBeUndefined();
    expect(q.add(entry(3, 10))?.message).toMatch(/bytes limit 25/);
    expect(q.bytes).toBe(20);
    q.sent(q.peek()!);
    expect(q.settle(1)?.id).toBe(1);
    expect(q.bytes).toBe(10);
    expect(q.add(entry(3, 10))).toBeUndefined();
  });

  it('keeps at most maxInFlight entries in flight', () => {
    const q = new PublishQueue({ maxInFlight: 2 });
    for (let i = 1; i <= 5; i++) q.add(entry(i));
    q.sent(q.peek()!);
    q.sent(q.peek()!);
    expect(q.peek()).toBeUndefined();
    expect(q.inFlightCount).toBe(2);
    q.settle(2);
    expect(q.peek()?.id).toBe(3);
  });

  it('puts a refused entry back at its place in call order', () => {
    const q = new PublishQueue({ maxInFlight: 3 });
    for (let i = 1; i <= 5; i++) q.add(entry(i));
    for (let i = 0; i < 3; i++) q.sent(q.peek()!);
    q.settle(1);
    expect(q.retry(3)).toBe(true);
    expect(q.retry(2)).toBe(true);
    expect(q.retry(2)).toBe(false);
    const order: number[] = [];
    for (let e = q.peek(); e !== undefined; e = q.peek()) {
      order.push(e.id);
      q.sent(e);
      q.settle(e.id);
    }
    expect(order).toEqual([2, 3, 4, 5]);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('hands back everything it holds', () => {
    const q = new PublishQueue({ maxInFlight: 1 });
    for (let i = 1; i <= 3; i++) q.add(entry(i));
    q.sent(q.peek()!);
    expect(q.takeInFlight().map((e) => e.id)).toEqual([1]);
    expect(q.takeWaiting().map((e) => e.id)).toEqual([2, 3]);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('counts UTF-8 bytes', () => {
    for (const s of ['abc', 'é', '€', '😀', 'a😀é€']) expect(utf8Length(s)).toBe(Buffer.byteLength(s));
  });
});
