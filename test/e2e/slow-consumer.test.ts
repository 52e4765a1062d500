import { describe, expect, it } from 'vitest';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import type { Frame } from '../helpers/client.js';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

const MAX_QUEUE_BYTES = 64 * 1024;
// Enough bytes to fill the loopback socket buffers (several MB) and then the server's queue.
const TOTAL = 4000;
const PAYLOAD = 'x'.repeat(4000);

/** Checks a lossy subscriber's view: seqs increase, and every missing seq is announced by a gap frame. */
function accountFor(frames: Frame[], ch: string, total: number): { received: number[]; shed: number } {
  const received: number[] = [];
  let shed = 0;
  const covered = new Set<number>();
  for (const f of frames) {
    if (f.ch !== ch) continue;
    if (f.ev === 'gap') {
      shed += f.n as number;
      for (let s = f.from as number; s <= (f.to as number); s++) covered.add(s);
    } else if (f.ev === 'msg') {
      const seq = f.seq as number;
      if (received.length > 0) expect(seq).toBeGreaterThan(received[received.length - 1]!);
      // Every seq skipped before this one must have been announced before it arrived.
      const prev = received.length > 0 ? received[received.length - 1]! : 0;
      for (let s = prev + 1; s < seq; s++) expect(covered.has(s)).toBe(true);
      received.push(seq);
    }
  }
  expect(received.length + shed).toBe(total);
  return { received, shed };
}

const BATCH = ['sluice', 'sluice.batch'];

