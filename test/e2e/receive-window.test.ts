import { describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../helpers/client.js';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

/**
 * The receive window (docs/protocol.md, `window`, `recv`) end to end: what the server holds back
 * is its own count of what it wrote beyond the client's reports, and the client's count (every
 * event from the window's ack on: its UTF-8 bytes plus one) must match it exactly, on both
 * transports, with and without batch frames, through uWS topics on `uws`.
 */
const BATCH = ['sluice', 'sluice.batch'];

/** What the client received since the window's ack (the frame its `request` returned), counted as the protocol says. */
function countSinceAck(client: TestClient, ack: Frame): number {
  const at = client.frames.indexOf(ack);
  if (at < 0) throw new Error('not an ack this client received');
  return client.texts.slice(at).reduce((n, t) => n + Buffer.byteLength(t) + 1, 0);
}

describe.each(TRANSPORTS)('receive window [%s]', (transport) => {
  let gw: TestGateway;
  const h = gatewayHarness(transport);

  it('asks and reports: bounds, a report above what was written, a report with no window, a window without an id', async () => {
    gw = await h.start({ outbound: { minReceiveWindowBytes: 16 * 1024, maxReceiveWindowBytes: 1024 * 1024 } });
    const c = await h.connect();
    expect(await c.request({ op: 'recv', bytes: 0 })).toMatchObject({ ev: 'err', code: 'bad_window' });
    expect(await c.request({ op: 'window', bytes: 1000 })).toMatchObject({ ev: 'err', code: 'bad_window', msg: 'window must be 16384 to 1048576 bytes' });
    expect(await c.request({ op: 'window', bytes: 2 * 1024 * 1024 })).toMatchObject({ ev: 'err', code: 'bad_window' });
    c.send({ op: 'window', bytes: 20_000 });
    expect(await c.next((f) => f.ev === 'err' && f.code === 'bad_frame')).toMatchObject({ msg: expect.stringContaining('id') });
    const ack = await c.request({ op: 'window', bytes: 20_000 });
    expect(ack).toEqual({ ev: 'ack', id: ack.id, window: 20_000 });
    const sent = countSinceAck(c, ack);
    expect(await c.request({ op: 'recv', bytes: sent + 1000 })).toMatchObject({ ev: 'err', code: 'bad_window' });
    // The err above and this request's ack count too: report what was received before them.
    expect(await c.request({ op: 'recv', bytes: sent })).toMatchObject({ ev: 'ack' });
    expect(await c.request({ op: 'recv', bytes: sent - 1 })).toMatchObject({ ev: 'err', code: 'bad_window' });
  });

  for (const batch of [false, true]) {
    it(`a client that reads but does not report is shed after its window, not after the kernel's buffers; its reports let the rest go${batch ? ' (batch frames)' : ''}`, async () => {
      const WINDOW = 16 * 1024;
      const TOTAL = 300;
      gw = await h.start({
        outbound: { maxQueueBytes: 64 * 1024, maxQueueMessages: 10_000, softQueueBytes: 0, minReceiveWindowBytes: WINDOW },
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }],
      });
      const c = await h.connect(batch ? { offer: BATCH } : {});
      const ack = await c.request({ op: 'window', bytes: WINDOW });
      await c.subscribe('feed.x');
      const conn = gw.gateway.connectionList()[0]!;
      const publisher = await h.connect();
      // Non-ASCII data: the count is in UTF-8 bytes.
      for (let i = 0; i < TOTAL; i++) publisher.send({ op: 'pub', ch: 'feed.x', data: { i, pad: 'é'.repeat(500) } });
      await publisher.request({ op: 'ping' });
      // The client reads everything written, and no report came: the server holds the rest.
      const window = () => conn.writer.receiveWindow!;
      await c.until(() => countSinceAck(c, ack) === window().sent, 10_000, 'the client has what was written');
      const frameBytes = Math.max(...c.texts.map((t) => Buffer.byteLength(t) + 1));
      expect(window().sent).toBeGreaterThan(WINDOW);
      expect(window().sent).toBeLessThanOrEqual(WINDOW + frameBytes);
      expect(conn.writer.queuedMessages).toBeGreaterThan(0);
      expect(gw.gateway.stats.shed.dropped).toBeGreaterThan(0);
      expect(gw.gateway.stats.windowWaits).toBeGreaterThan(0);
      // Each report lets a window more go, until the queue is empty: the newest message arrives,
      // and every seq was delivered or announced by a gap, in order.
      for (let i = 0; i < 100 && !c.frames.some((f) => f.ev === 'msg' && f.seq === TOTAL); i++) {
        const count = countSinceAck(c, ack);
        await c.request({ op: 'recv', bytes: count });
        await c.until(() => countSinceAck(c, ack) === window().sent, 10_000, 'the client has what was written');
      }
      expect(c.frames.some((f) => f.ev === 'err')).toBe(false);
      let last = 0;
      let accounted = 0;
      for (const f of c.frames) {
        if (f.ev === 'msg') {
          expect(f.seq as number).toBeGreaterThan(last);
          last = f.seq as number;
          accounted++;
        } else if (f.ev === 'gap') {
          expect(f.from as number).toBe(last + 1);
          last = f.to as number;
          accounted += f.n as number;
        }
      }
      expect(last).toBe(TOTAL);
      expect(accounted).toBe(TOTAL);
    });
  }

  it('a windowed subscriber among caught-up ones: every frame counted, whole and in order, on a channel that used topics before the window', async () => {
    const TOTAL = 200;
    gw = await h.start({ channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }] });
    const w = await h.connect();
    const other = await h.connect();
    await w.subscribe('feed.x');
    await other.subscribe('feed.x');
    const publisher = await h.connect();
    // One publication per turn at first: on uws the channel publishes through its topic.
    for (let i = 0; i < 20; i++) await publisher.request({ op: 'pub', ch: 'feed.x', data: { i } });
    await w.waitForCount((f) => f.ev === 'msg', 20);
    const { hub } = gw.gateway;
    if (transport === 'uws') expect(hub.topicPublications).toBeGreaterThan(0);
    const ack = await w.request({ op: 'window', bytes: 16 * 1024 });
    const topicAtWindow = hub.topicPublications;
    for (let i = 20; i < TOTAL; i++) {
      await publisher.request({ op: 'pub', ch: 'feed.x', data: { i } });
      if (i % 10 === 0) await w.request({ op: 'recv', bytes: countSinceAck(w, ack) });
    }
    const msgs = await w.waitForCount((f) => f.ev === 'msg', TOTAL);
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    expect(await w.request({ op: 'recv', bytes: countSinceAck(w, ack) })).toMatchObject({ ev: 'ack' });
    expect(w.frames.some((f) => f.ev === 'err')).toBe(false);
    expect((await other.waitForCount((f) => f.ev === 'msg', TOTAL)).length).toBe(TOTAL);
    // The windowed subscriber's channel publishes per subscriber from its window on (a topic cannot count per connection).
    expect(hub.topicPublications).toBe(topicAtWindow);
  });
});
