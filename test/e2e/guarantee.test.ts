import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type SluiceClient } from '../../src/client/client.js';
import type { Gap } from '../../src/client/subscription.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';
import { recordingWebSocket } from '../client/support.js';
import { RawSubscriber } from '../model/raw-subscriber.js';

/**
 * The delivery guarantee on the paths issue 11 found broken: unsubscribe and subscribe again on a
 * lagging connection, a quiet channel whose only subscriber leaves, sub/unsub/sub in one breath,
 * and gap frames written where their hole is. Every frame is checked by the model's ledger.
 */

const PAD = 'x'.repeat(2000);
/** Enough to fill the loopback socket buffers and then a 32 KiB queue many times over. */
const BURST = 3000;

const lagging = (policy: SlowConsumerPolicy, historySize: number) => ({
  inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
  outbound: { maxQueueBytes: 32 * 1024, maxQueueMessages: 64, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
  channels: [{ pattern: 'feed.*', policy, historySize }],
});

/** Every fourth message updates one hot key; the others carry keys of their own. */
const keyOf = (i: number) => (i % 4 === 0 ? 'hot' : `k${i}`);

/** Publishes `count` messages `{ i, pad }` (keyed by keyOf when `keyed`), then waits for the last ack. */
async function burst(publisher: TestClient, ch: string, from: number, count: number, keyed = false): Promise<number> {
  const frame = (i: number) => ({ op: 'pub', ch, data: { i, pad: PAD }, ...(keyed ? { key: keyOf(i) } : {}) });
  for (let i = from; i < from + count - 1; i++) publisher.send(frame(i));
  const last = await publisher.request(frame(from + count - 1));
  expect(last.ev).toBe('ack');
  return last.seq as number;
}

describe.each(TRANSPORTS)('the delivery guarantee on a lagging connection [%s]', (transport) => {
  const h = gatewayHarness(transport);

  for (const historySize of [0, 100]) {
    it(`unsub then sub again while lagging: no stale message and no gap of the old subscription reaches the new one (history ${historySize})`, async () => {
      const gw = await h.start(lagging('drop-oldest', historySize));
      const publisher = await h.connect();
      const sub = await RawSubscriber.connect(gw.url, 'sub');
      try {
        const first = await sub.sub('feed.a');
        sub.client.tcp.pause();
        const published = await burst(publisher, 'feed.a', 1, BURST);
        const left = sub.unsub('feed.a');
        const again = sub.sub('feed.a');
        sub.client.tcp.resume();
        expect(await left).toMatchObject({ ev: 'ack' });
        const ack = await again;
        // The channel was active a moment ago: it keeps its epoch and seq.
        expect(ack).toMatchObject({ ev: 'ack', epoch: first.epoch, seq: published });
        const last = await burst(publisher, 'feed.a', BURST + 1, 20);
        await sub.settle('feed.a', { epoch: first.epoch as string, seq: last });
        expect(sub.violations).toEqual([]);
        const frames = sub.client.frames;
        const acked = frames.findIndex((f) => f.ev === 'ack' && f.id === ack.id);
        expect(frames.slice(acked).filter((f) => f.ev === 'msg' && (f.data as { i: number }).i <= BURST).map((f) => f.seq)).toEqual([]);
      } finally {
        sub.client.terminate();
      }
    });
  }

  it('the project client: unsubscribe() then subscribe() while lagging delivers every fresh message once, with no gap', async () => {
    const gw = await h.start(lagging('drop-oldest', 0));
    const publisher = await h.connect();
    const ws = recordingWebSocket();
    const client: SluiceClient = createClient(gw.url, { WebSocket: ws.Impl, reconnect: { enabled: false } });
    try {
      const old = client.subscribe('feed.c');
      await old.ready;
      ws.tcp().pause();
      const published = await burst(publisher, 'feed.c', 1, BURST);
      const unsubscribed = old.unsubscribe();
      const seqs: number[] = [];
      const gaps: Gap[] = [];
      const fresh = client.subscribe('feed.c', { onMessage: (m) => void seqs.push(m.seq), onGap: (g) => void gaps.push(g) });
      ws.tcp().resume();
      await unsubscribed;
      await fresh.ready;
      expect(fresh.lastSeq).toBe(published);
      const last = await burst(publisher, 'feed.c', BURST + 1, 100);
      await until(() => seqs.at(-1) === last || gaps.length > 0 || seqs.length > 100);
      expect(gaps).toEqual([]);
      expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => published + 1 + i));
    } finally {
      client.close();
    }
  });

  it('a quiet channel keeps its epoch when its only subscriber disconnects: the resume recovers what was published meanwhile', async () => {
    const gw = await h.start({ channels: [{ pattern: 'user.*', historySize: 100 }] });
    const publisher = await h.connect();
    const first = await h.connect();
    const ack = await first.subscribe('user.42');
    first.terminate();
    await until(() => gw.gateway.connectionCount === 1);
    expect(await publisher.request({ op: 'pub', ch: 'user.42', data: 'while away' })).toMatchObject({ ev: 'ack', seq: 1 });
    const again = await h.connect();
    expect(await again.subscribe('user.42', { since: { epoch: ack.epoch, seq: 0 } })).toMatchObject({ epoch: ack.epoch, seq: 1, recovered: true });
    expect(await again.next((f) => f.ev === 'msg')).toMatchObject({ ch: 'user.42', seq: 1, data: 'while away' });
  });

  it('a channel without history keeps its epoch and seq while active within historyTtlMs', async () => {
    const gw = await h.start({ channels: [{ pattern: 'live.*', historySize: 0 }] });
    const c = await h.connect();
    const ack = await c.subscribe('live.a');
    expect(await c.request({ op: 'pub', ch: 'live.a', data: 1 })).toMatchObject({ seq: 1 });
    await c.request({ op: 'unsub', ch: 'live.a' });
    expect(await c.request({ op: 'pub', ch: 'live.a', data: 2 })).toMatchObject({ seq: 2 });
    const again = await c.subscribe('live.a', { since: { epoch: ack.epoch, seq: 2 } });
    expect(again).toMatchObject({ epoch: ack.epoch, seq: 2, recovered: true });
    expect(gw.gateway.hub.channelCount).toBe(1);
  });

  for (const policy of ['drop-newest', 'conflate', 'drop-oldest'] as const) {
    it(`${policy}: every gap frame sits in the stream exactly where its hole is`, async () => {
      const gw = await h.start(lagging(policy, 0));
      const publisher = await h.connect();
      const sub = await RawSubscriber.connect(gw.url, 'sub');
      try {
        const ack = await sub.sub('feed.g');
        sub.client.tcp.pause();
        await burst(publisher, 'feed.g', 1, BURST, policy === 'conflate');
        const last = await burst(publisher, 'feed.g', BURST + 1, 40, policy === 'conflate');
        sub.client.tcp.resume();
        await sub.settle('feed.g', { epoch: ack.epoch as string, seq: last });
        expect(sub.violations).toEqual([]);
        expect(sub.client.frames.some((f: Frame) => f.ev === 'gap')).toBe(true);
      } finally {
        sub.client.terminate();
      }
    });
  }
});

