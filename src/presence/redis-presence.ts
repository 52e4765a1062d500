import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { connectRedis, type PubSubLink, type RedisBrokerConfig, type RedisTopology } from '../broker/redis-topology.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';

/** What replication feeds back into the node's member tables. */
export interface ReplicaSink {
  /** `delta` connections of `id` on another node (info kept if this makes it a member). */
  remote(channel: string, id: string, delta: number, info: string | undefined): void;
}

export interface RedisPresenceOptions {
  /**
   * Presence's own connections (one server, Sentinel or a Cluster), not the broker's, created with
   * `lazyConnect`; on a Cluster the diffs and heartbeats go by sharded pub/sub.
   */
  readonly topology: RedisTopology;
  readonly keyPrefix: string;
  /** A node's entries expire this long after its last refresh; heartbeats go every third of it. */
  readonly nodeTtlMs: number;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Rewrites this node's part of a channel's members and publishes the diff, atomically; one call
 * per busy channel per interval, all of a tick's calls in one pipeline.
 * KEYS: this node's member hash, the channel's node set, its version hash.
 * ARGV: node, ttl ms, pub/sub channel, the diff (JSON), then id, value ('' = gone) pairs.
 */
const publishScript = (publish: 'PUBLISH' | 'SPUBLISH'): string => `
local v = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('${publish}', ARGV[3], v .. '|' .. ARGV[1] .. '|' .. ARGV[4])
return v`;

/**
 * Every live node's part of a channel, with its version, in one read.
 * KEYS: the node set, the version hash. ARGV: the member hash key without its node suffix (every
 * hash carries the channel's hash tag, so on a Cluster it lives in the declared keys' slot).
 */
const SNAPSHOT_SCRIPT = `
local out = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local m = redis.call('HGETALL', ARGV[1] .. n)
  if #m == 0 then redis.call('SREM', KEYS[1], n) else
    out[#out + 1] = n
    out[#out + 1] = redis.call('HGET', KEYS[2], n) or '0'
    out[#out + 1] = m
  end
end
return out`;

type Commands = (Redis | Cluster) & {
  presencePublish(hash: string, nodes: string, versions: string, ...argv: Array<string | number>): Promise<number>;
  presenceSnapshot(nodes: string, versions: string, hashPrefix: string): Promise<Array<string | string[]>>;
};

/** One remote node's part of one channel: identity → [conns, info]. */
type Part = { version: number; members: Map<string, [number, string | undefined]> };

/** A channel this node has interest in: its own members, and a replica of every other node's. */
interface Replicated {
  readonly local: Map<string, [number, string | undefined]>;
  /** Identities whose local count changed since the last publish. */
  readonly changed: Set<string>;
  readonly parts: Map<string, Part>;
  /** Diffs received while the snapshot read is in flight; undefined once loaded. */
  buffered: string[] | undefined;
  loaded: Promise<void>;
}

/**
 * Presence across nodes on Redis (docs/presence.md, "On Redis"). Each node owns its part of every
 * channel (one hash per channel and node, expiring unless refreshed), publishes its diffs once per
 * interval per busy channel, and keeps a replica of the other nodes' parts for the channels it has
 * interest in; a node not heard from for `nodeTtlMs` is dropped from every replica (its members
 * leave) and its keys expire on their own.
 */
export class RedisPresence {
  readonly node = randomBytes(6).toString('base64url');
  private readonly cmd: Commands;
  private readonly sub: PubSubLink;
  /** Sharded pub/sub (a Cluster): `SPUBLISH`, and one pipeline per shard. */
  private readonly sharded: boolean;
  private readonly channels = new Map<string, Replicated>();
  /** When each remote node was last heard (heartbeat or diff). */
  private readonly heard = new Map<string, number>();
  private readonly heartbeatChannel: string;
  private timer: NodeJS.Timeout | undefined;
  private sink: ReplicaSink | undefined;
  /** Round trips (pipelines and snapshot reads) sent to Redis (benchmarks). */
  roundTrips = 0;

