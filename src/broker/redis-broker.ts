import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { Publication } from '../stream/publication.js';
import type { Logger } from '../observability/logger.js';
import type { StreamPosition } from '../stream/position.js';
import type { StreamSettings } from '../stream/settings.js';
import { UNAVAILABLE, type Broker, type BrokerEvents, type HistoryOutcome, type LatestOutcome, type PublishOutcome } from './broker.js';
import { RedisPublisher, type PublishCommand } from './redis-publisher.js';
import { SCAN_SCRIPT } from './redis-keyed.js';
import { readChunks, type HistoryChunk } from './redis-history-chunks.js';
import { FORK_SCRIPT, HISTORY_CHUNK_SCRIPT, HISTORY_SCRIPT, KeyNames, parseHistoryEntry, parseLiveMessage, publishScript } from './redis-scripts.js';
import { completeScan, readRest, type ScannedState, type ScanStep } from './redis-snapshot.js';
import { connectRedis, type PubSubLink, type RedisBrokerConfig, type RedisTopology } from './redis-topology.js';

export type { RedisBrokerConfig } from './redis-topology.js';

/** HISTORY_SCRIPT's answer: epoch, seq, recovered, entries, the seq of the first entry left (0: none), then a snapshot's state, cursor and time. */
type HistoryReply = [string, number, number, string[], number, string[]?, string?, number?];

type ScriptCommands = PublishCommand & {
  sluiceFork(meta: string, hist: string, epoch: string, seq: number): Promise<[string, number]>;
  sluiceHistory(
    meta: string, hist: string, keyed: string, sinceEpoch: string, sinceSeq: number, size: number, ttlMs: number, streamTtlMs: number, tail: number, snapshot: number, keyTtlMs: number,
    scanCount: number, chunkBytes: number,
  ): Promise<HistoryReply>;
  sluiceHistoryChunk(meta: string, hist: string, epoch: string, from: number, to: number, chunkBytes: number): Promise<HistoryChunk>;
  sluiceScan(meta: string, hist: string, keyed: string, cursor: string, count: number, epoch: string, sinceSeq: number): Promise<ScanStep>;
};

/** Reads of history or a snapshot in chunks that start again (the stream moved on beyond their reach) before one is read in a single reply. */
const SCAN_ATTEMPTS = 3;

/** Most channels per SUBSCRIBE when resubscribing after a reconnect. */
const RESUBSCRIBE_BATCH = 1000;

/**
 * The broker for many nodes, on Redis. Two connections: one for commands (publications: seq +
 * history + PUBLISH atomically, a loop turn's in one pipeline, see redis-publisher.ts; one script
 * per history read), one in pub/sub mode that carries only the channels this node has local
 * subscribers for (SUBSCRIBE on the first, UNSUBSCRIBE after the last), so a node never receives
 * traffic nobody on it wants.
 *
 * While either connection is down, or Redis does not answer (a command, or the PING sent every
 * commandTimeoutMs, went unanswered that long), the broker is not ready: publishes and
 * subscriptions fail at once with `unavailable` (nothing is queued), and the hub is told the
 * stream may have holes (`interrupted`). Once Redis answers again (on reconnect, after
 * resubscribing every channel) it reports `restored` and the hub repairs each channel from history.
 */
export class RedisBroker implements Broker {
  private readonly topology: RedisTopology;
  private readonly cmd: (Redis | Cluster) & ScriptCommands;
  private readonly sub: PubSubLink;
  private events: BrokerEvents | undefined;
  private cmdUp = false;
  private subUp = false;
  /** A command went unanswered for commandTimeoutMs and Redis answered nothing meanwhile; cleared when a PING is answered. */
  private hung = false;
  private probing = false;
  /** When Redis last answered a command of this node (Date.now()). */
  private lastAnswerAt = 0;
  /** A timeout is being checked against the answers read in this loop turn. */
  private suspecting = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private up = false;
  private closed = false;
  /** Channels this node wants publications of, by pub/sub channel name. */
  private readonly wanted = new Set<string>();
  /** Pub/sub channels Redis confirmed since the pub/sub link last connected. */
  private readonly confirmed = new Set<string>();
  private readonly subscribing = new Map<string, Promise<boolean>>();
  private readonly names: KeyNames;
  private readonly publisher: RedisPublisher;
  private readonly config: RedisBrokerConfig;
  /** Reconnect logging: the first failure of a link is logged, then every tenth attempt. */
  private readonly failing = { commands: false, pubsub: false };
  private readonly lastError = { commands: '', pubsub: '' };