describe('requests of one connection take effect in the order sent', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  for (const broker of ['memory', 'redis'] as const) {
    it(`sub, unsub, sub sent back to back end subscribed [${broker}]`, async () => {
      const gw: TestGateway = await startGateway(broker === 'redis' ? { broker: { type: 'redis', redis: { url: redis.url, keyPrefix: 'order:' } } } : {});
      const c = await RawSubscriber.connect(gw.url, 'c');
      try {
        if (broker === 'redis') await until(() => gw.gateway.ready);
        const replies = await Promise.all([c.sub('room.o'), c.unsub('room.o'), c.sub('room.o'), c.unsub('room.o'), c.sub('room.o')]);
        expect(replies.map((r) => r.ev)).toEqual(['ack', 'ack', 'ack', 'ack', 'ack']);
        const order = c.client.frames.filter((f) => f.ev === 'ack' || f.ev === 'err').map((f) => f.id);
        expect(order).toEqual(replies.map((r) => r.id));
        const pub = await c.client.request({ op: 'pub', ch: 'room.o', data: 'still subscribed' });
        expect(pub).toMatchObject({ ev: 'ack' });
        await c.client.next((f) => f.ev === 'msg' && f.ch === 'room.o');
        expect(c.violations).toEqual([]);
      } finally {
        c.client.terminate();
        await gw.stop();
      }
    });
  }
});