describe.each(TRANSPORTS)('slow consumers [%s]', (transport) => {
  let gw: TestGateway;
  const h = gatewayHarness(transport);

  async function scenario(policy: SlowConsumerPolicy, keys = 0, heartbeatMs = 15_000, resumeSlowWhenPublished = false) {
    gw = await h.start(
      {
        heartbeat: { intervalMs: heartbeatMs, idleTimeoutMs: 60_000 },
        outbound: { maxQueueBytes: MAX_QUEUE_BYTES, maxQueueMessages: 10_000, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        channels: [{ pattern: 'feed.*', policy, historySize: 0 }],
      });
    const connect = h.connect;
    // The slow client and one fast one take batch frames: gaps must come in order with the messages there too.
    const slow = await connect({ offer: BATCH });
    const fast = await Promise.all([connect({ offer: BATCH }), connect()]);
    await slow.subscribe('feed.x');
    for (const f of fast) await f.subscribe('feed.x');
    slow.tcp.pause();
    const publisher = await connect();
    let maxQueued = 0;
    const slowConn = gw.gateway.connectionList()[0]!;
    for (let i = 0; i < TOTAL; i++) {
      const key = keys > 0 ? `k${i % keys}` : undefined;
      publisher.send({ op: 'pub', ch: 'feed.x', key, data: { i, pad: PAYLOAD } });
      if (i % 100 === 99) {
        await publisher.request({ op: 'ping' });
        maxQueued = Math.max(maxQueued, slowConn.writer.queuedBytes);
      }
    }
    await publisher.request({ op: 'ping' });
    maxQueued = Math.max(maxQueued, slowConn.writer.queuedBytes);
    // A client cut off with 4100 may start reading again at once, so that it reads its backlog and
    // the close frame while the server still waits for the handshake (uWS gives it 16 s), however
    // slow the checks below are on a loaded machine.
    if (resumeSlowWhenPublished) slow.tcp.resume();
    // Fast subscribers got everything, in order, while the slow one was stalled.
    for (const f of fast) {
      const msgs = await f.waitForCount((m) => m.ev === 'msg', TOTAL);
      expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
      expect(f.frames.some((m) => m.ev === 'gap')).toBe(false);
    }
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUE_BYTES);
    return { slow, fast, publisher };
  }

  it('drop-oldest: the slow client keeps the newest and is told what it lost', async () => {
    const { slow } = await scenario('drop-oldest');
    expect(gw.gateway.stats.shed.dropped).toBeGreaterThan(0);
    slow.tcp.resume();
    await slow.until(() => slow.messages('feed.x').some((m) => m.seq === TOTAL), 20_000, 'the newest message');
    const { shed } = accountFor(slow.frames, 'feed.x', TOTAL);
    expect(shed).toBeGreaterThan(0);
    expect(slow.frames.filter((f) => f.ev === 'gap').every((g) => g.reason === 'dropped')).toBe(true);
  });

  it('drop-newest: the slow client keeps the oldest and is told what it lost', async () => {
    const { slow } = await scenario('drop-newest');
    slow.tcp.resume();
    const accounted = () => {
      const msgs = slow.messages('feed.x').length;
      const shed = slow.frames.filter((f) => f.ev === 'gap').reduce((n, g) => n + (g.n as number), 0);
      return msgs + shed === TOTAL;
    };
    await slow.until(accounted, 20_000, 'every message delivered or announced as shed');
    const { received, shed } = accountFor(slow.frames, 'feed.x', TOTAL);
    expect(shed).toBeGreaterThan(0);
    expect(received[0]).toBe(1);
  });

  it('conflate: the slow client gets the latest value of every key', async () => {
    const keys = 10;
    const { slow } = await scenario('conflate', keys);
    expect(gw.gateway.stats.shed.conflated).toBeGreaterThan(0);
    slow.tcp.resume();
    // The last TOTAL/keys... the final message of every key must arrive.
    const finals = Array.from({ length: keys }, (_, k) => TOTAL - keys + 1 + k);
    await slow.until(() => finals.every((s) => slow.messages('feed.x').some((m) => m.seq === s)), 20_000, 'the final value of every key');
    const { shed } = accountFor(slow.frames, 'feed.x', TOTAL);
    expect(shed).toBeGreaterThan(0);
    expect(slow.frames.some((f) => f.ev === 'gap' && f.reason === 'conflated')).toBe(true);
  });

  it('disconnect: the slow client is closed with 4100 and nothing is shed', async () => {
    const { slow } = await scenario('disconnect', 0, 15_000, true);
    expect(gw.gateway.stats.closesByCode.get(4100)).toBe(1);
    expect(gw.gateway.stats.shed.dropped).toBe(0);
    expect(await slow.closed(20_000)).toBe(4100);
    // What it did receive is a gap-free prefix: nothing was silently lost before the close.
    const seqs = slow.messages('feed.x').map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(slow.frames.some((f) => f.ev === 'gap')).toBe(false);
  });

  it('disconnect: a cut-off client that never reads is released by the heartbeat sweeps', async () => {
    const { slow } = await scenario('disconnect', 0, 100);
    // Left: the fast subscribers and the publisher. The slow one never completed the close
    // handshake (it reads nothing), so only the sweep can have released it.
    await new Promise<void>((resolve) => {
      const check = () => (gw.gateway.connectionCount === 3 ? resolve() : setTimeout(check, 20));
      check();
    });
    expect(slow.closeCode).toBeUndefined();
    expect(gw.gateway.stats.closesByCode.get(4100)).toBe(1);
  });

  it('soft limit: a lossy subscriber that stays far behind too long is closed 4100 anyway', async () => {
    gw = await h.start(
      {
        heartbeat: { intervalMs: 100, idleTimeoutMs: 60_000 },
        outbound: { maxQueueBytes: MAX_QUEUE_BYTES, softQueueBytes: 16 * 1024, softLimitMs: 50, highWaterMarkBytes: 16 * 1024 },
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }],
      });
    const slow = await h.connect();
    const publisher = await h.connect();
    await slow.subscribe('feed.soft');
    slow.tcp.pause();
    for (let i = 0; i < TOTAL; i++) publisher.send({ op: 'pub', ch: 'feed.soft', data: { i, pad: PAYLOAD } });
    await publisher.request({ op: 'ping' });
    // Noticed on a later push or, once traffic stops, by the heartbeat sweep.
    await new Promise<void>((resolve) => {
      const check = () => (gw.gateway.stats.closesByCode.get(4100) === 1 ? resolve() : setTimeout(check, 20));
      check();
    });
    expect(gw.gateway.stats.shed.dropped).toBeGreaterThan(0);
  });

  it('maxAgeMs: messages that waited too long are shed as expired', async () => {
    gw = await h.start(
      {
        outbound: { maxQueueBytes: 4 * 1024 * 1024, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        channels: [{ pattern: 'px.*', policy: 'drop-oldest', maxAgeMs: 1, historySize: 0 }],
      });
    const slow = await h.connect();
    const publisher = await h.connect();
    await slow.subscribe('px.a');
    slow.tcp.pause();
    const n = TOTAL;
    for (let i = 0; i < n; i++) publisher.send({ op: 'pub', ch: 'px.a', data: { i, pad: PAYLOAD } });
    await publisher.request({ op: 'ping' });
    const conn = gw.gateway.connectionList()[0]!;
    expect(conn.writer.queuedMessages).toBeGreaterThan(0);
    // Let the queued messages age past maxAgeMs (1 ms), then let the client read.
    await new Promise((r) => setTimeout(r, 20));
    slow.tcp.resume();
    await slow.until(() => slow.frames.some((f) => f.ev === 'gap' && f.reason === 'expired'), 20_000, 'an expired gap');
    expect(gw.gateway.stats.shed.expired).toBeGreaterThan(0);
  });
});