  constructor(private readonly options: RedisPresenceOptions) {
    this.sharded = options.topology.sharded;
    this.cmd = options.topology.commands as Commands;
    this.cmd.defineCommand('presencePublish', { numberOfKeys: 3, lua: publishScript(this.sharded ? 'SPUBLISH' : 'PUBLISH') });
    this.cmd.defineCommand('presenceSnapshot', { numberOfKeys: 2, lua: SNAPSHOT_SCRIPT });
    this.sub = options.topology.pubsub;
    this.heartbeatChannel = `${options.keyPrefix}p:hb`;
  }

  start(sink: ReplicaSink): void {
    this.sink = sink;
    this.cmd.on('error', () => {});
    this.sub.on('error', () => {});
    this.sub.on('message', (topic: string, message: string) => this.onMessage(topic, message));
    this.sub.on('ready', () => {
      const names = [...this.channels.keys()];
      // Diffs published before the subscription took effect were missed: read every channel again, once it has.
      void this.sub.subscribe(this.heartbeatChannel, ...names.map((ch) => this.topic(ch))).then(
        () => names.forEach((ch) => this.channels.has(ch) && this.load(ch)),
        () => {},
      );
    });
    this.cmd.connect().catch(() => {});
    this.sub.connect().catch(() => {});
    this.timer = setInterval(() => this.heartbeat(), Math.floor(this.options.nodeTtlMs / 3));
    this.timer.unref();
  }

  /** The node has interest in a channel (a member or a watcher here): follow it; or no longer. */
  interest(channel: string, on: boolean): void {
    if (!on) {
      const replicated = this.channels.get(channel);
      if (replicated === undefined) return;
      if (replicated.changed.size > 0) this.publish([channel]);
      this.channels.delete(channel);
      void this.sub.unsubscribe(this.topic(channel)).catch(() => {});
      return;
    }
    if (this.channels.has(channel)) return;
    const replicated: Replicated = { local: new Map(), changed: new Set(), parts: new Map(), buffered: [], loaded: Promise.resolve() };
    this.channels.set(channel, replicated);
    // The snapshot is read once the subscription is in place, so no diff can fall between the two.
    replicated.loaded = this.sub.subscribe(this.topic(channel)).then(
      () => {
        if (this.channels.get(channel) !== replicated) return undefined;
        this.load(channel);
        return replicated.loaded;
      },
      () => {
        // The link is down: 'ready' subscribes and reads the channel again.
        replicated.buffered = undefined;
      },
    );
  }

  /** Resolves once the channel's replica has been read (at once when it has). */
  loaded(channel: string): Promise<void> {
    return this.channels.get(channel)?.loaded ?? Promise.resolve();
  }

  /** A local connection change, published with the next tick. */
  local(channel: string, id: string, delta: number, info: string | undefined): void {
    const replicated = this.channels.get(channel);
    if (replicated === undefined) return;
    const entry = replicated.local.get(id);
    const conns = (entry?.[0] ?? 0) + delta;
    if (conns <= 0) replicated.local.delete(id);
    else replicated.local.set(id, [conns, entry?.[1] ?? info]);
    replicated.changed.add(id);
  }

  get pending(): boolean {
    for (const replicated of this.channels.values()) if (replicated.changed.size > 0) return true;
    return false;
  }

