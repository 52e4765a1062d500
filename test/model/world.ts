import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { until } from '../../devkit/until.js';
import { BALLAST, CHANNELS } from './commands.js';

export type BrokerKind = 'memory' | 'redis';

/** Small limits, so that every shedding, gap, replay and recovery path is reached in a few commands. */
const MODEL_CONFIG = {
  inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
  // A receive window as small as a few messages (the windowed subscriber asks for the smallest, test/model/run.ts).
  outbound: { maxQueueBytes: 4096, maxQueueMessages: 16, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024, controlQueueMessages: 64, minReceiveWindowBytes: 1024 },
  heartbeat: { intervalMs: 1000, idleTimeoutMs: 120_000 },
  limits: { maxPendingPublishes: 1024 },
  // A restart (memory broker) does not wait for paused readers to drain.
  shutdown: { drainTimeoutMs: 0 },
  channels: [...CHANNELS, BALLAST].map((c) => ({ pattern: `*.${c.suffix}`, policy: c.policy, historySize: c.historySize, maxAgeMs: c.maxAgeMs, historyTtlMs: 10_000 })),
};

/**
 * The system under test: real gateways on real sockets, one (memory broker) or two sharing a real
 * Redis (redis broker, one on each transport), kept across sequences (each sequence uses channel
 * names of its own).
 */
export class World {
  private constructor(
    readonly broker: BrokerKind,
    readonly gateways: TestGateway[],
    readonly redis: TestRedis | undefined,
    private readonly transport: 'ws' | 'uws',
    private readonly config: typeof MODEL_CONFIG & { compression?: boolean },
  ) {}

  /** `compression`: the gateways offer permessage-deflate (the model's clients, ws's, take it). */
  static async start(broker: BrokerKind, transport: 'ws' | 'uws' = 'ws', { compression = false } = {}): Promise<World> {
    const config = { ...MODEL_CONFIG, compression };
    if (broker === 'memory') return new World(broker, [await startGateway(config, transport)], undefined, transport, config);
    const redis = await startRedis();
    const node = (t: 'ws' | 'uws') => startGateway({ ...config, broker: { type: 'redis', redis: { url: redis.url, keyPrefix: 'model:', reconnectMinMs: 5, reconnectMaxMs: 50 } } }, t);
    const world = new World(broker, [await node('ws'), await node('uws')], redis, transport, config);
    await world.ready();
    return world;
  }

  get nodes(): number {
    return this.gateways.length;
  }

  url(node: number): string {
    return this.gateway(node).url;
  }

  gateway(node: number): TestGateway {
    return this.gateways[node % this.gateways.length]!;
  }

  /** Every node serves (its broker link is up). */
  async ready(): Promise<void> {
    await until(() => this.gateways.every((g) => g.gateway.ready), 'every node ready', 30_000, 5);
  }

  /** Redis cuts every node's pub/sub link (as it does to a slow pub/sub consumer). */
  async cutLinks(): Promise<void> {
    const admin = this.redis!.client();
    try {
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    } finally {
      admin.disconnect();
    }
    // The nodes notice the cut asynchronously (and may be back before a poll sees it): give them a
    // moment to, then wait until all serve again.
    await until(() => this.gateways.some((g) => !g.gateway.ready), 'the cut noticed', 200, 2).catch(() => {});
    await this.ready();
  }

  /** Redis is killed (its data lost) and started again on the same port. */
  async restartRedis(): Promise<void> {
    await this.redis!.kill();
    await until(() => this.gateways.every((g) => !g.gateway.ready), 'every node not ready', 10_000, 2);
    await this.redis!.restart();
    await this.ready();
  }

  /**
   * The memory broker's gateway is stopped (every connection closed with 4200, every channel's
   * history and epoch lost) and started again: on ws on the same port; on uws on a fresh one,
   * because uWS cannot listen again on a port while sockets the stopped gateway closed on peers
   * that were not reading linger in `FIN-WAIT-1` (docs/transports.md), and the model's paused
   * readers leave exactly those. Everyone connects again to `url(0)` either way.
   */
  async restartGateway(): Promise<void> {
    const old = this.gateways[0]!;
    const port = old.gateway.port;
    await old.stop();
    this.gateways[0] = await startGateway({ ...this.config, ...(this.transport === 'uws' ? {} : { port }) }, this.transport);
  }

  async stop(): Promise<void> {
    for (const g of this.gateways) await g.stop();
    await this.redis?.stop();
  }
}
