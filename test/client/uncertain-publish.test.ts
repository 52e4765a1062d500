import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { readyStatus, until } from '../../devkit/until.js';
import WebSocket from 'ws';
import type { WebSocketConstructor } from '../../src/client/transport.js';
import { collector, harness } from './support.js';

/**
 * A publication Redis may have run without answering (`publish_uncertain`): the client sends it
 * again with its pid until an answer is certain, so the channel has it exactly once.
 */
describe('client publishing through a Redis that hangs', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    redis?.thaw();
    await redis?.stop();
  });
  const h = harness('ws');
  const readyIs = (httpUrl: string, status: number) => until(async () => (await readyStatus(httpUrl)) === status, `/readyz ${status}`);

  it('retries a publish answered publish_uncertain with its pid: delivered once, acked with the seq it was given', async () => {
    const gw = await h.gateway({ broker: { type: 'redis', redis: { url: redis.url, keyPrefix: 'uncertain:', commandTimeoutMs: 300 } } });
    await readyIs(gw.httpUrl, 200);
    // Every frame the publisher sends, to see the retry carry the first attempt's pid.
    const sent: Array<Record<string, unknown>> = [];
    class Recording extends WebSocket {
      override send(data: string): void {
        sent.push(JSON.parse(data) as Record<string, unknown>);
        super.send(data);
      }
    }
    const publisher = h.client(gw.url, { WebSocket: Recording as unknown as WebSocketConstructor });
    const got = collector();
    const subscriber = h.client(gw.url);
    await subscriber.subscribe('chat.once', got).ready;
    expect((await publisher.publish('chat.once', 'first')).seq).toBe(1);
    await got.until(1);

    redis.freeze(); // the publication reaches Redis, which answers nothing past commandTimeoutMs
    const uncertain = publisher.publish('chat.once', 'second');
    await until(() => sent.filter((f) => f.data === 'second').length >= 2, 'the publish sent again while Redis hangs');
    await readyIs(gw.httpUrl, 503);
    redis.thaw(); // Redis runs what it received: 'second' is published once, at seq 2
    expect(await uncertain).toMatchObject({ channel: 'chat.once', seq: 2 });
    expect((await publisher.publish('chat.once', 'third')).seq).toBe(3);
    await got.until(3);
    expect(got.seqs).toEqual([1, 2, 3]);
    expect(got.gaps).toEqual([]);
    const attempts = sent.filter((f) => f.op === 'pub' && f.data === 'second');
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(attempts.map((f) => f.pid)).size).toBe(1);
    expect(typeof attempts[0]!.pid).toBe('string');
  }, 30_000);
});
