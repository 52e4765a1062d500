import type { Broker, BrokerEvents, LatestOutcome, PublishOutcome } from '../broker/broker.js';
import { UNAVAILABLE } from '../broker/broker.js';
import type { ChannelRules } from '../config/channel-rules.js';
import type { Logger } from '../observability/logger.js';
import { encodeMessage } from '../protocol/frames.js';
import type { PreparedFrame } from '../net/socket.js';
import type { TopicFanOut } from '../net/server.js';
import type { Clock } from '../util/clock.js';
import type { MemoryBudget } from '../util/memory-budget.js';
import type { StreamPosition } from '../stream/position.js';
import { Publication } from '../stream/publication.js';
import { Channel, DELIVERY, Join, type Subscriber } from './channel.js';
import { DeltaBases } from './delta-bases.js';
import { Joining } from './joining.js';
import { StreamRepair } from './stream-repair.js';

export interface HubOptions {
  readonly rules: ChannelRules;
  readonly maxChannels: number;
  /** Frames a payload once for the transport; shared by every subscriber. */
  readonly prepare: (payload: Buffer) => PreparedFrame;
  readonly clock: Clock;
  readonly broker: Broker;
  /** Most live publications buffered per joining subscriber while its history read is in flight. */
  readonly maxJoinBuffer: number;
  readonly log: Logger;
  /** Told when a channel gets its first subscriber on this node (true) and loses its last (false). */
  readonly occupancy?: ((channel: string, occupied: boolean) => void) | undefined;
  /** The process's memory budget: history beyond its share is evicted as it is appended. */
  readonly budget: MemoryBudget;
  /** The transport's own fan-out (one topic per channel), for channels whose subscribers are all `fast`. */
  readonly topics?: TopicFanOut | undefined;
  /** Told what went out through topics (the writes the subscribers would have counted one by one). */
  readonly topicDelivered?: ((messages: number, bytes: number) => void) | undefined;
}

/** What one fan-out did for this node's subscribers, per outcome; the counts sum to `subscribers`. */
export interface FanOut {
  readonly subscribers: number;
  readonly written: number;
  readonly queued: number;
  readonly shed: number;
  readonly disconnected: number;
}

/**
 * A publication's seq and its fan-out on this node. With an asynchronous broker (Redis) delivery
 * happens later, on every node, and the fan-out is empty.
 */
export interface Delivered {
  readonly ok: true;
  readonly seq: number;
  readonly fanOut: FanOut;
}

export type PublishResult = Delivered | Exclude<PublishOutcome, { ok: true }> | { readonly ok: false; readonly code: 'channel_limit' | 'key_required' };

/** Delay before a failed stream repair is retried while the broker is connected. */
const REPAIR_RETRY_MS = 250;

const CHANNEL_LIMIT = Object.freeze({ ok: false, code: 'channel_limit' } as const);
const KEY_REQUIRED = Object.freeze({ ok: false, code: 'key_required' } as const);

const NO_FAN_OUT: FanOut = Object.freeze({ subscribers: 0, written: 0, queued: 0, shed: 0, disconnected: 0 });

function deliveredElsewhere(outcome: PublishOutcome): PublishResult {
  return outcome.ok ? { ok: true, seq: outcome.seq, fanOut: NO_FAN_OUT } : outcome;
}

/**
 * Channels and fan-out on this node. The broker assigns seqs and keeps history; the hub keeps
 * channel → local subscribers, encodes and frames each publication once, and hands the same object
 * to every subscriber, synchronously: no subscriber can slow the publisher, since subscribers only
 * queue (their own, bounded) references.
 *
 * Subscribers come in through `Joining` (gap-free and duplicate-free whatever the broker's
 * latency), and the node's stream is repaired by `StreamRepair` when it missed publications.
 */
