import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, stopCluster, type ClusterNode } from '../helpers/cluster.js';
import { TestClient } from '../helpers/client.js';
import { FAILOVER_NODE_FLAGS, runFailover } from '../helpers/failover.js';
import { checkPresenceUnion, PRESENCE_NODE_FLAGS } from '../helpers/presence-union.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedisSentinel, type TestRedisSentinel } from '../../devkit/redis-sentinel.js';
import { startRedisTls, type TestRedisTls } from '../../devkit/redis-tls.js';
import { readyStatus, until } from '../../devkit/until.js';

describe('three nodes on a Sentinel-managed Redis', () => {
  let sentinel: TestRedisSentinel;
  let nodes: ClusterNode[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    nodes = await startCluster(3, 'redis://127.0.0.1:6379', [
      '--broker.redis.sentinel.name', sentinel.name,
      '--broker.redis.sentinel.sentinels', JSON.stringify(sentinel.sentinels),
      ...FAILOVER_NODE_FLAGS,
      ...PRESENCE_NODE_FLAGS,
    ]);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await stopCluster(nodes ?? []);
    await sentinel?.stop();
  }, 30_000);

  it('counts presence across the nodes through the Sentinel-managed master: each member joins and leaves once', async () => {
    await checkPresenceUnion(nodes, ['who.a', 'who.b'], clients);
  });

  it('survives the master SIGKILLed mid-stream: the sentinels promote the replica, every message recovered or announced, nobody disconnected', async () => {
    const before = await sentinel.master();
    await runFailover({ nodes, channels: ['ha.a', 'ha.b'], clients, kill: () => sentinel.killMaster() });
    expect(await sentinel.master()).not.toBe(before);
  }, 90_000);
});

describe('a node on Redis over TLS (rediss://, client certificate required)', () => {
  let redis: TestRedisTls;
  let gateway: TestGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedisTls();
    gateway = await startGateway({ broker: { type: 'redis', redis: { url: redis.url, tls: { ca: redis.ca, cert: redis.cert, key: redis.key } } } });
    // The TLS handshake may finish after the listener opens; a subscribe before it is answered unavailable.
    await until(async () => (await readyStatus(gateway.httpUrl)) === 200, 'the node to be ready over TLS');
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await gateway?.stop();
    await redis?.stop();
  });

  it('publishes and delivers through the TLS connection', async () => {
    const [sub, pub] = await Promise.all([TestClient.connect(gateway.url), TestClient.connect(gateway.url)]);
    clients.push(sub, pub);
    await sub.subscribe('tls.room');
    for (let i = 1; i <= 5; i++) expect(await pub.request({ op: 'pub', ch: 'tls.room', data: { i } })).toMatchObject({ ev: 'ack', seq: i });
    const msgs = await sub.waitForCount((f) => f.ev === 'msg' && f.ch === 'tls.room', 5);
    expect(msgs.map((m) => m.data)).toEqual([1, 2, 3, 4, 5].map((i) => ({ i })));
  });
});