  constructor(
    broker: Config['broker'],
    private readonly log: Logger,
  ) {
    const config = (this.config = broker.redis);
    this.topology = connectRedis(config, (link, extra) => this.options(link, extra));
    this.names = new KeyNames(config.keyPrefix, this.topology.sharded);
    this.cmd = this.topology.commands as (Redis | Cluster) & ScriptCommands;
    this.cmd.defineCommand('sluicePublish', { lua: publishScript(this.topology.sharded ? 'SPUBLISH' : 'PUBLISH') });
    this.cmd.defineCommand('sluiceFork', { numberOfKeys: 2, lua: FORK_SCRIPT });
    this.cmd.defineCommand('sluiceHistory', { numberOfKeys: 3, lua: HISTORY_SCRIPT });
    this.cmd.defineCommand('sluiceHistoryChunk', { numberOfKeys: 2, lua: HISTORY_CHUNK_SCRIPT });
    this.cmd.defineCommand('sluiceScan', { numberOfKeys: 3, lua: SCAN_SCRIPT });
    this.sub = this.topology.pubsub;
    this.publisher = new RedisPublisher(this.cmd, {
      names: this.names,
      shardOf: this.topology.shardOf,
      streamTtlMs: config.streamTtlMs,
      maxBatch: config.maxPublishBatch,
      publicationIdTtlMs: broker.publicationIdTtlMs,
      answered: () => this.answered(),
      timedOut: () => this.timedOut(),
    });
  }

  get ready(): boolean {
    return this.up;
  }

  start(events: BrokerEvents): void {
    this.events = events;
    this.cmd.on('ready', () => {
      this.cmdUp = true;
      this.hung = false;
      this.answered();
      this.update();
    });
    this.cmd.on('close', () => {
      this.cmdUp = false;
      this.hung = false;
      this.update();
    });
    this.probeTimer = setInterval(() => this.probe(), this.config.commandTimeoutMs);
    this.probeTimer.unref();
    this.sub.on('ready', () => void this.resubscribe());
    this.sub.on('close', () => {
      this.subUp = false;
      this.confirmed.clear();
      this.subscribing.clear();
      this.update();
    });
    this.sub.on('message', (topic: string, message: string) => this.onMessage(topic, message));
    this.cmd.on('error', (err: Error) => (this.lastError.commands = err.message));
    this.sub.on('error', (err: Error) => (this.lastError.pubsub = err.message));
    this.log.info({ url: this.topology.target, keyPrefix: this.config.keyPrefix }, 'redis broker: connecting');
    this.cmd.connect().catch(() => {});
    this.sub.connect().catch(() => {});
  }

  publish(channel: string, settings: StreamSettings, key: string | undefined, rawData: string, pid?: string, del = false): PublishOutcome | Promise<PublishOutcome> {
    // Publishing needs only the command link: a node whose pub/sub link is reconnecting still publishes.
    if (!this.commandsUp()) return UNAVAILABLE;
    return this.publisher.publish(channel, settings, key, rawData, pid, del);
  }

  subscribe(channel: string): boolean | Promise<boolean> {
    const topic = this.names.topic(channel);
    this.wanted.add(topic);
    if (this.confirmed.has(topic)) return true;
    if (!this.up) return false;
    let pending = this.subscribing.get(topic);
    if (pending === undefined) {
      const attempt: Promise<boolean> = this.sub.subscribe(topic).then(
        () => {
          if (this.subscribing.get(topic) !== attempt) return false;
          this.subscribing.delete(topic);
          this.confirmed.add(topic);
          return true;
        },
        () => {
          if (this.subscribing.get(topic) === attempt) this.subscribing.delete(topic);
          return false;
        },
      );
      pending = attempt;
      this.subscribing.set(topic, pending);
    }
    return pending;
  }

  unsubscribe(channel: string): void {
    const topic = this.names.topic(channel);
    if (!this.wanted.delete(topic)) return;
    this.confirmed.delete(topic);
    // A later subscribe must send its own SUBSCRIBE, after this UNSUBSCRIBE.
    this.subscribing.delete(topic);
    if (this.subUp) this.sub.unsubscribe(topic).catch(() => {});
  }

