import { EventEmitter } from 'node:events';
import calculateSlot from 'cluster-key-slot';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { PubSubLink } from './redis-topology.js';

/**
 * Sharded pub/sub over a Redis Cluster: one connection per master that serves a slot of a wanted
 * topic, which `SSUBSCRIBE`s those topics there (a shard channel lives on its slot's shard, so a
 * node receives only its channels' messages, from the shard that holds them).
 *
 * The link is up while every one of these connections is. A shard connection lost (its master
 * died), or a topic moved away (Redis sends an unsolicited `sunsubscribe` when its slot migrates;
 * a `MOVED` answer to `SSUBSCRIBE`), is a lost link: every shard connection is closed, 'close' is
 * emitted, the slot map is refreshed after a backoff and 'ready' emitted, on which the broker
 * subscribes every wanted topic again and repairs each channel from history, exactly as after a
 * Redis restart. A subscribe that fails while the cluster fails over (the slot still maps to the
 * dead master) starts the next round of the backoff.
 */
export class ShardedPubSub extends EventEmitter implements PubSubLink {
  private readonly shards = new Map<string, Promise<Redis>>();
  private up = false;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: RedisOptions,
    private readonly reconnectMinMs: number,
    private readonly reconnectMaxMs: number,
  ) {
    super();
  }

  async connect(): Promise<void> {
    this.cluster.on('ready', () => this.recover());
    if (this.cluster.status === 'ready') this.recover();
  }

  /** One `SSUBSCRIBE` per slot (its channels must share one), those of a shard pipelined on its connection. */
  async subscribe(...topics: string[]): Promise<unknown> {
    const byShard = new Map<string, Map<number, string[]>>();
    for (const topic of topics) {
      const slot = calculateSlot(topic);
      const shard = this.cluster.slots[slot]?.[0];
      if (shard === undefined) throw this.fail(new Error(`no shard known for ${topic}`));
      let slots = byShard.get(shard);
      if (slots === undefined) byShard.set(shard, (slots = new Map()));
      const group = slots.get(slot);
      if (group === undefined) slots.set(slot, [topic]);
      else group.push(topic);
    }
    try {
      await Promise.all(
        [...byShard].map(async ([shard, slots]) => {
          const redis = await this.shard(shard);
          await Promise.all([...slots.values()].map((group) => redis.ssubscribe(...group)));
        }),
      );
    } catch (err) {
      throw this.fail(err as Error);
    }
    this.attempt = 0;
    return byShard.size;
  }

  async unsubscribe(topic: string): Promise<unknown> {
    const shard = this.shards.get(this.cluster.slots[calculateSlot(topic)]?.[0] ?? '');
    return shard === undefined ? 0 : (await shard).sunsubscribe(topic);
  }

  disconnect(): void {
    this.closed = true;
    this.up = false;
    clearTimeout(this.timer);
    this.dropShards();
  }

  /** The connection to a shard's master, connecting it on first use. */
  private shard(nodeKey: string): Promise<Redis> {
    let pending = this.shards.get(nodeKey);
    if (pending !== undefined) return pending;
    const i = nodeKey.lastIndexOf(':');
    const redis = new Redis({ ...this.options, host: nodeKey.slice(0, i), port: Number(nodeKey.slice(i + 1)), lazyConnect: true, retryStrategy: () => null });
    redis.on('smessage', (topic: string, message: string) => this.emit('message', topic, message));
    redis.on('error', (err: Error) => this.emit('error', err));
    redis.on('close', () => this.fail(new Error(`shard ${nodeKey} link closed`)));
    redis.on('moved', () => this.fail(new Error(`a slot moved away from ${nodeKey}`)));
    pending = redis.connect().then(() => redis);
    this.shards.set(nodeKey, pending);
    return pending;
  }

  /** The link is lost (or a subscribe failed while it is down): close it, retry after a backoff. */
  private fail(err: Error): Error {
    if (this.closed) return err;
    this.dropShards();
    if (this.up) {
      this.up = false;
      this.emit('error', err);
      this.emit('close');
    }
    if (this.timer === undefined) {
      const delay = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** Math.min(this.attempt++, 20));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.cluster.refreshSlotsCache(() => this.recover());
      }, delay);
    }
    return err;
  }

  private recover(): void {
    if (this.up || this.closed || this.timer !== undefined || this.cluster.status !== 'ready') return;
    this.up = true;
    this.emit('ready');
  }

  private dropShards(): void {
    const shards = [...this.shards.values()];
    this.shards.clear();
    for (const pending of shards) {
      void pending.then(
        (redis) => {
          redis.removeAllListeners('close');
          redis.removeAllListeners('moved');
          redis.removeAllListeners('smessage');
          redis.disconnect();
        },
        () => {},
      );
    }
  }
}