export class Hub implements BrokerEvents {
  private readonly channels = new Map<string, Channel>();
  /** Channels nobody here watches, least recently used first: eviction candidates at the limit. */
  private readonly idle = new Set<Channel>();
  /**
   * Idle channels whose history memory pressure dropped: they keep their stream's position (so a
   * resume learns its exact loss) until the next sweep, or until pressure needs even that.
   */
  private readonly drained = new Set<Channel>();
  private readonly repair: StreamRepair;
  private readonly joining: Joining;
  private readonly broker: Broker;
  /** Publications this node received (metrics). */
  publications = 0;
  /** Of those, the ones handed to all their subscribers through the transport's topic (metrics). */
  topicPublications = 0;
  /** Channels whose history was dropped to keep the history pool within the memory budget (metrics). */
  historyEvictions = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: HubOptions) {
    this.broker = options.broker;
    this.repair = new StreamRepair(this.broker, this, options);
    this.joining = new Joining(
      { startRepair: (channel) => this.repair.start(channel), unwatch: (channel) => this.unwatch(channel), hold: (pub) => this.hold(pub), release: (pubs) => this.release(pubs) },
      options,
    );
  }

  /** Streams repaired from history, and notices sent, since start (metrics). */
  get repairs(): number {
    return this.repair.repaired;
  }

  get notices(): number {
    return this.repair.notices;
  }

  /** The transport's own fan-out, if it has one (connections then keep their catch-up). */
  get topics(): TopicFanOut | undefined {
    return this.options.topics;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  get(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  *all(): IterableIterator<Channel> {
    yield* this.channels.values();
  }

  publish(name: string, key: string | undefined, rawData: string, pid?: string, del = false): PublishResult | Promise<PublishResult> {
    const channel = this.channel(name);
    if (channel === undefined) return CHANNEL_LIMIT;
    if (channel.settings.keyed && key === undefined) return KEY_REQUIRED;
    if (channel.unwatched) this.touch(channel);
    const outcome = this.broker.publish(name, channel.settings, key, rawData, pid, del);
    if (outcome instanceof Promise) return outcome.then(deliveredElsewhere, () => UNAVAILABLE);
    if (!outcome.ok) return outcome;
    const { budget } = this.options;
    if (budget.pools.history.bytes > budget.historyBound) this.boundHistory(channel);
    // A synchronous broker hands the publication back for this node to deliver before returning.
    return { ok: true, seq: outcome.seq, fanOut: outcome.publication === undefined ? NO_FAN_OUT : this.receive(outcome.publication) };
  }

  /**
   * Adds a subscriber. It is told the outcome through `joined` (at once with the memory broker),
   * then, with `since`, gets the publications it missed, then live ones, each exactly once. On a
   * keyed channel, with `snapshot` or a `since` history cannot serve, it gets the channel's state
   * at the joined position instead (docs/keyed.md).
   */
  subscribe(channel: Channel, subscriber: Subscriber, since?: StreamPosition, snapshot = false): void {
    const join = new Join(subscriber, since, channel.settings.keyed && (snapshot || since !== undefined));
    if (channel.unwatched) this.options.occupancy?.(channel.name, true);
    channel.joins.push(join);
    channel.subscribed = true;
    this.idle.delete(channel);
    this.drained.delete(channel);
    this.joining.start(channel, join);
  }

  /** The latest value of one key of a keyed channel, read from the broker (`fetch`, docs/keyed.md). */
  latest(channel: Channel, key: string): LatestOutcome | Promise<LatestOutcome> {
    const outcome = this.broker.latest(channel.name, channel.settings, key);
    return outcome instanceof Promise ? outcome.catch(() => UNAVAILABLE) : outcome;
  }

  /** Removes a subscriber (or cancels its join); the node unsubscribes when its last one leaves. */
  unsubscribe(channel: Channel, subscriber: Subscriber): void {
    if (!channel.removeSubscriber(subscriber)) {
      const join = channel.joins.find((j) => j.subscriber === subscriber);
      if (join !== undefined) this.joining.drop(channel, join);
    }
    if (channel.unwatched) this.unwatch(channel);
  }

  /** Expires in-process history and forgets channels nobody watches and that hold no history. */
  sweep(): void {
    const now = this.options.clock();
    for (const channel of this.idle) if (!this.broker.retains(channel.name, now)) this.forget(channel);
    for (const channel of this.drained) this.forget(channel);
    for (const channel of this.channels.values()) if (channel.stale && this.broker.ready) this.repair.start(channel);
  }

  /**
   * Drops history, of the channels nobody here watches, least recently used first, until the
   * history pool holds at most `bytes`; true when it got there. Each channel keeps its position
   * until the next sweep forgets it, so a resume meanwhile learns the exact range it lost.
   */
  relieveHistory(bytes: number): boolean {
    const pool = this.options.budget.pools.history;
    for (const channel of this.idle) {
      if (pool.bytes <= bytes) return true;
      this.broker.trimHistory(channel.name, 0);
      // A keyed channel's state is not history: the channel stays (a resume gets its snapshot).
      if (channel.settings.keyed) continue;
      this.idle.delete(channel);
      this.drained.add(channel);
      this.historyEvictions++;
    }
    // Last resort: the positions kept for resumes go too (a resume then meets a new epoch).
    for (const channel of this.drained) {
      if (pool.bytes <= bytes) return true;
      this.forget(channel);
    }
    return pool.bytes <= bytes;
  }

  /**
   * The history pool passed its share of the budget: idle channels' history goes first; if only
   * watched channels hold history, the history of the one being published to goes (its
   * subscribers are live: only a later resume is affected, and learns its exact loss).
   */
  private boundHistory(channel: Channel): void {
    const bound = this.options.budget.historyBound;
    if (this.relieveHistory(bound)) return;
    this.broker.trimHistory(channel.name, 0);
    this.historyEvictions++;
  }

  /** The channel of that name, created if needed; undefined when at the channel limit with none to evict. */
  channel(name: string): Channel | undefined {
    let channel = this.channels.get(name);
    if (channel !== undefined) return channel;
    if (this.channels.size >= this.options.maxChannels) {
      const victim = this.drained.values().next().value ?? this.idle.values().next().value;
      if (victim === undefined) return undefined;
      this.forget(victim);
    }
    const settings = this.options.rules.settingsFor(name);
    channel = new Channel(name, settings);
    if (settings.keyed && settings.delta) channel.deltas = new DeltaBases(settings.maxKeys, this.options.budget.pools.keyed, this.options.prepare);
    this.channels.set(name, channel);
    this.idle.add(channel);
    return channel;
  }

  // ---- BrokerEvents ----

  encode(name: string, epoch: string, seq: number, key: string | undefined, rawData: string, del = false): Publication {
    const { queuePolicy } = this.channels.get(name)?.settings ?? this.options.rules.settingsFor(name);
    const conflationKey = key !== undefined && queuePolicy.policy === 'conflate' ? `${name}\u0000${key}` : undefined;
    return new Publication(name, queuePolicy, epoch, seq, key, conflationKey, encodeMessage(name, seq, key, rawData, del), this.options.clock(), del);
  }

  deliver(pub: Publication): void {
    this.receive(pub);
  }

  /** A publication of a channel this node follows (or not: then it is dropped), in stream order. */
  private receive(pub: Publication): FanOut {
    const channel = this.channels.get(pub.channel);
    if (channel === undefined) return NO_FAN_OUT;
    this.publications++;
    channel.published++;
    if (!channel.live) {
      if (channel.joins.length > 0) this.joining.feed(channel, pub);
      return NO_FAN_OUT;
    }
    // Held by a repair, or starting one: joiners get it when the repair hands it on (advance), in
    // order and once; fed now as well, a joiner answered after the repair would hold it twice, and
    // out of order (its splice stops at the first hole and it would miss what the repair handed on).
    if (channel.resync !== undefined) {
      this.repair.hold(channel, pub);
      return NO_FAN_OUT;
    }
    if (pub.seq !== channel.seq + 1 || pub.epoch !== channel.epoch) {
      if (pub.epoch === channel.epoch && pub.seq <= channel.seq) return NO_FAN_OUT;
      // The node missed publications (its link was lost or lagged): repair from history.
      channel.resync = [pub];
      this.hold(pub);
      this.repair.start(channel);
      return NO_FAN_OUT;
    }
    if (channel.joins.length > 0) this.joining.feed(channel, pub);
    const fanOut = this.fanOut(channel, pub);
    if (channel.joins.length > 0) this.joining.promoteReached(channel);
    return fanOut;
  }

  /** Hands a publication that follows the node's position on (repair), to joiners as well. */
  advance(channel: Channel, pub: Publication): void {
    if (channel.joins.length > 0) this.joining.feed(channel, pub);
    this.fanOut(channel, pub);
    if (channel.joins.length > 0) this.joining.promoteReached(channel);
  }

  /** The node's stream of the channel is in step again: joiners it reached join it, those answered meanwhile read again. */
  repaired(channel: Channel): void {
    this.joining.repaired(channel);
  }

  /** Joiners not yet answered fail; those served stay on their way in (a repair will tell them what they lost). */
  interrupted(): void {
    for (const channel of this.channels.values()) {
      if (channel.live) channel.stale = true;
      this.joining.interrupted(channel);
    }
  }

  /** One timer for the whole hub retries every stale channel's repair (while the broker is up). */
  repairFailed(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.broker.ready) this.restored();
    }, REPAIR_RETRY_MS);
    this.retryTimer.unref();
  }

  restored(): void {
    for (const channel of this.channels.values()) if (channel.stale) this.repair.start(channel);
  }

  // ---- internals ----

  /** Hands a publication to every live subscriber of its channel and records the node's position. */
  private fanOut(channel: Channel, pub: Publication): FanOut {
    const sameEpoch = pub.epoch === channel.epoch;
    channel.seq = pub.seq;
    channel.epoch = pub.epoch;
    // A delta is made only while a subscriber here asked for deltas; one that joins later holds no
    // base from before it came, so it gets whole values first whatever was made meanwhile.
    channel.deltas?.note(pub, channel.deltaSubscribers > 0);
    const subscribers = channel.subscribers.size;
    if (subscribers === 0) return NO_FAN_OUT;
    pub.prepared ??= this.options.prepare(pub.encoded);
    // Every subscriber would write it at once, as it is: one call hands it to all of them. A new
    // epoch, and a broker notice (no channel of its own), go to each (they move its stream).
    const { topics } = this.options;
    if (topics !== undefined && channel.lagging === 0 && sameEpoch && pub.channel === channel.name && topics.publish(channel.name, pub.prepared, pub.bytes)) {
      this.topicPublications++;
      this.options.topicDelivered?.(subscribers, subscribers * pub.bytes);
      return { subscribers, written: subscribers, queued: 0, shed: 0, disconnected: 0 };
    }
    let written = 0;
    let queued = 0;
    let shed = 0;
    for (const subscriber of channel.subscribers) {
      const outcome = subscriber.deliver(pub);
      if (outcome === DELIVERY.written) written++;
      else if (outcome === DELIVERY.queued) queued++;
      else if (outcome === DELIVERY.shed) shed++;
    }
    return { subscribers, written, queued, shed, disconnected: subscribers - written - queued - shed };
  }

  /** A joiner's buffer or a repair holds a live publication: the budget's `held` pool counts it once. */
  hold(pub: Publication): void {
    if (pub.held++ === 0) this.options.budget.pools.held.add(pub.cost);
  }

  /** Releases `pubs[from, to)` from a joiner's buffer or a repair. */
  release(pubs: readonly Publication[], from = 0, to = pubs.length): void {
    const pool = this.options.budget.pools.held;
    for (let i = from; i < to; i++) if (--pubs[i]!.held === 0) pool.sub(pubs[i]!.cost);
  }

  /** The last local subscriber left: stop following the stream. */
  private unwatch(channel: Channel): void {
    this.options.occupancy?.(channel.name, false);
    channel.live = false;
    channel.stale = false;
    // Bases are only right while the node follows every publication.
    channel.deltas?.clear();
    if (channel.resync !== undefined) this.release(channel.resync);
    channel.resync = undefined;
    if (channel.subscribed) {
      channel.subscribed = false;
      this.broker.unsubscribe(channel.name);
    }
    if (this.broker.retains(channel.name, this.options.clock())) this.touch(channel);
    else this.forget(channel);
  }

  private touch(channel: Channel): void {
    this.drained.delete(channel);
    this.idle.delete(channel);
    this.idle.add(channel);
  }

  private forget(channel: Channel): void {
    channel.deltas?.clear();
    this.channels.delete(channel.name);
    this.idle.delete(channel);
    this.drained.delete(channel);
    this.broker.release(channel.name);
  }
}
