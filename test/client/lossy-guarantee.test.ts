import { describe, expect, it, vi } from 'vitest';
import type { Gap } from '../../src/client/subscription.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { harness, nextEvent, recordingWebSocket } from './support.js';

/** Hard bound on the publisher, so the test stops by itself even if nothing else does. */
const MAX_MESSAGES = 40_000;
const PAD = 'x'.repeat(1000);

describe.each(TRANSPORTS)('client guarantee on a lossy channel [%s]', (transport) => {
  const h = harness(transport);

  it('across shed messages and resumes, every seq is received or reported lost, exactly once', async () => {
    const gw = await h.gateway({
      // A paused reader fills its small queue soon: drop-oldest sheds.
      outbound: { highWaterMarkBytes: 16 * 1024, maxQueueBytes: 64 * 1024, maxQueueMessages: 64, softQueueBytes: 0 },
      inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
      channelDefaults: { policy: 'drop-oldest', historySize: 100_000, historyTtlMs: 0 },
    });
    const ws = recordingWebSocket();
    const subscriber = h.client(gw.url, { WebSocket: ws.Impl, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    const publisher = h.client(gw.url, { publishBuffer: { maxInFlight: 64 } });
    const seqs: number[] = [];
    const gaps: Gap[] = [];
    const sub = subscriber.subscribe('feed.lossy', { onMessage: (m) => seqs.push(m.seq), onGap: (g) => gaps.push(g) });
    await sub.ready;

    let last = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop && last < MAX_MESSAGES) {
        const acks = await Promise.all(Array.from({ length: 50 }, () => publisher.publish('feed.lossy', PAD)));
        last = acks.at(-1)!.seq;
      }
    })();
    publishing.catch(() => {}); // awaited below; this only keeps a failed test from also reporting it unhandled

    // Twice: stop reading until messages are shed, read the gaps, then lose the connection and resume.
    for (let round = 1; round <= 2; round++) {
      const shedBefore = gw.gateway.stats.shed.dropped;
      const gapsBefore = gaps.length;
      ws.tcp().pause();
      await vi.waitFor(() => expect(gw.gateway.stats.shed.dropped).toBeGreaterThan(shedBefore + 100), { timeout: 20_000, interval: 5 });
      ws.tcp().resume();
      await vi.waitFor(() => expect(gaps.length).toBeGreaterThan(gapsBefore), { timeout: 15_000, interval: 5 });
      ws.sockets.at(-1)!.terminate();
      await nextEvent(subscriber, 'connected');
    }
    const resumedAt = last;
    await vi.waitFor(() => expect(last).toBeGreaterThan(resumedAt + 200), { timeout: 15_000, interval: 5 });
    stop = true;
    await publishing;
    await vi.waitFor(() => expect(sub.lastSeq).toBe(last), { timeout: 15_000, interval: 10 });

    // Received seqs strictly increase; each seq 1..last is received or inside one gap, never both.
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    const accounted = new Map<number, number>();
    for (const s of seqs) accounted.set(s, (accounted.get(s) ?? 0) + 1);
    for (const g of gaps) {
      expect(g.previous).toBeUndefined();
      expect(g.n ?? g.to - g.from + 1).toBe(g.to - g.from + 1); // drop-oldest sheds whole ranges
      for (let s = g.from; s <= g.to; s++) accounted.set(s, (accounted.get(s) ?? 0) + 1);
    }
    const wrong = Array.from({ length: last }, (_, i) => i + 1).filter((s) => accounted.get(s) !== 1);
    const figures = { last, received: seqs.length, gaps: gaps.length, reportedLost: last - seqs.length, resumes: sub.counters.resumes, duplicatesDropped: sub.counters.duplicates };
    console.log(`lossy guarantee [${transport}]: ${JSON.stringify(figures)}`);
    expect(wrong).toEqual([]);
    expect(sub.counters.resumes).toBe(2);
  });
});
