import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { KeyNames } from '../../src/broker/redis-scripts.js';
import { readyStatus, until } from '../../devkit/until.js';
import type { Frame, TestClient } from '../helpers/client.js';
import { manualClock } from '../helpers/clock.js';
import type { DeepPartial, TestGateway } from '../helpers/gateway.js';
import { gatewayHarness, redisHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';
import type { ConfigInput } from '../../src/config/schema.js';

/** The broker's bounds, each at its edge: what a joiner may hold, how long a pid is remembered, how many publications go in one Redis call. */
describe.each(TRANSPORTS)('broker bounds [%s]', (transport) => {
  const h = gatewayHarness(transport);
  const seqs = (frames: Frame[]): unknown[] => frames.map((f) => f.seq);
  /** Publishes `data` to `ch` (with `pid`, if given) and returns the ack's seq. */
  const publish = async (c: TestClient, ch: string, data: unknown, pid?: string): Promise<unknown> => {
    const ack = await c.request({ op: 'pub', ch, data, ...(pid === undefined ? {} : { pid }) });
    expect(ack).toMatchObject({ ev: 'ack' });
    return ack.seq;
  };

  describe('broker.publicationIdTtlMs, memory broker (on the gateway clock)', () => {
    it('acks a pid repeated 1 ms before the TTL with its first seq, publishing nothing; at the TTL the pid is forgotten and published again', async () => {
      const clock = manualClock(Date.now());
      await h.start({ broker: { publicationIdTtlMs: 10_000 } }, clock);
      const [sub, pub] = [await h.connect(), await h.connect()];
      await sub.subscribe('orders.eu');
      expect(await publish(pub, 'orders.eu', 'first', 'order-1')).toBe(1);
      clock.advance(9_999);
      expect(await publish(pub, 'orders.eu', 'again', 'order-1')).toBe(1);
      expect(await publish(pub, 'orders.eu', 'other', 'order-2')).toBe(2);
      clock.advance(1);
      expect(await publish(pub, 'orders.eu', 'after', 'order-1')).toBe(3);
      expect(await publish(pub, 'orders.eu', 'retry', 'order-2')).toBe(2); // remembered from 1 ms later
      await sub.waitForCount((f) => f.ev === 'msg', 3);
      await pub.request({ op: 'ping' });
      expect(sub.messages('orders.eu').map((m) => m.data)).toEqual(['first', 'other', 'after']);
    });

    it('with 0 remembers no pid: a repeat is published again', async () => {
      await h.start({ broker: { publicationIdTtlMs: 0 } });
      const [sub, pub] = [await h.connect(), await h.connect()];
      await sub.subscribe('orders.eu');
      expect([await publish(pub, 'orders.eu', 'a', 'order-1'), await publish(pub, 'orders.eu', 'a', 'order-1')]).toEqual([1, 2]);
      expect(seqs(await sub.waitForCount((f) => f.ev === 'msg', 2))).toEqual([1, 2]);
    });
  });

  describe('on Redis', () => {
    const suite = redisHarness();
    let prefix = 0;
    afterEach(() => {
      vi.restoreAllMocks();
    });
    /** A node on the suite's Redis, on a key prefix of its own; resolves once it is ready. */
    const node = async (overrides: DeepPartial<ConfigInput> = {}): Promise<{ names: KeyNames; gw: TestGateway }> => {
      const keyPrefix = `bb${prefix++}:`;
      const gw = await h.start({ ...overrides, broker: { ...overrides.broker, type: 'redis', redis: { url: suite.redis.url, keyPrefix, ...overrides.broker?.redis } } });
      await until(async () => (await readyStatus(gw.httpUrl)) === 200, 'node ready');
      return { names: new KeyNames(keyPrefix), gw };
    };

    /**
     * Holds the answer of the node's next history read (the read itself goes to Redis at once)
     * until `release`: live publications meanwhile are held for the joiner, as when Redis is slow.
     */
    const holdNextRead = (): { started: Promise<void>; release: () => void } => {
      let started!: () => void;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const hold = { started: new Promise<void>((resolve) => (started = resolve)), release };
      const { history } = RedisBroker.prototype;
      const spy = vi.spyOn(RedisBroker.prototype, 'history').mockImplementation(function (this: RedisBroker, ...args) {
        spy.mockRestore();
        const read = history.apply(this, args);
        started();
        return released.then(() => read);
      });
      return hold;
    };

    it('broker.maxHeldPublications: a joiner whose history read is out holds exactly that many live publications and gets them in order; one more fails its sub with unavailable', async () => {
      await node({ broker: { maxHeldPublications: 3 } });
      const [watcher, pub, joiner, late] = [await h.connect(), await h.connect(), await h.connect(), await h.connect()];
      // The stream exists before the node follows it (no repair from a provisional position meanwhile).
      await publish(pub, 'chat.held', 1);
      await watcher.subscribe('chat.held'); // keeps the node on the channel's live stream
      // At the bound: 3 publications arrive while the joiner's read is out.
      let read = holdNextRead();
      const joined = joiner.request({ op: 'sub', ch: 'chat.held' });
      await read.started;
      for (let i = 2; i <= 4; i++) await publish(pub, 'chat.held', i);
      await watcher.waitForCount((f) => f.ev === 'msg', 3); // the node has handed them on: the joiner holds 3
      read.release();
      expect(await joined).toMatchObject({ ev: 'ack', seq: 1 });
      expect(seqs(await joiner.waitForCount((f) => f.ev === 'msg', 3))).toEqual([2, 3, 4]);
      // One past it: the 4th publication during the read fails the join (it could not be served gap-free).
      read = holdNextRead();
      const refused = late.request({ op: 'sub', ch: 'chat.held' });
      await read.started;
      for (let i = 5; i <= 8; i++) await publish(pub, 'chat.held', i);
      expect(await refused).toMatchObject({ ev: 'err', code: 'unavailable' });
      read.release();
      // The joiner at the bound goes on as a plain subscriber; the refused one may subscribe again.
      expect(seqs(await joiner.waitForCount((f) => f.ev === 'msg', 7))).toEqual([2, 3, 4, 5, 6, 7, 8]);
      expect(await late.subscribe('chat.held')).toMatchObject({ ev: 'ack', seq: 8 });
      await publish(pub, 'chat.held', 9);
      expect(seqs(await late.waitForCount((f) => f.ev === 'msg', 1))).toEqual([9]);
      expect(late.frames.filter((f) => f.ev === 'err')).toHaveLength(1);
    });

    it('broker.publicationIdTtlMs: the pid key lives that long in Redis; a repeat within it is acked with the first seq, after it published again', async () => {
      // Redis expires the key on its own clock, so the repeat must land within the TTL in real time:
      // 3 s leaves a loaded CI machine room for it, and the wait for the expiry below stays short.
      const { names } = await node({ broker: { publicationIdTtlMs: 3_000 } });
      const inspect = suite.redis.client();
      const [sub, pub] = [await h.connect(), await h.connect()];
      await sub.subscribe('orders.eu');
      expect(await publish(pub, 'orders.eu', 'first', 'order-1')).toBe(1);
      expect(await publish(pub, 'orders.eu', 'again', 'order-1')).toBe(1);
      const key = names.publicationId('orders.eu', 'order-1');
      const ttl = await inspect.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3_000);
      await until(async () => (await inspect.exists(key)) === 0, 'the pid key expired');
      expect(await publish(pub, 'orders.eu', 'after', 'order-1')).toBe(2);
      expect((await sub.waitForCount((f) => f.ev === 'msg', 2)).map((m) => m.data)).toEqual(['first', 'after']);
    });

    it('broker.publicationIdTtlMs 0: no pid key is written and a repeat is published again', async () => {
      await node({ broker: { publicationIdTtlMs: 0 } });
      const inspect = suite.redis.client();
      const pub = await h.connect();
      expect([await publish(pub, 'orders.eu', 'a', 'order-1'), await publish(pub, 'orders.eu', 'a', 'order-1')]).toEqual([1, 2]);
      expect(await inspect.keys(`bb${prefix - 1}:*p:*`)).toEqual([]);
    });

    it('broker.redis.maxPublishBatch 2: a burst is sent in script calls of at most 2 publications, every one acked and delivered in order', async () => {
      const KEY = 'backend-key-0123456789abcdef';
      const { names, gw } = await node({ broker: { redis: { maxPublishBatch: 2 } }, httpApi: { apiKeys: [KEY] } });
      // Every publish script call Redis runs, as MONITOR shows it (EVAL or EVALSHA, the script, the key count,
      // the keys, then ARGV: the pub/sub channel first, 8 more fixed arguments, then a pid flag and a body per publication).
      const topic = names.topic('chat.batch');
      const perCall: number[] = [];
      const monitor = await suite.redis.client().monitor();
      monitor.on('monitor', (_time: string, args: string[]) => {
        const numKeys = Number(args[2]);
        if (!/^eval(sha)?$/i.test(args[0]!) || args[3 + numKeys] !== topic) return;
        perCall.push((args.length - 3 - numKeys - 9) / 2);
      });
      try {
        const [sub, pub] = [await h.connect(), await h.connect()];
        await sub.subscribe('chat.batch');
        // One HTTP batch: its 7 publications are made in one loop turn.
        const res = await fetch(`${gw.httpUrl}/api/publish/batch`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ publications: Array.from({ length: 7 }, (_, i) => ({ ch: 'chat.batch', data: i + 1 })) }),
        });
        expect(res.status).toBe(202);
        expect(((await res.json()) as { results: Array<{ seq: number }> }).results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        // And 7 more from a WebSocket client, sent without waiting.
        const acks = Array.from({ length: 7 }, (_, i) => pub.request({ op: 'pub', ch: 'chat.batch', data: i + 8 }));
        expect((await Promise.all(acks)).map((a) => [a.ev, a.seq])).toEqual(Array.from({ length: 7 }, (_, i) => ['ack', i + 8]));
        const msgs = await sub.waitForCount((f) => f.ev === 'msg', 14);
        expect(msgs.map((m) => [m.seq, m.data])).toEqual(Array.from({ length: 14 }, (_, i) => [i + 1, i + 1]));
        await until(() => perCall.reduce((a, b) => a + b, 0) === 14, 'MONITOR saw every publication');
        expect(Math.max(...perCall)).toBe(2); // batched, and never past the bound
        expect(perCall.length).toBeGreaterThanOrEqual(7);
      } finally {
        monitor.disconnect();
      }
    });
  });
});
