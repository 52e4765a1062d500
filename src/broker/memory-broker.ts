import { randomBytes } from 'node:crypto';
import type { StreamPosition } from '../stream/position.js';
import type { StreamSettings } from '../stream/settings.js';
import type { Clock } from '../util/clock.js';
import type { Broker, BrokerEvents, HistoryOutcome, PublishOutcome } from './broker.js';
import { History } from './history.js';

/** One channel's stream in this process. A new epoch starts whenever the stream is created afresh. */
class Stream {
  readonly epoch = newEpoch();
  seq = 0;
  readonly history: History;

  constructor(settings: StreamSettings) {
    this.history = new History(settings.historySize, settings.historyTtlMs);
  }
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * The single-node broker: seq, epoch and history live in this process, and every call completes
 * synchronously (publish hands the publication back for the node to deliver before it returns). A channel's stream
 * lives as long as the hub keeps the channel, which it does while the stream holds history.
 */
export class MemoryBroker implements Broker {
  readonly ready = true;
  private readonly streams = new Map<string, Stream>();
  private events: BrokerEvents | undefined;

  constructor(private readonly clock: Clock) {}

  start(events: BrokerEvents): void {
    this.events = events;
  }

  publish(channel: string, settings: StreamSettings, key: string | undefined, rawData: string): PublishOutcome {
    const stream = this.stream(channel, settings);
    const seq = ++stream.seq;
    const publication = this.events!.encode(channel, stream.epoch, seq, key, rawData);
    stream.history.append(publication);
    return { ok: true, seq, publication };
  }

  subscribe(): boolean {
    return true;
  }

  unsubscribe(): void {}

  history(channel: string, settings: StreamSettings, since: StreamPosition | undefined, tail = false): HistoryOutcome {
    const stream = this.stream(channel, settings);
    const position = { epoch: stream.epoch, seq: stream.seq };
    if (since === undefined || since.epoch !== stream.epoch) return { ok: true, position, recovered: false, publications: [] };
    const replay = stream.history.after(since.seq, stream.seq, this.clock(), tail);
    return { ok: true, position, recovered: replay.recovered, publications: replay.messages };
  }

  retains(channel: string, now: number): boolean {
    const stream = this.streams.get(channel);
    if (stream === undefined) return false;
    stream.history.expire(now);
    return stream.history.length > 0;
  }

  release(channel: string): void {
    this.streams.delete(channel);
  }

  async close(): Promise<void> {
    this.streams.clear();
  }

  private stream(channel: string, settings: StreamSettings): Stream {
    let stream = this.streams.get(channel);
    if (stream === undefined) {
      stream = new Stream(settings);
      this.streams.set(channel, stream);
    }
    return stream;
  }
}
