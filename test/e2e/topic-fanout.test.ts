import { describe, expect, it } from 'vitest';
import { shedFor } from '../helpers/fill.js';
import { gatewayHarness } from '../helpers/harness.js';
import { RawSubscriber } from '../model/raw-subscriber.js';
import type { Position } from '../model/ledger.js';
import type { TestClient } from '../helpers/client.js';

/**
 * uWS's own fan-out for caught-up subscribers (`outbound.uwsTopicFanout`, docs/architecture.md
 * "uWS topics"), on real sockets: which publications take it, that a stopped reader leaves it
 * through the backpressure read (and is shed and told, never dropped unseen), and that it can be
 * turned off. Streams are checked frame by frame by the model's ledger.
 */

const UNLIMITED = { inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } };
const ON = { ...UNLIMITED, outbound: { uwsTopicFanout: true } };

async function positionOf(client: TestClient, ch: string): Promise<Position> {
  const ack = await client.subscribe(ch);
  return { epoch: ack.epoch as string, seq: ack.seq as number };
}

describe('uWS topic fan-out', () => {
  const h = gatewayHarness('uws');

  for (const on of [true, false]) {
    it(`publications one per turn to caught-up subscribers ${on ? 'go through the channel topic' : 'are written per subscriber (uwsTopicFanout false)'}, every one delivered once, in order, and counted`, async () => {
      const gw = await h.start({ ...UNLIMITED, outbound: { uwsTopicFanout: on } });
      const subs = await Promise.all(Array.from({ length: 20 }, (_, i) => RawSubscriber.connect(gw.url, `s${i}`)));
      try {
        await Promise.all(subs.map((s) => s.sub('feed.a')));
        const publisher = await h.connect();
        const { hub, stats } = gw.gateway;
        const out = stats.messagesOut;
        const total = 200;
        for (let i = 0; i < total; i++) expect(await publisher.request({ op: 'pub', ch: 'feed.a', data: { i } })).toMatchObject({ ev: 'ack', seq: i + 1 });
        const at = await positionOf(await h.connect(), 'feed.a');
        for (const s of subs) await s.settle('feed.a', at);
        expect(subs.flatMap((s) => s.violations)).toEqual([]);
        // Their acks were written and flushed before the first publication: every one finds them caught up.
        expect(hub.topicPublications).toBe(on ? total : 0);
        // Each delivery counted once, whichever path it took (with the publisher's acks, the probe's hello and ack).
        expect(stats.messagesOut - out).toBe(total * subs.length + total + 2);
      } finally {
        for (const s of subs) s.terminate();
      }
    });
  }

  it('a subscriber with frames of its own (pongs, acks, another channel) keeps every stream in order across the switches', async () => {
    const gw = await h.start(ON);
    const busy = await RawSubscriber.connect(gw.url, 'busy');
    const quiet = await RawSubscriber.connect(gw.url, 'quiet');
    try {
      await Promise.all([busy.sub('feed.a'), busy.sub('feed.b'), quiet.sub('feed.a')]);
      const publisher = await h.connect();
      for (let i = 0; i < 300; i++) {
        if (i % 3 === 0) busy.client.send({ op: 'ping' });
        if (i % 5 === 0) busy.client.send({ op: 'pub', ch: 'feed.b', data: { i } });
        if (i % 7 === 0) publisher.send({ op: 'pub', ch: 'feed.a', data: { burst: i } });
        await publisher.request({ op: 'pub', ch: 'feed.a', data: { i } });
      }
      const probe = await h.connect();
      const [a, b] = [await positionOf(probe, 'feed.a'), await positionOf(probe, 'feed.b')];
      await Promise.all([busy.settle('feed.a', a), busy.settle('feed.b', b), quiet.settle('feed.a', a)]);
      expect([...busy.violations, ...quiet.violations]).toEqual([]);
      // Which turns found the busy subscriber caught up depends on how reads fall; the topic was taken (the model test checks both paths).
      expect(gw.gateway.hub.topicPublications).toBeGreaterThan(0);
    } finally {
      busy.terminate();
      quiet.terminate();
    }
  });

  it('a stopped reader leaves the topic at its high-water mark: it is shed for and told by gaps, the others get everything', async () => {
    const gw = await h.start({ ...UNLIMITED, outbound: { highWaterMarkBytes: 16 * 1024, maxQueueBytes: 32 * 1024, softQueueBytes: 0, uwsTopicFanout: true }, channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }] });
    const stopped = await RawSubscriber.connect(gw.url, 'stopped');
    const reader = await RawSubscriber.connect(gw.url, 'reader');
    try {
      await Promise.all([stopped.sub('feed.a'), reader.sub('feed.a')]);
      const publisher = await h.connect();
      const { hub } = gw.gateway;
      stopped.pause();
      const data = 'x'.repeat(4096);
      // One per turn: while both are caught up each goes through the topic; only the backpressure read can take the stopped one off it.
      let published = 0;
      while (shedFor(gw, stopped.conn) === 0 && published < 5000) {
        await publisher.request({ op: 'pub', ch: 'feed.a', data });
        published++;
      }
      expect(shedFor(gw, stopped.conn)).toBeGreaterThan(0);
      const topicBefore = hub.topicPublications;
      expect(topicBefore).toBeGreaterThan(0);
      // While it stays behind, its channel writes per subscriber.
      for (let i = 0; i < 20; i++) await publisher.request({ op: 'pub', ch: 'feed.a', data });
      expect(hub.topicPublications).toBe(topicBefore);
      stopped.resume();
      const at = await positionOf(await h.connect(), 'feed.a');
      await Promise.all([stopped.settle('feed.a', at), reader.settle('feed.a', at)]);
      expect([...stopped.violations, ...reader.violations]).toEqual([]);
      expect(stopped.ledger('feed.a').position).toEqual(at);
    } finally {
      stopped.terminate();
      reader.terminate();
    }
  });
});

describe('the ws transport has no topics', () => {
  const h = gatewayHarness('ws');
  it('every publication is written per subscriber, whatever uwsTopicFanout says', async () => {
    const gw = await h.start({ ...UNLIMITED, outbound: { uwsTopicFanout: true } });
    const sub = await h.connect();
    await sub.subscribe('feed.a');
    const publisher = await h.connect();
    for (let i = 0; i < 10; i++) await publisher.request({ op: 'pub', ch: 'feed.a', data: i });
    await sub.waitForCount((f) => f.ev === 'msg', 10);
    expect(gw.gateway.hub.topics).toBeUndefined();
    expect(gw.gateway.hub.topicPublications).toBe(0);
  });
});
