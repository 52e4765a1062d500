import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { brokerContract, type Implementation } from './contract.js';

let redis: TestRedis | undefined;

const IMPLEMENTATIONS: Implementation[] = [
  { name: 'memory', setup: async () => {}, create: async () => new MemoryBroker(() => Date.now(), 60_000), teardown: async () => {} },
  {
    name: 'redis',
    setup: async () => {
      redis = await startRedis();
    },
    create: async () => new RedisBroker(loadConfig({ overrides: { broker: { redis: { url: redis!.url } } } }).broker, silentLogger()),
    teardown: async () => redis?.stop(),
  },
];

/** The same contract over each broker (the Redis Cluster run is in redis-cluster.test.ts, with its cluster). */
for (const impl of IMPLEMENTATIONS) brokerContract(impl);
