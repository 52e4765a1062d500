import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import type { MemoryPool } from '../util/memory-budget.js';
import type { Broker } from './broker.js';
import { MemoryBroker } from './memory-broker.js';

/** The configured broker; the Redis client is only loaded when it is used. */
/** `history` is the memory budget's pool for the in-process history a memory broker keeps. */
export async function createBroker(config: Config, clock: Clock, log: Logger, history: MemoryPool): Promise<Broker> {
  if (config.broker.type === 'memory') return new MemoryBroker(clock, config.broker.publicationIdTtlMs, history);
  const { RedisBroker } = await import('./redis-broker.js');
  return new RedisBroker(config.broker, log);
}