  /**
   * The entries come in chunks of about `historyChunkBytes` (redis-history-chunks.ts). With
   * `snapshot` on a keyed channel, the state comes in chunks of `snapshotScanCount` keys
   * (redis-snapshot.ts), at the seq where the read ended. A read the stream outran starts again,
   * and after SCAN_ATTEMPTS it is read in one reply.
   */
  history(channel: string, settings: StreamSettings, since: StreamPosition | undefined, tail = false, snapshot = false, attempt = 1): HistoryOutcome | Promise<HistoryOutcome> {
    if (!this.commandsUp()) return UNAVAILABLE;
    const { historySize, historyTtlMs } = settings;
    const { names } = this;
    const withState = snapshot && settings.keyed === true;
    const keyTtlMs = settings.keyTtlMs ?? 0;
    const scanCount = attempt > SCAN_ATTEMPTS ? 0 : this.config.snapshotScanCount;
    const chunkBytes = attempt > SCAN_ATTEMPTS ? 0 : this.config.historyChunkBytes;
    const failed = (err: Error): HistoryOutcome => {
      if (err.message === 'Command timed out') this.timedOut();
      return UNAVAILABLE;
    };
    const again = (): HistoryOutcome | Promise<HistoryOutcome> => this.history(channel, settings, since, tail, snapshot, attempt + 1);
    /** The read's outcome; `entries`: all of them when they came in chunks after the reply. */
    const answer = ([epoch, seq, recovered, first, , state, cursor, now]: HistoryReply, entries = first): HistoryOutcome | Promise<HistoryOutcome> => {
      const publications = entries.map((entry) => this.decode(channel, epoch, entry));
      const position = { epoch, seq };
      if (since !== undefined && epoch === since.epoch && seq < since.seq) return this.fork(channel, since);
      if (state === undefined) return { ok: true, position, recovered: recovered === 1, continued: recovered !== 0, publications };
      const continued = recovered !== 0;
      const snapshotAt = (read: ScannedState): HistoryOutcome => ({
        ok: true,
        position: { epoch, seq: read.seq },
        recovered: false,
        continued,
        publications: [],
        snapshot: { epoch, seq: read.seq, entries: read.entries.map((entry) => this.decode(channel, epoch, entry)) },
      });
      if (cursor === undefined) return { ok: true, position, recovered: false, continued, publications, snapshot: { epoch, seq, entries: state.map((entry) => this.decode(channel, epoch, entry)) } };
      if (cursor === '0') return snapshotAt(completeScan(state, [], seq, now!, keyTtlMs));
      const step = (at: string): Promise<ScanStep> => this.cmd.sluiceScan(names.meta(channel), names.history(channel), names.keyed(channel), at, scanCount, epoch, seq).then((answer) => {
        this.answered();
        return answer;
      });
      return readRest({ epoch, seq, cursor, entries: state }, step, keyTtlMs).then((read) => (read === undefined ? again() : snapshotAt(read)), failed);
    };
    return this.cmd
      .sluiceHistory(
        names.meta(channel), names.history(channel), names.keyed(channel), since?.epoch ?? '', since?.seq ?? 0,
        historySize, historyTtlMs, this.config.streamTtlMs, tail ? 1 : 0, withState ? 1 : 0, keyTtlMs, scanCount, chunkBytes,
      )
      .then((reply): HistoryOutcome | Promise<HistoryOutcome> => {
        this.answered();
        const [epoch, seq, , first, left] = reply;
        if (left === 0) return answer(reply);
        const step = (from: number): Promise<HistoryChunk> => this.cmd.sluiceHistoryChunk(names.meta(channel), names.history(channel), epoch, from, seq, chunkBytes).then((chunk) => {
          this.answered();
          return chunk;
        });
        return readChunks(first, left, step).then((entries) => (entries === undefined ? again() : answer(reply, entries)), failed);
      }, failed);
  }

  latest(channel: string, settings: StreamSettings, key: string): LatestOutcome | Promise<LatestOutcome> {
    if (!this.commandsUp()) return UNAVAILABLE;
    // One transaction: the value and the position it is valid at (the publish script updates both atomically).
    const read = this.cmd.multi().hmget(this.names.meta(channel), 'e', 's').hget(this.names.keyed(channel), JSON.stringify(key)).exec();
    return read.then(
      (replies): LatestOutcome => {
        this.answered();
        const [[positionError, position], [entryError, entry]] = replies as [[Error | null, [string | null, string | null]], [Error | null, string | null]];
        if (positionError !== null || entryError !== null) return UNAVAILABLE;
        const [epoch, seqText] = position;
        const at = { epoch: epoch ?? '', seq: Number(seqText ?? 0) };
        if (entry === null) return { ok: true, ...at, latest: undefined };
        const { seq, data, del, at: publishedAt } = parseHistoryEntry(entry);
        const ttl = settings.keyTtlMs ?? 0;
        // An entry older than the key TTL is left out of snapshots, so here too.
        return { ok: true, ...at, latest: del || (ttl > 0 && Date.now() - publishedAt > ttl) ? undefined : { seq, rawData: data } };
      },
      () => UNAVAILABLE,
    );
  }

