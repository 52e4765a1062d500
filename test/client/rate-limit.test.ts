import { describe, expect, it, vi } from 'vitest';
import { BufferFullError } from '../../src/client/errors.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { harness } from './support.js';

describe.each(TRANSPORTS)('client rate-limited publishing [%s]', (transport) => {
  const h = harness(transport);

  it('slows down to the server rate and loses nothing within its buffer; past it, rejects explicitly', async () => {
    const gw = await h.gateway({ inbound: { messagesPerSecond: 50, messagesBurst: 10 } });
    const subscriber = h.client(gw.url);
    const publisher = h.client(gw.url, { publishBuffer: { maxMessages: 60 } });
    const received: number[] = [];
    await subscriber.subscribe<{ i: number }>('chat.rl', { onMessage: (m) => received.push(m.data.i) }).ready;

    // Within the bound: 60 publishes at once against a bucket of 10 refilling at 50/s.
    const first = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => publisher.publish('chat.rl', { i })));
    expect(first.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(gw.gateway.stats.rateLimited).toBeGreaterThan(0); // the server did push back ...
    expect(publisher.counters.disconnects).toBe(0); // ... and the client slowed down before 4101

    // Past the bound: 100 at once into a buffer of 60; the rest are refused at once, explicitly.
    const second = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => publisher.publish('chat.rl', { i: 60 + i })));
    const rejected = second.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(40);
    for (const r of rejected) expect(r.reason).toBeInstanceOf(BufferFullError);
    const accepted = second.flatMap((r, i) => (r.status === 'fulfilled' ? [60 + i] : []));
    expect(accepted).toEqual(Array.from({ length: 60 }, (_, i) => 60 + i));

    await vi.waitFor(() => expect(received.length).toBeGreaterThanOrEqual(120), { timeout: 15_000, interval: 10 });
    expect(new Set(received).size).toBe(received.length);
    expect([...received].sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(publisher.counters.disconnects).toBe(0);
    console.log(`rate-limited publishing [${transport}]: ${JSON.stringify({ published: 120, refusedByBuffer: rejected.length, serverRateLimited: gw.gateway.stats.rateLimited, lost: 120 - new Set(received).size, inOrder: received.every((v, i) => v === i) })}`);
  });
});