  /** Publishes the local changes of `names` (default: every channel with some), in one pipeline per shard. */
  publish(names: Iterable<string> = this.channels.keys()): void {
    // While Redis is away the changes wait here (bounded by the members), not in a client queue.
    if (this.cmd.status !== 'ready') return;
    const shards = new Map<string, { pipeline: PublishPipeline; sent: Array<[string, string[]]> }>();
    const ttl = this.options.nodeTtlMs;
    for (const name of names) {
      const replicated = this.channels.get(name);
      if (replicated === undefined || replicated.changed.size === 0) continue;
      const diff: Array<[string, number, string | null]> = [];
      const argv: string[] = [];
      for (const id of replicated.changed) {
        const entry = replicated.local.get(id);
        diff.push([id, entry?.[0] ?? 0, entry?.[1] ?? null]);
        argv.push(id, entry === undefined ? '' : `${entry[0]}|${entry[1] ?? ''}`);
      }
      const k = this.keys(name);
      const shard = this.shardFor(k.nodes);
      let batch = shards.get(shard);
      if (batch === undefined) shards.set(shard, (batch = { pipeline: this.cmd.pipeline() as unknown as PublishPipeline, sent: [] }));
      batch.sent.push([name, [...replicated.changed]]);
      replicated.changed.clear();
      void batch.pipeline.presencePublish(k.hash(this.node), k.nodes, k.versions, this.node, ttl, this.topic(name), JSON.stringify(diff), ...argv);
    }
    for (const { pipeline, sent } of shards.values()) {
      this.roundTrips++;
      // Values are absolute counts: what did not reach Redis is sent again with the next tick.
      const retry = (i: number): void => {
        const [name, ids] = sent[i]!;
        const replicated = this.channels.get(name);
        if (replicated !== undefined) for (const id of ids) replicated.changed.add(id);
      };
      pipeline.exec().then(
        (results) => results?.forEach(([err], i) => err && retry(i)),
        (err: Error) => {
          this.options.log.warn({ err: err.message }, 'presence: publishing to Redis failed');
          sent.forEach((_, i) => retry(i));
        },
      );
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    // This node's members leave now rather than at expiry.
    for (const replicated of this.channels.values()) for (const id of replicated.local.keys()) replicated.changed.add(id), replicated.local.delete(id);
    this.publish();
    await this.cmd.quit().catch(() => {});
    this.sub.disconnect();
  }

  /** The shard of a key's slot ('' with one server, or before a Cluster knows its slots). */
  private shardFor(key: string): string {
    return this.sharded ? this.options.topology.shardOf(key) : '';
  }

  private topic(channel: string): string {
    return `${this.options.keyPrefix}p:{${channel}}`;
  }

  private keys(channel: string) {
    const base = `${this.options.keyPrefix}p:{${channel}}`;
    return { hash: (node: string) => `${base}:m:${node}`, hashPrefix: `${base}:m:`, nodes: `${base}:n`, versions: `${base}:v` };
  }

  /** Reads every node's part of the channel, then applies the diffs received meanwhile. */
  private load(channel: string): void {
    const replicated = this.channels.get(channel)!;
    replicated.buffered ??= [];
    const k = this.keys(channel);
    this.roundTrips++;
    replicated.loaded = this.cmd.presenceSnapshot(k.nodes, k.versions, k.hashPrefix).then(
      (reply) => {
        if (this.channels.get(channel) !== replicated) return;
        const now = this.options.clock();
        const seen = new Set<string>();
        for (let i = 0; i + 2 < reply.length; i += 3) {
          const node = reply[i] as string;
          if (node === this.node) continue;
          seen.add(node);
          const flat = reply[i + 2] as string[];
          const members = new Map<string, [number, string | undefined]>();
          for (let j = 0; j < flat.length; j += 2) members.set(flat[j]!, parseValue(flat[j + 1]!));
          this.replace(channel, replicated, node, { version: Number(reply[i + 1]), members });
          if (!this.heard.has(node)) this.heard.set(node, now);
        }
        for (const node of [...replicated.parts.keys()]) if (!seen.has(node)) this.dropPart(channel, replicated, node);
        const buffered = replicated.buffered ?? [];
        replicated.buffered = undefined;
        for (const message of buffered) this.applyDiff(channel, replicated, message);
      },
      (err: Error) => {
        this.options.log.warn({ err: err.message, ch: channel }, 'presence: reading members from Redis failed');
        replicated.buffered = undefined;
      },
    );
  }

  private onMessage(topic: string, message: string): void {
    if (topic === this.heartbeatChannel) {
      if (message !== this.node) this.heard.set(message, this.options.clock());
      return;
    }
    const channel = topic.slice(this.options.keyPrefix.length + 3, -1);
    const replicated = this.channels.get(channel);
    if (replicated === undefined) return;
    if (replicated.buffered !== undefined) replicated.buffered.push(message);
    else this.applyDiff(channel, replicated, message);
  }

  /** `version|node|[[id, conns, info], …]`: a node's new counts for the identities it changed. */
  private applyDiff(channel: string, replicated: Replicated, message: string): void {
    const bar = message.indexOf('|');
    const bar2 = message.indexOf('|', bar + 1);
    const version = Number(message.slice(0, bar));
    const node = message.slice(bar + 1, bar2);
    if (node === this.node) return;
    this.heard.set(node, this.options.clock());
    const part = replicated.parts.get(node);
    if (part !== undefined && version <= part.version) return;
    if (part !== undefined && version > part.version + 1) {
      // A diff was missed: read the channel again.
      this.load(channel);
      return;
    }
    const next: Part = { version, members: new Map(part?.members) };
    for (const [id, conns, info] of JSON.parse(message.slice(bar2 + 1)) as Array<[string, number, string | null]>) {
      if (conns === 0) next.members.delete(id);
      else next.members.set(id, [conns, info ?? undefined]);
    }
    this.replace(channel, replicated, node, next);
  }

  /** Installs a node's part, feeding the differences to the member table. */
  private replace(channel: string, replicated: Replicated, node: string, part: Part): void {
    const old = replicated.parts.get(node)?.members;
    for (const [id, [conns, info]] of part.members) {
      const delta = conns - (old?.get(id)?.[0] ?? 0);
      if (delta !== 0) this.sink!.remote(channel, id, delta, info);
    }
    if (old !== undefined) for (const [id, [conns]] of old) if (!part.members.has(id)) this.sink!.remote(channel, id, -conns, undefined);
    if (part.members.size === 0) replicated.parts.delete(node);
    else replicated.parts.set(node, part);
  }

  private dropPart(channel: string, replicated: Replicated, node: string): void {
    this.replace(channel, replicated, node, { version: Number.MAX_SAFE_INTEGER, members: new Map() });
  }

  /** Refreshes this node's entries, says it is alive, and drops the nodes not heard for nodeTtlMs. */
  private heartbeat(): void {
    const ttl = this.options.nodeTtlMs;
    const pipelines = new Map<string, ChainableCommander>();
    const pipelineFor = (key: string): ChainableCommander => {
      const shard = this.shardFor(key);
      let pipeline = pipelines.get(shard);
      if (pipeline === undefined) pipelines.set(shard, (pipeline = this.cmd.pipeline()));
      return pipeline;
    };
    for (const [name, replicated] of this.channels) {
      if (replicated.local.size === 0) continue;
      const k = this.keys(name);
      pipelineFor(k.nodes).pexpire(k.hash(this.node), ttl).pexpire(k.nodes, ttl).pexpire(k.versions, ttl);
    }
    const beat = pipelineFor(this.heartbeatChannel);
    if (this.sharded) beat.spublish(this.heartbeatChannel, this.node);
    else beat.publish(this.heartbeatChannel, this.node);
    for (const pipeline of pipelines.values()) {
      this.roundTrips++;
      pipeline.exec().catch(() => {});
    }
    const now = this.options.clock();
    for (const [node, at] of this.heard) {
      if (now - at <= ttl) continue;
      this.heard.delete(node);
      this.options.log.info({ node }, 'presence: node not heard for nodeTtlMs: its members leave');
      for (const [name, replicated] of this.channels) if (replicated.parts.has(node)) this.dropPart(name, replicated, node);
    }
  }
}

/**
 * Presence's own connections to the broker's Redis (one server, Sentinel or a Cluster, as
 * configured). Commands wait in the client's queue while it reconnects, without a timeout (a
 * pipeline per tick, none while the link is down, so the queue stays small); the pub/sub link
 * subscribes again itself on 'ready' (ioredis' own resubscription leaves its request's rejection
 * unhandled).
 */
export function presenceTopology(redis: RedisBrokerConfig): RedisTopology {
  return connectRedis(redis, (_link, { commandTimeout: _, ...extra }) => ({
    lazyConnect: true,
    connectTimeout: redis.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    autoResubscribe: false,
    retryStrategy: (attempt: number) => Math.min(redis.reconnectMaxMs, redis.reconnectMinMs * 2 ** Math.min(attempt - 1, 20)),
    ...extra,
  }));
}

type PublishPipeline = { presencePublish: Commands['presencePublish']; exec(): Promise<Array<[Error | null, unknown]> | null> };

function parseValue(value: string): [number, string | undefined] {
  const bar = value.indexOf('|');
  const info = value.slice(bar + 1);
  return [Number(value.slice(0, bar)), info === '' ? undefined : info];
}
