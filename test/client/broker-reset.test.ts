import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientOptions } from '../../src/client/client.js';
import type { Gap } from '../../src/client/subscription.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { readyStatus, until } from '../../devkit/until.js';
import { collector, harness, nextEvent, recordingWebSocket } from './support.js';

/**
 * The client on a gateway whose Redis is killed and started again empty: the server's `reset`
 * notice moves each subscription to the channel's new epoch, and nothing after it is lost.
 */
describe.each(TRANSPORTS)('client across a Redis restart [%s]', (transport) => {
  let redis: TestRedis;
  let prefix = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const h = harness(transport);
  const client = (url: string, options: ClientOptions = {}) => h.client(url, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options });
  const readyIs = (httpUrl: string, status: number) => until(async () => (await readyStatus(httpUrl)) === status, `/readyz ${status}`);

  it('moves to the new epoch, reports the old epoch lost from where it stopped, and delivers every new message', async () => {
    const gw = await h.gateway({ broker: { type: 'redis', redis: { url: redis.url, keyPrefix: `reset${prefix++}:`, reconnectMaxMs: 200 } } });
    await readyIs(gw.httpUrl, 200);
    const ws = recordingWebSocket();
    const subscriber = client(gw.url, { WebSocket: ws.Impl });
    const publisher = client(gw.url);
    const got = collector();
    const sub = subscriber.subscribe('chat.reset', got);
    await sub.ready;
    const oldEpoch = sub.epoch!;
    for (let i = 1; i <= 5; i++) await publisher.publish('chat.reset', i);
    await got.until(5);

    await redis.kill();
    await readyIs(gw.httpUrl, 503);
    await redis.restart();
    await readyIs(gw.httpUrl, 200);
    await got.until(6); // the notice
    expect(got.gaps).toEqual([{ type: 'gap', channel: 'chat.reset', from: 1, to: 0, n: 0, reason: 'reset', epoch: sub.epoch, previous: { epoch: oldEpoch, seq: 5 } }]);
    expect(sub.epoch).not.toBe(oldEpoch);

    const acks = [];
    for (let i = 6; i <= 8; i++) acks.push((await publisher.publish('chat.reset', i)).seq);
    expect(acks).toEqual([1, 2, 3]);
    await got.until(9);
    expect(got.seqs).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
    expect(sub.counters).toMatchObject({ messages: 8, duplicates: 0, gaps: 1 });

    // A resume after the reset starts from the new epoch's position: nothing lost, nothing twice.
    ws.sockets.at(-1)!.terminate();
    await nextEvent(subscriber, 'connected');
    expect((await publisher.publish('chat.reset', 9)).seq).toBe(4);
    await got.until(10);
    expect(got.seqs).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4]);
    expect(got.gaps).toHaveLength(1);
    expect(sub.counters).toMatchObject({ duplicates: 0, resumes: 1 });
  });

  it('on a second node, under publishing that goes on across the restart, accounts for every acknowledged message', async () => {
    const redisConfig = { url: redis.url, keyPrefix: `reset${prefix++}:`, reconnectMaxMs: 200 };
    const a = await h.gateway({ broker: { type: 'redis', redis: redisConfig } });
    const b = await h.gateway({ broker: { type: 'redis', redis: redisConfig } });
    await Promise.all([readyIs(a.httpUrl, 200), readyIs(b.httpUrl, 200)]);
    const subscriber = client(a.url);
    const publisher = client(b.url);
    const events: Array<{ epoch: string; seq: number } | Gap> = [];
    const sub = subscriber.subscribe('chat.busy', { onMessage: (m) => events.push({ epoch: sub.epoch!, seq: m.seq }), onGap: (g) => events.push(g) });
    await sub.ready;
    const oldEpoch = sub.epoch!;

    // Publishes without pause, retrying what Redis refused; counts acks after the restart.
    const acked: Array<{ seq: number; afterRestart: boolean }> = [];
    let restarted = false;
    let stop = false;
    const publishing = (async () => {
      for (let i = 0; !stop; i++) {
        const afterRestart = restarted;
        try {
          acked.push({ seq: (await publisher.publish('chat.busy', i)).seq, afterRestart });
        } catch (error) {
          // In flight when Redis died: publish_uncertain (it may have been published); after: unavailable.
          expect(['unavailable', 'publish_uncertain']).toContain((error as { code: string }).code);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
    await until(() => acked.length >= 20, 'acks before the kill');
    await redis.kill();
    await Promise.all([readyIs(a.httpUrl, 503), readyIs(b.httpUrl, 503)]);
    await redis.restart();
    restarted = true;
    await until(() => acked.filter((x) => x.afterRestart).length >= 50, 'acks after the restart');
    stop = true;
    await publishing;
    const newEpoch = sub.epoch!;
    const last = acked.at(-1)!.seq;
    await until(() => events.some((e) => !('type' in e) && e.epoch === newEpoch && e.seq === last), 'the last acknowledged message');

    const gaps = events.filter((e): e is Gap => 'type' in e);
    expect(gaps).toHaveLength(1);
    const reset = gaps[0]!;
    expect(reset).toMatchObject({ reason: 'reset', epoch: newEpoch, from: 1, previous: { epoch: oldEpoch } });
    expect(newEpoch).not.toBe(oldEpoch);
    const at = events.indexOf(reset);
    const before = events.slice(0, at) as Array<{ epoch: string; seq: number }>;
    const after = events.slice(at + 1) as Array<{ epoch: string; seq: number }>;
    // Old epoch: 1…k without a hole, and the notice names k; new epoch: every message after the
    // notice's range up to the last one acknowledged, without a hole.
    expect(before.map((e) => e.seq)).toEqual(Array.from({ length: before.length }, (_, i) => i + 1));
    expect(reset.previous!.seq).toBe(before.length);
    expect(after.every((e) => e.epoch === newEpoch)).toBe(true);
    expect(after.map((e) => e.seq)).toEqual(Array.from({ length: last - reset.to }, (_, i) => reset.to + 1 + i));
    expect(sub.counters.duplicates).toBe(0);
    console.log(`client across a Redis restart [${transport}]: ${JSON.stringify({ oldDelivered: before.length, newSkipped: reset.to, newDelivered: after.length, acked: acked.length })}`);
  });
});
