import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import type { ClientOptions } from 'ws';
import { TestClient } from './client.js';
import { startGateway, type TestGateway } from './gateway.js';
import type { TransportName } from './transports.js';

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
    async start(overrides: Overrides = {}): Promise<TestGateway> {
      current = await startGateway(overrides, transport);
      gateways.push(current);
      return current;
    },
    /** Opens a client to the latest gateway; it is closed after the test. */
    connect: async (options?: ClientOptions): Promise<TestClient> => {
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
