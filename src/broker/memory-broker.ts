import { randomBytes } from 'node:crypto';
import type { StreamPosition } from '../stream/position.js';
import type { StreamSettings } from '../stream/settings.js';
import type { Clock } from '../util/clock.js';
import { unmeteredPool, type MemoryPool } from '../util/memory-budget.js';
import { dataOf } from '../stream/delta.js';
import { KEY_LIMIT, type Broker, type BrokerEvents, type HistoryOutcome, type LatestOutcome, type PublishOutcome } from './broker.js';
import { History } from './history.js';
import { KeyedState } from './keyed-state.js';
import { PublicationIds } from './publication-ids.js';

/** What one stream costs the history pool beyond its publications: its objects and map entry (rounded up). */
export const STREAM_BYTES = 512;

/** One channel's stream in this process. A new epoch starts whenever the stream is created afresh. */
class Stream {
  readonly epoch = newEpoch();
  seq = 0;
  readonly history: History;
  /** The last publication, or the last moment the node had a subscriber. */
  activeAt: number;
  readonly ids: PublicationIds;
  /** The latest publication of every key, on a keyed channel. */
  readonly keyed: KeyedState | undefined;

  constructor(
    readonly settings: StreamSettings,
    now: number,
    publicationIdTtlMs: number,
    pool: MemoryPool,
    keyedPool: MemoryPool,
  ) {
    this.history = new History(settings, pool);
    this.keyed = settings.keyed === true ? new KeyedState(settings, keyedPool) : undefined;
    this.ids = new PublicationIds(publicationIdTtlMs);
    this.activeAt = now;
  }
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * The single-node broker: seq, epoch and history live in this process, and every call completes
 * synchronously (publish hands the publication back for the node to deliver before it returns). A
 * channel's stream lives as long as the hub keeps the channel, which it does while `retains` holds.
 */
export class MemoryBroker implements Broker {
  readonly ready = true;
  private readonly streams = new Map<string, Stream>();
  private events: BrokerEvents | undefined;

  constructor(
    private readonly clock: Clock,
    /** How long a publication's `pid` is remembered (`broker.publicationIdTtlMs`). */
    private readonly publicationIdTtlMs: number,
    /** The memory budget's history pool: every stream and publication held here is charged to it. */
    private readonly pool: MemoryPool = unmeteredPool('history'),
    /** The memory budget's keyed pool: the latest publication of every key of keyed channels. */
    private readonly keyedPool: MemoryPool = unmeteredPool('keyed'),
  ) {}

  start(events: BrokerEvents): void {
    this.events = events;
  }

  publish(channel: string, settings: StreamSettings, key: string | undefined, rawData: string, pid?: string, del = false): PublishOutcome {
    const stream = this.stream(channel, settings);
    const now = this.clock();
    if (pid !== undefined) {
      const given = stream.ids.lookup(pid, now);
      if (given !== undefined) return { ok: true, seq: given };
    }
    const { keyed } = stream;
    const valueBytes = keyed === undefined ? 0 : Buffer.byteLength(rawData);
    if (keyed !== undefined && !keyed.admits(key!, valueBytes, del, now)) return KEY_LIMIT;
    const seq = ++stream.seq;
    stream.activeAt = now;
    const publication = this.events!.encode(channel, stream.epoch, seq, key, rawData, del);
    stream.history.append(publication);
    keyed?.apply(publication, valueBytes);
    if (pid !== undefined) stream.ids.remember(pid, seq, publication.at);
    return { ok: true, seq, publication };
  }

  subscribe(): boolean {
    return true;
  }

  unsubscribe(channel: string): void {
    const stream = this.streams.get(channel);
    if (stream !== undefined) stream.activeAt = this.clock();
  }

  history(channel: string, settings: StreamSettings, since: StreamPosition | undefined, tail = false, snapshot = false): HistoryOutcome {
    const stream = this.stream(channel, settings);
    const position = { epoch: stream.epoch, seq: stream.seq };
    const now = this.clock();
    const replay = since === undefined || since.epoch !== stream.epoch ? undefined : stream.history.after(since.seq, stream.seq, now, tail);
    if (replay?.recovered === true) return { ok: true, position, recovered: true, publications: replay.messages };
    const state = snapshot && stream.keyed !== undefined ? stream.keyed.snapshot(position.epoch, position.seq, now) : undefined;
    if (state !== undefined) return { ok: true, position, recovered: false, publications: [], snapshot: state };
    return { ok: true, position, recovered: false, publications: replay?.messages ?? [] };
  }

  latest(channel: string, settings: StreamSettings, key: string): LatestOutcome {
    const stream = this.stream(channel, settings);
    const pub = stream.keyed?.latest(key, this.clock());
    return { ok: true, epoch: stream.epoch, seq: stream.seq, latest: pub === undefined ? undefined : { seq: pub.seq, rawData: dataOf(pub).toString() } };
  }

  /**
   * A stream keeps its epoch and seq while it holds history or was active (a publication, a
   * subscriber) within `historyTtlMs` (0: for as long as the hub keeps the channel): a channel
   * without history, or a quiet one whose last subscriber just left, goes on where it was rather
   * than in a new epoch. It is forgotten only once its history has expired.
   */
  retains(channel: string, now: number): boolean {
    const stream = this.streams.get(channel);
    if (stream === undefined) return false;
    stream.history.expire(now);
    stream.ids.expire(now);
    stream.keyed?.expire(now);
    const ttl = stream.settings.historyTtlMs;
    return stream.history.length > 0 || stream.ids.size > 0 || (stream.keyed?.size ?? 0) > 0 || ttl === 0 || now - stream.activeAt <= ttl;
  }

  trimHistory(channel: string, bytes: number): void {
    this.streams.get(channel)?.history.trim(bytes);
  }

  release(channel: string): void {
    const stream = this.streams.get(channel);
    if (stream === undefined) return;
    stream.history.trim(0);
    stream.keyed?.clear();
    this.pool.sub(STREAM_BYTES);
    this.streams.delete(channel);
  }

  async close(): Promise<void> {
    for (const channel of [...this.streams.keys()]) this.release(channel);
  }

  private stream(channel: string, settings: StreamSettings): Stream {
    let stream = this.streams.get(channel);
    if (stream === undefined) {
      stream = new Stream(settings, this.clock(), this.publicationIdTtlMs, this.pool, this.keyedPool);
      this.streams.set(channel, stream);
      this.pool.add(STREAM_BYTES);
    }
    return stream;
  }
}
