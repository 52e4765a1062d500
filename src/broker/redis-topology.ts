import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';
import { ShardedPubSub } from './redis-sharded-pubsub.js';

export type RedisBrokerConfig = Config['broker']['redis'];

/**
 * The pub/sub side of a topology, as the broker uses it: one Redis connection in pub/sub mode
 * (`SUBSCRIBE`), or one per cluster shard (`SSUBSCRIBE`, see redis-sharded-pubsub.ts). 'ready' after
 * every (re)connect, before which nothing is subscribed; 'close' when a link is lost.
 */
export interface PubSubLink {
  connect(): Promise<void>;
  subscribe(...topics: string[]): Promise<unknown>;
  unsubscribe(topic: string): Promise<unknown>;
  disconnect(): void;
  on(event: 'ready' | 'close', listener: () => void): this;
  on(event: 'message', listener: (topic: string, message: string) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** How this node reaches Redis: one server (`url`), a Sentinel-managed master, or a Redis Cluster. */
export interface RedisTopology {
  readonly mode: 'single' | 'sentinel' | 'cluster';
  /** Cluster: live delivery by sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`), topics hash-tagged like the keys. */
  readonly sharded: boolean;
  readonly commands: Redis | Cluster;
  readonly pubsub: PubSubLink;
  /**
   * The shard (master node) serving `key`'s slot as this node last learnt it; '' with one server.
   * One pipeline may only hold commands of one shard.
   */
  shardOf(key: string): string;
  /** Where it connects, without secrets, for logs. */
  readonly target: string;
}

/** Per link: reconnect and timeout options the broker sets (its retry strategy, fail-fast queueing). */
export type LinkOptions = (link: 'commands' | 'pubsub', extra: Partial<RedisOptions>) => RedisOptions;

export function connectRedis(config: RedisBrokerConfig, options: LinkOptions): RedisTopology {
  const url = new URL(config.url);
  const secure = url.protocol === 'rediss:';
  const tls = secure ? tlsOptions(config.tls) : undefined;
  if (config.cluster.length > 0) return cluster(config, url, tls, options);
  if (config.sentinel.name !== '') {
    const auth = credentials(url);
    const sentinel = (link: 'commands' | 'pubsub', extra: Partial<RedisOptions>): Redis =>
      new Redis({
        ...options(link, extra),
        ...auth,
        name: config.sentinel.name,
        sentinels: config.sentinel.sentinels.map(hostPort),
        role: 'master',
        ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      });
    return {
      mode: 'sentinel',
      sharded: false,
      commands: sentinel('commands', { commandTimeout: config.commandTimeoutMs }),
      pubsub: sentinel('pubsub', {}),
      shardOf: () => '',
      target: `sentinel ${config.sentinel.name} via ${config.sentinel.sentinels.join(',')}`,
    };
  }
  const single = (link: 'commands' | 'pubsub', extra: Partial<RedisOptions>): Redis => new Redis(config.url, { ...options(link, extra), ...(tls ? { tls } : {}) });
  return { mode: 'single', sharded: false, commands: single('commands', { commandTimeout: config.commandTimeoutMs }), pubsub: single('pubsub', {}), shardOf: () => '', target: redact(config.url) };
}

function cluster(config: RedisBrokerConfig, url: URL, tls: ConnectionOptions | undefined, options: LinkOptions): RedisTopology {
  const base = options('commands', { commandTimeout: config.commandTimeoutMs, ...credentials(url), ...(tls ? { tls } : {}) });
  const { retryStrategy, enableOfflineQueue, ...redisOptions } = base;
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue,
    redisOptions,
    // Slots move (failover, resharding): refresh on MOVED, and periodically.
    slotsRefreshTimeout: config.connectTimeoutMs,
    slotsRefreshInterval: 5_000,
    retryDelayOnFailover: config.reconnectMinMs,
    retryDelayOnClusterDown: config.reconnectMinMs,
    clusterRetryStrategy: (attempt) => retryStrategy?.(attempt) ?? null,
  };
  const commands = new Cluster(config.cluster.map(hostPort), clusterOptions);
  const pubsub = new ShardedPubSub(commands, { ...options('pubsub', {}), ...credentials(url), ...(tls ? { tls } : {}) }, config.reconnectMinMs, config.reconnectMaxMs);
  return {
    mode: 'cluster',
    sharded: true,
    commands,
    pubsub,
    shardOf: (key) => commands.slots[calculateSlot(key)]?.[0] ?? '',
    target: `cluster via ${config.cluster.join(',')}`,
  };
}

function credentials(url: URL): Pick<RedisOptions, 'username' | 'password'> {
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** A seed as the config gives it: `host:port` (the schema checks the form). */
function hostPort(seed: string): { host: string; port: number } {
  const i = seed.lastIndexOf(':');
  return { host: seed.slice(0, i), port: Number(seed.slice(i + 1)) };
}

/** TLS options from the configured PEM files; the system's CAs when none is given. */
function tlsOptions(paths: RedisBrokerConfig['tls']): ConnectionOptions {
  const read = (path: string): Buffer | undefined => (path === '' ? undefined : readFileSync(path));
  const ca = read(paths.ca);
  const cert = read(paths.cert);
  const key = read(paths.key);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
