import { describe, expect, it, vi } from 'vitest';
import type { Gap } from '../../src/client/subscription.js';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { harness, nextEvent, recordingWebSocket } from './support.js';

const FORCED_DISCONNECTS = 3;
/** Hard bound on the publisher, so the test stops by itself even if nothing else does. */
const MAX_MESSAGES = 40_000;
const PAD = 'x'.repeat(1000);

describe.each(TRANSPORTS)('client chat guarantee [%s]', (transport) => {
  const h = harness(transport);

  it('a slow consumer disconnected with 4100 again and again ends with every message exactly once, in order', async () => {
    const gw = await h.gateway(
      {
        // A small queue and high-water mark cut a paused reader off soon. The resume's replay is far
        // larger than both; it must not cut the client off again (one 4100 per pause, asserted below).
        outbound: { highWaterMarkBytes: 16 * 1024, maxQueueBytes: 64 * 1024, maxQueueMessages: 64, softQueueBytes: 0 },
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        channelDefaults: { policy: 'disconnect', historySize: 100_000, historyTtlMs: 0, historyMaxBytes: 0 },
      },
    );
    const stats = gw.gateway.stats;
    const slowCloses = () => stats.closesByCode.get(CLOSE.slow_consumer.code) ?? 0;

    const ws = recordingWebSocket();
    const subscriber = h.client(gw.url, { WebSocket: ws.Impl, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    const publisher = h.client(gw.url, { publishBuffer: { maxInFlight: 64 } });
    const received: number[] = [];
    const gaps: Gap[] = [];
    const forced: number[] = [];
    subscriber.on("disconnected", ({ code }) => forced.push(code));
    const sub = subscriber.subscribe<{ i: number }>('chat.room1', { onMessage: (m) => received.push(m.data.i), onGap: (g) => gaps.push(g) });
    await sub.ready;

    let sent = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop && sent < MAX_MESSAGES) {
        const batch = Array.from({ length: 100 }, () => publisher.publish('chat.room1', { i: sent++, pad: PAD }));
        await Promise.all(batch);
      }
    })();
    publishing.catch(() => {}); // awaited below; this only keeps a failed test from also reporting it unhandled

    let paused: (typeof ws.sockets)[number] | undefined;
    for (let pauses = 0; pauses < FORCED_DISCONNECTS; ) {
      // Let the subscriber catch up on a fresh connection, then stop reading its socket.
      await subscriber.connected();
      const socket = ws.sockets.at(-1)!;
      if (socket === paused || socket.readyState !== socket.OPEN) {
        await nextEvent(subscriber, 'connected');
        continue;
      }
      const before = received.length;
      await vi.waitFor(() => expect(received.length).toBeGreaterThan(before), { timeout: 15_000, interval: 5 });
      if (socket.readyState !== socket.OPEN) continue; // cut off on its own meanwhile: try again
      const closesBefore = slowCloses();
      const tcp = (socket as unknown as { _socket: import('node:net').Socket })._socket;
      tcp.pause();
      paused = socket;
      pauses++;
      await vi.waitFor(() => expect(slowCloses()).toBeGreaterThan(closesBefore), { timeout: 20_000, interval: 5 });
      tcp.resume();
    }
    stop = true;
    await publishing;
    expect(sent).toBeLessThan(MAX_MESSAGES);
    await vi.waitFor(() => expect(received.length).toBeGreaterThanOrEqual(sent), { timeout: 30_000, interval: 10 });

    const distinct = new Set(received);
    const lost = sent - distinct.size;
    const duplicated = received.length - distinct.size;
    const figures = {
      sent,
      pausesByTest: FORCED_DISCONNECTS,
      slowConsumerDisconnects: forced.filter((c) => c === CLOSE.slow_consumer.code).length,
      otherDisconnects: forced.filter((c) => c !== CLOSE.slow_consumer.code).length,
      resumes: sub.counters.resumes,
      lost,
      duplicated,
      duplicatesDroppedByClient: sub.counters.duplicates,
      gaps: gaps.length,
    };
    console.log(`chat guarantee [${transport}]: ${JSON.stringify(figures)}`);
    expect(figures.slowConsumerDisconnects).toBe(slowCloses());
    // Exactly one cut per pause: a resume replay never cuts the client off again.
    expect(figures.slowConsumerDisconnects).toBe(FORCED_DISCONNECTS);
    expect(figures.otherDisconnects).toBe(0);
    expect(figures.resumes).toBe(figures.slowConsumerDisconnects);
    expect(gaps).toEqual([]);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    expect(received).toEqual(Array.from({ length: sent }, (_, i) => i));
  });
});
