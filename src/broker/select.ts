import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import type { MemoryPool } from '../util/memory-budget.js';
import type { Broker } from './broker.js';
import { MemoryBroker } from './memory-broker.js';

/** The configured broker; the Redis client is only loaded when it is used. */
/** `history` and `keyed` are the memory budget's pools for the in-process history and keyed state a memory broker keeps. */
export async function createBroker(config: Config, clock: Clock, log: Logger, history: MemoryPool, keyed?: MemoryPool): Promise<Broker> {
  if (config.broker.type === 'memory') return new MemoryBroker(clock, config.broker.publicationIdTtlMs, history, keyed);
  const { RedisBroker } = await import('./redis-broker.js');
  return new RedisBroker(config.broker, log);
}
