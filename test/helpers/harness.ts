import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { TestClient, type TestClientOptions } from './client.js';
import { readyStatus, until } from '../../devkit/until.js';
import { startGateway, type TestGateway } from './gateway.js';
import type { TransportName } from './transports.js';
import type { Clock } from '../../src/util/clock.js';

type Overrides = Parameters<typeof startGateway>[0];

/**
 * The gateways and clients of one suite, released after every test: clients terminated,
 * gateways shut down (shutdown is idempotent, so a test may stop its gateway itself).
 */
export function gatewayHarness(transport: TransportName) {
  const gateways: TestGateway[] = [];
  const clients: TestClient[] = [];
  let current: TestGateway | undefined;
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    for (const g of gateways.splice(0)) await g.stop();
    current = undefined;
  });
  return {
    /** Starts a gateway on this suite's transport; `connect` targets the latest one. */
    async start(overrides: Overrides = {}, clock?: Clock): Promise<TestGateway> {
      current = await startGateway(overrides, transport, clock);
      gateways.push(current);
      return current;
    },
    /** Opens a client to the latest gateway; it is closed after the test. */
    connect: async (options?: TestClientOptions): Promise<TestClient> => {
      const client = await TestClient.connect(current!.url, options);
      clients.push(client);
      return client;
    },
  };
}

/** A Redis of the suite's own, started before its first test and stopped after its last. */
export function redisHarness(): { readonly redis: TestRedis } {
  const suite = {} as { redis: TestRedis };
  beforeAll(async () => {
    suite.redis = await startRedis();
  });
  afterAll(async () => {
    await suite.redis?.stop();
  });
  return suite;
}

/**
 * A suite on one broker: one gateway per `start` on the memory broker; on Redis two nodes on a key
 * prefix of their own (a fresh stream space per test), and `connect` (like `nextUrl`) alternates
 * between them, so a publisher and a subscriber sit on different nodes. Released after each test.
 */
export function nodesHarness(transport: TransportName, broker: 'memory' | 'redis') {
  const suite = broker === 'redis' ? redisHarness() : undefined;
  const gateways: TestGateway[] = [];
  const clients: TestClient[] = [];
  let prefix = 0;
  let turn = 0;
  let last: TestGateway | undefined;
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });
  const nextUrl = (): string => (last = gateways[turn++ % gateways.length]!).url;
  /** Opens a client to `url` (one of `nextUrl`'s), with `options`; it is closed after the test. */
  const connectTo = async (url: string, options?: TestClientOptions): Promise<TestClient> => {
    const client = await TestClient.connect(url, options);
    clients.push(client);
    return client;
  };
  return {
    async start(overrides: Overrides = {}): Promise<void> {
      if (suite === undefined) {
        gateways.push(await startGateway(overrides, transport));
        return;
      }
      const redisBroker = { type: 'redis' as const, redis: { url: suite.redis.url, keyPrefix: `n${prefix++}:` } };
      for (let i = 0; i < 2; i++) gateways.push(await startGateway({ ...overrides, broker: redisBroker }, transport));
      await until(async () => (await Promise.all(gateways.map((g) => readyStatus(g.httpUrl)))).every((s) => s === 200), 'nodes ready');
    },
    connect: (): Promise<TestClient> => connectTo(nextUrl()),
    connectTo,
    /** The next node's URL, for a client of the test's own. */
    nextUrl,
    /** The node the last `connect` (or `nextUrl`) went to. */
    lastNode: (): TestGateway => last!,
  };
}
