import { describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('inbound flow control [%s]', (transport) => {
  let gw: TestGateway;
  const h = gatewayHarness(transport);
  const connect = h.connect;

  it('rejects frames over the message rate with rate_limited and retryMs, then closes 4101', async () => {
    gw = await h.start({ inbound: { messagesPerSecond: 1, messagesBurst: 5, rateLimitStrikes: 10, strikeWindowMs: 60_000 } });
    const publisher = await connect();
    const watcher = await connect();
    await watcher.subscribe('sensor.d1');
    for (let i = 0; i < 30; i++) publisher.send({ op: 'pub', ch: 'sensor.d1', data: i, id: i });
    expect(await publisher.closed()).toBe(4101);
    const errors = publisher.frames.filter((f) => f.ev === 'err');
    expect(errors.length).toBe(9);
    expect(errors.map((e) => e.id)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
    for (const e of errors) {
      expect(e.code).toBe('rate_limited');
      expect(e.retryMs).toBeGreaterThan(0);
    }
    // Exactly the burst was admitted, and the watcher got exactly those.
    expect(publisher.frames.filter((f) => f.ev === 'ack').map((f) => f.id)).toEqual([0, 1, 2, 3, 4]);
    await watcher.waitForCount((f) => f.ev === 'msg', 5);
    expect(gw.gateway.stats.rateLimited).toBe(10);
    // The watcher is unaffected.
    expect((await watcher.request({ op: 'ping' })).ev).toBe('pong');
  });

  it('limits bytes per second as well as messages', async () => {
    gw = await h.start({ limits: { maxPayloadBytes: 4096 }, inbound: { bytesPerSecond: 1, bytesBurst: 10_000, messagesPerSecond: 0 } });
    const publisher = await connect();
    const big = 'y'.repeat(3000);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await publisher.request({ op: 'pub', ch: 'sensor.big', data: big }));
    expect(replies.map((r) => r.ev)).toEqual(['ack', 'ack', 'ack', 'err']);
    expect(replies[3]).toMatchObject({ code: 'rate_limited' });
  });

  it.skipIf(transport === 'uws')('pause mode loses nothing: reading stops until tokens refill', async () => {
    gw = await h.start({ inbound: { mode: 'pause', messagesPerSecond: 2000, messagesBurst: 50 } });
    const subscriber = await connect();
    await subscriber.subscribe('sensor.p');
    const publisher = await connect();
    const total = 600;
    for (let i = 0; i < total; i++) publisher.send({ op: 'pub', ch: 'sensor.p', data: i, id: i });
    const acks = await publisher.waitForCount((f) => f.ev === 'ack', total, 30_000);
    expect(acks.map((a) => a.id)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(publisher.frames.some((f) => f.ev === 'err')).toBe(false);
    const msgs = await subscriber.waitForCount((f) => f.ev === 'msg', total, 30_000);
    expect(msgs.map((m) => m.data)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(gw.gateway.stats.inboundPauses).toBeGreaterThan(0);
    expect(gw.gateway.stats.rateLimited).toBe(0);
  });
});