  /**
   * The stream went back behind `since` in its epoch (writes lost in a failover): a new epoch
   * begins at its seq (FORK_SCRIPT), and the read answers it, unrecovered, so the loss is a `reset`.
   */
  private fork(channel: string, since: StreamPosition): Promise<HistoryOutcome> {
    return this.cmd.sluiceFork(this.names.meta(channel), this.names.history(channel), since.epoch, since.seq).then(
      ([epoch, seq]): HistoryOutcome => {
        this.answered();
        if (epoch !== since.epoch) this.log.warn({ ch: channel, lostFrom: seq + 1, lostTo: since.seq, epoch }, 'redis broker: stream went back (writes lost in a failover): new epoch');
        return { ok: true, position: { epoch, seq }, recovered: false, publications: [] };
      },
      () => UNAVAILABLE,
    );
  }

  /** Pipelines (round trips) and script calls sent for publications since start. */
  publishStats(): { roundTrips: number; calls: number } {
    return { roundTrips: this.publisher.roundTrips, calls: this.publisher.calls };
  }

  retains(): boolean {
    return false;
  }

  trimHistory(): void {}

  release(): void {}

  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    clearInterval(this.probeTimer);
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  private decode(channel: string, epoch: string, entry: string): Publication {
    const { seq, key, data, del } = parseHistoryEntry(entry);
    return this.events!.encode(channel, epoch, seq, key, data, del);
  }

  private onMessage(topic: string, message: string): void {
    if (!this.confirmed.has(topic)) return;
    const { epoch, seq, key, data, del } = parseLiveMessage(message);
    this.events!.deliver(this.events!.encode(this.names.channelOf(topic), epoch, seq, key, data, del));
  }

  /** After (re)connecting the pub/sub link: subscribe every wanted channel, then report ready. */
  private async resubscribe(): Promise<void> {
    const topics = [...this.wanted.keys()];
    try {
      for (let i = 0; i < topics.length; i += RESUBSCRIBE_BATCH) await this.sub.subscribe(...topics.slice(i, i + RESUBSCRIBE_BATCH));
    } catch (err) {
      // The link dropped again; the next 'ready' retries.
      this.log.warn({ err: (err as Error).message }, 'redis broker: resubscribe failed');
      return;
    }
    for (const topic of topics) if (this.wanted.has(topic)) this.confirmed.add(topic);
    this.subUp = true;
    this.update();
  }

  private commandsUp(): boolean {
    return this.cmdUp && !this.hung && !this.closed;
  }

  private answered(): void {
    this.lastAnswerAt = Date.now();
  }

  /**
   * A command went unanswered for commandTimeoutMs. Redis hangs if it answered nothing else in that
   * time either (a busy Redis, or a busy node, still answers): then the broker is not ready until
   * it answers a PING. Checked after this turn's I/O, since a timer can fire before the poll phase
   * reads answers that arrived while this process was busy.
   */
  private timedOut(): void {
    if (this.hung || this.suspecting || !this.cmdUp) return;
    this.suspecting = true;
    setImmediate(() => {
      this.suspecting = false;
      if (this.hung || !this.cmdUp || Date.now() - this.lastAnswerAt < this.config.commandTimeoutMs) return;
      this.hung = true;
      this.log.warn({ url: this.topology.target, timeoutMs: this.config.commandTimeoutMs }, 'redis broker: Redis does not answer; not ready until it does');
      this.update();
    });
  }

  /** One PING at a time, every commandTimeoutMs: notices a Redis that hangs, and one that answers again. */
  private probe(): void {
    if (!this.cmdUp || this.probing || this.closed) return;
    this.probing = true;
    this.cmd.ping().then(
      () => {
        this.answered();
        this.probing = false;
        if (!this.hung) return;
        this.hung = false;
        this.update();
      },
      (err: Error) => {
        this.probing = false;
        if (err.message === 'Command timed out') this.timedOut();
      },
    );
  }

  private update(): void {
    const up = this.commandsUp() && this.subUp;
    if (up === this.up) return;
    this.up = up;
    if (up) {
      this.failing.commands = this.failing.pubsub = false;
      this.log.info({ url: this.topology.target, channels: this.wanted.size }, 'redis broker: connected');
      this.events!.restored();
    } else if (!this.closed) {
      this.log.warn({ url: this.topology.target, channels: this.wanted.size }, 'redis broker: link lost; publishes refused (unavailable) until it is back');
      this.events!.interrupted();
    }
  }

  private options(link: 'commands' | 'pubsub', extra: Partial<RedisOptions>): RedisOptions {
    const { connectTimeoutMs, reconnectMinMs, reconnectMaxMs } = this.config;
    return {
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      // Fail fast instead of queueing: a publish while Redis is away is refused, never parked.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => {
        if (this.closed) return null;
        const delay = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(attempt - 1, 20));
        if (!this.failing[link] || attempt % 10 === 0) {
          this.log.warn({ link, url: this.topology.target, attempt, retryInMs: delay, err: this.lastError[link] }, 'redis broker: unreachable, retrying');
        }
        this.failing[link] = true;
        return delay;
      },
      ...extra,
    };
  }
}
