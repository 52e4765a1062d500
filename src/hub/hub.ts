import type { ChannelRules } from '../config/channel-rules.js';
import { encodeMessage } from '../protocol/frames.js';
import type { Clock } from '../util/clock.js';
import type { PreparedFrame } from '../transport/transport.js';
import { Channel, DELIVERY, type Subscriber } from './channel.js';
import type { Replay } from './history.js';
import { Publication } from './publication.js';

export interface HubOptions {
  readonly rules: ChannelRules;
  readonly maxChannels: number;
  /** Frames a payload once for the transport; shared by every subscriber. */
  readonly prepare: (payload: Buffer) => PreparedFrame;
  readonly clock: Clock;
}

/** A publication's seq and what became of it for this node's subscribers (counts sum to `subscribers`). */
export interface Delivered {
  readonly ok: true;
  readonly seq: number;
  readonly subscribers: number;
  readonly written: number;
  readonly queued: number;
  readonly shed: number;
  readonly disconnected: number;
}

export type PublishResult = Delivered | { ok: false; code: 'channel_limit' };

/**
 * Channels and fan-out on this node. A publication gets its seq, is encoded and framed once, is
 * appended to history and handed to every subscriber, all synchronously: no subscriber can slow
 * the publisher, since subscribers only queue (their own, bounded) references.
 */
export class Hub {
  private readonly channels = new Map<string, Channel>();
  /** Channels without subscribers, least recently used first: eviction candidates at the limit. */
  private readonly unwatched = new Set<Channel>();
  publications = 0;
  deliveries = 0;

  constructor(private readonly options: HubOptions) {}

  get channelCount(): number {
    return this.channels.size;
  }

  get(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  *all(): IterableIterator<Channel> {
    yield* this.channels.values();
  }

  publish(name: string, key: string | undefined, rawData: string): PublishResult {
    const channel = this.channel(name);
    if (channel === undefined) return { ok: false, code: 'channel_limit' };
    const now = this.options.clock();
    const seq = ++channel.seq;
    channel.lastPublishAt = now;
    const conflationKey = key !== undefined && channel.queuePolicy.policy === 'conflate' ? `${name}\u0000${key}` : undefined;
    const pub = new Publication(channel, seq, key, conflationKey, encodeMessage(name, seq, key, rawData), now);
    channel.history.append(pub);
    this.publications++;
    const subscribers = channel.subscribers.size;
    let written = 0;
    let queued = 0;
    let shed = 0;
    if (subscribers > 0) {
      pub.frame = this.options.prepare(pub.payload);
      for (const subscriber of channel.subscribers) {
        const outcome = subscriber.deliver(pub);
        if (outcome === DELIVERY.written) written++;
        else if (outcome === DELIVERY.queued) queued++;
        else if (outcome === DELIVERY.shed) shed++;
      }
      this.deliveries += subscribers;
    } else {
      this.touch(channel);
    }
    return { ok: true, seq, subscribers, written, queued, shed, disconnected: subscribers - written - queued - shed };
  }

  /**
   * Adds a subscriber. With `since`, also returns the publications it missed (or that it cannot
   * recover them); the caller must deliver those before anything else reaches the subscriber,
   * which holds as long as it does so synchronously.
   */
  subscribe(channel: Channel, subscriber: Subscriber, since?: { epoch: string; seq: number }): Replay | undefined {
    let replay: Replay | undefined;
    if (since !== undefined) {
      replay = since.epoch === channel.epoch ? channel.history.after(since.seq, channel.seq, this.options.clock()) : { recovered: false };
      if (replay.recovered) for (const pub of replay.messages) pub.frame ??= this.options.prepare(pub.payload);
    }
    channel.subscribers.add(subscriber);
    this.unwatched.delete(channel);
    return replay;
  }

  unsubscribe(channel: Channel, subscriber: Subscriber): void {
    channel.subscribers.delete(subscriber);
    if (channel.subscribers.size === 0) {
      if (channel.idle) this.forget(channel);
      else this.touch(channel);
    }
  }

  /** Expires history and forgets channels nobody watches and that hold no history. */
  sweep(): void {
    const now = this.options.clock();
    for (const channel of this.unwatched) {
      channel.history.expire(now);
      if (channel.idle) this.forget(channel);
    }
  }

  /** The channel of that name, created if needed; undefined when at the channel limit with none to evict. */
  channel(name: string): Channel | undefined {
    let channel = this.channels.get(name);
    if (channel !== undefined) return channel;
    if (this.channels.size >= this.options.maxChannels) {
      const victim = this.unwatched.values().next().value;
      if (victim === undefined) return undefined;
      this.forget(victim);
    }
    channel = new Channel(name, this.options.rules.settingsFor(name));
    this.channels.set(name, channel);
    this.unwatched.add(channel);
    return channel;
  }

  private touch(channel: Channel): void {
    this.unwatched.delete(channel);
    this.unwatched.add(channel);
  }

  private forget(channel: Channel): void {
    this.channels.delete(channel.name);
    this.unwatched.delete(channel);
  }
}
