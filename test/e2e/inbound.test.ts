import { describe, expect, it } from 'vitest';
import { until } from '../../devkit/until.js';
import { clientFrame } from '../../devkit/wire-client.js';
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

  it('counts WebSocket pings against the message rate: a ping flood meets the strikes and 4101', async () => {
    gw = await h.start({ inbound: { messagesPerSecond: 1, messagesBurst: 5, rateLimitStrikes: 10, strikeWindowMs: 60_000 } });
    const pinger = await connect();
    let pongs = 0;
    pinger.ws.on('pong', () => pongs++);
    for (let i = 0; i < 30; i++) pinger.ws.ping(String(i));
    expect(await pinger.closed()).toBe(4101);
    expect(gw.gateway.stats.rateLimited).toBe(10);
    // ws answers the admitted pings only; uWS answers every ping itself, before the core sees it.
    if (transport === 'ws') expect(pongs).toBe(5);
  });

  it.skipIf(transport === 'uws')('answers a peer that pings without reading once, with its latest ping, when it reads again', async () => {
    gw = await h.start({ channels: [{ pattern: 'sensor.*', policy: 'drop-oldest' }], inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } });
    const reader = await connect();
    await reader.subscribe('sensor.flood');
    const conn = gw.gateway.connectionList()[0]!;
    reader.ws.pause();
    const publisher = await connect();
    const data = 'x'.repeat(4096);
    // Until the server's socket to the reader is backed up: its queue holds what the socket would not take.
    await until(async () => {
      for (let i = 0; i < 50; i++) publisher.send({ op: 'pub', ch: 'sensor.flood', data });
      await publisher.request({ op: 'ping' });
      return conn.writer.queuedBytes > 0;
    }, 'the reader backed up');
    const payloads: string[] = [];
    reader.ws.on('pong', (p: Buffer) => payloads.push(p.toString()));
    // 200 pings in one write, so the server reads them at once (it stops reading at the second one owed).
    reader.tcp.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => clientFrame(`p${i}`, 0x9))));
    await until(() => gw.gateway.stats.readPauses.replies === 1, 'reading stopped');
    reader.send({ op: 'ping', id: 'last' });
    reader.ws.resume();
    await reader.next((f) => f.ev === 'pong' && f.id === 'last', 30_000);
    expect(payloads).toEqual(['p199']);
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
