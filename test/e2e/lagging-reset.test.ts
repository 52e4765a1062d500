import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers/client.js';
import { fillSocket } from '../helpers/fill.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { redisHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';
import { RawSubscriber } from '../model/raw-subscriber.js';

/**
 * A broker notice (`reset`, `unavailable`) queued for a lagging subscriber is a place in its
 * stream like a message: the gaps of messages shed after it, of the stream it moves to, follow it;
 * those of messages before it precede it. Every frame is checked by the model's ledger.
 */

const BALLAST = 'y'.repeat(60_000);

describe.each(TRANSPORTS)('a Redis reset reaches a lagging subscriber in seq position [%s]', (transport) => {
  const suite = redisHarness();
  let gw: TestGateway | undefined;
  const clients: Array<{ terminate(): void }> = [];
  let prefix = 0;

  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await gw?.stop();
    gw = undefined;
  });

  const start = async (policy: 'drop-newest' | 'drop-oldest' | 'conflate') => {
    gw = await startGateway(
      {
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        outbound: { maxQueueBytes: 32 * 1024, maxQueueMessages: 16, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
        channels: [
          { pattern: 'feed.*', policy, historySize: 10 },
          { pattern: 'ballast.*', policy: 'drop-oldest', historySize: 0 },
        ],
        broker: { type: 'redis', redis: { url: suite.redis.url, keyPrefix: `lr${transport}${prefix++}:`, reconnectMinMs: 5, reconnectMaxMs: 50 } },
      },
      transport,
    );
    await until(() => gw!.gateway.ready, 'node ready');
    return gw;
  };

  /** Redis loses its data and comes back; resolves once the node has repaired the channel (its notice sent). */
  const restartRedis = async (node: TestGateway) => {
    const notices = node.gateway.hub.notices;
    await suite.redis.kill();
    await until(() => !node.gateway.ready, 'node not ready');
    await suite.redis.restart();
    await until(() => node.gateway.ready && node.gateway.hub.notices > notices, 'node repaired');
  };

  for (const policy of ['drop-newest', 'drop-oldest', 'conflate'] as const) {
    it(`${policy}: gaps of the new stream follow the reset, those of the old one precede it`, async () => {
      const node = await start(policy);
      const sub = await RawSubscriber.connect(node.url, 'sub');
      const publisher = await TestClient.connect(node.url);
      clients.push(sub, publisher);
      const keyed = policy === 'conflate';
      const publish = async (from: number, n: number) => {
        const replies = await Promise.all(
          Array.from({ length: n }, (_, i) => publisher.request({ op: 'pub', ch: 'feed.r', data: { i: from + i }, ...(keyed ? { key: `k${(from + i) % 3}` } : {}) })),
        );
        expect(replies.map((r) => r.ev)).toEqual(replies.map(() => 'ack'));
      };
      await sub.sub('feed.r');
      await sub.sub('ballast.r');
      // Messages of the old stream, some shed for the subscriber once its socket is full.
      await publish(1, 3);
      await sub.settle('feed.r', { epoch: (await publisher.subscribe('feed.r')).epoch as string, seq: 3 });
      sub.pause();
      const filled = await fillSocket(node, sub.conn, () => Promise.all(Array.from({ length: 8 }, () => publisher.request({ op: 'pub', ch: 'ballast.r', data: BALLAST }))));
      expect(filled).toBe(true);
      await publish(4, 20);
      await restartRedis(node);
      // The new stream: more than the queue holds.
      await publish(1, 20);
      sub.resume();
      const probe = await TestClient.connect(node.url);
      clients.push(probe);
      const at = await probe.subscribe('feed.r');
      expect(at.seq).toBe(20);
      await sub.settle('feed.r', { epoch: at.epoch as string, seq: 20 });
      expect(sub.violations).toEqual([]);
      const frames = sub.client.frames.filter((f) => f.ch === 'feed.r' && f.ev === 'gap').map((f) => `${String(f.reason)} ${String(f.from)}`);
      expect(frames.filter((f) => f.startsWith('reset'))).toHaveLength(1);
      expect(frames.length).toBeGreaterThan(1);
    }, 30_000);
  }
});
