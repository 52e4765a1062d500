import { Ring, nextPow2 } from './ring.js';
import type { QueuePolicy, ShedReason } from '../protocol/policy.js';
import type { MemoryPool } from '../util/memory-budget.js';

/** What the outbound queue needs of a message. The same object is queued for every subscriber. */
export interface Queueable {
  /** The channel's name: messages of one channel are told apart from others' by it. */
  readonly channel: string;
  readonly queuePolicy: QueuePolicy;
  readonly seq: number;
  /** Set only for messages of `conflate` channels that carry a key: channel + key. */
  readonly conflationKey: string | undefined;
  /** Bytes this message costs in the queue (its encoded payload). */
  readonly bytes: number;
  /** When it was published (clock ms). */
  readonly at: number;
  /** Bytes it is charged to the memory budget while held. */
  readonly cost: number;
  /** Outbound queues holding it: the budget's outbound pool counts it once while any does. */
  queued: number;
}

export interface OutboundQueueLimits {
  /** Hard limit on queued payload bytes; past it the channel's policy sheds. */
  readonly maxQueueBytes: number;
  /** Hard limit on queued messages. */
  readonly maxQueueMessages: number;
  /** Soft limit on queued bytes; 0 disables it. */
  readonly softQueueBytes: number;
  /** How long the queue may stay above `softQueueBytes` before the consumer is declared slow. */
  readonly softLimitMs: number;
}

export type PushResult = 'queued' | 'shed' | 'disconnect';

/**
 * Shedding the oldest takes a run at once: down to this fraction of each hard limit below it
 * (1/16), so that a stopped consumer costs an append per message and a run of sheds per sixteenth
 * of its queue, not a shed per message on state long out of the cache.
 */
const SHED_RUN_FRACTION = 16;

/** Told of every message the queue sheds, with the reason (for gap accounting and metrics). */
export type ShedSink<M extends Queueable> = (message: M, reason: ShedReason) => void;

/**
 * One connection's bounded outbound data queue. Holds references to shared, already-encoded
 * messages, so a message queued for many subscribers costs its bytes once in memory but counts
 * against every queue that holds it. Never holds more than `maxQueueMessages` messages or `maxQueueBytes`
 * bytes after `push` returns (the lone exception: a `disconnect` result, after which the caller
 * must `clear()` the queue). Pure: time comes in as arguments.
 */
export class OutboundQueue<M extends Queueable> {
  private readonly ring: Ring<M>;
  private readonly byKey = new Map<string, number>();
  private queuedBytes = 0;
  private overSoftSince = -1;
  /** Where a run of oldest messages shed stops (see SHED_RUN_FRACTION). */
  private readonly lowBytes: number;
  private readonly lowMessages: number;
  private readonly relocate = (item: M, pos: number): void => {
    if (item.conflationKey !== undefined) this.byKey.set(item.conflationKey, pos);
  };

  constructor(
    private readonly limits: OutboundQueueLimits,
    private readonly onShed: ShedSink<M>,
    /** Where the bytes of the messages held are charged (each message once, whatever holds it). */
    private readonly pool?: MemoryPool,
  ) {
    // Room for maxQueueMessages + 1 live items and as many holes, so compaction is amortised O(1).
    this.ring = new Ring<M>(nextPow2(2 * (limits.maxQueueMessages + 1)));
    this.lowBytes = limits.maxQueueBytes - Math.floor(limits.maxQueueBytes / SHED_RUN_FRACTION);
    this.lowMessages = limits.maxQueueMessages - Math.floor(limits.maxQueueMessages / SHED_RUN_FRACTION);
  }

  get length(): number {
    return this.ring.length;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** Fraction of the tighter hard limit in use, 0..1. */
  get utilisation(): number {
    return Math.max(this.queuedBytes / this.limits.maxQueueBytes, this.ring.length / this.limits.maxQueueMessages);
  }

  /** Publication time of the oldest queued message, or undefined when empty. */
  oldestAt(): number | undefined {
    return this.ring.peek()?.at;
  }

  /**
   * Queues a message, shedding by its channel's policy when a hard limit is passed (drop-oldest,
   * and conflate without room, shed the channel's oldest in a run: see SHED_RUN_FRACTION).
   * `disconnect` means the consumer must be cut off (its queue is left for the caller to clear).
   */
  push(message: M, now: number): PushResult {
    const policy = message.queuePolicy.policy;
    const key = message.conflationKey;
    // The key's entry is overwritten below: the old message leaves the ring, not the map.
    if (key !== undefined) {
      const old = this.byKey.get(key);
      if (old !== undefined) this.take(old, 'conflated');
    } else if (policy === 'drop-newest' && this.wouldOverflow(message)) {
      // Shed on arrival, as the loop below would after queueing it: never queued, never charged.
      this.onShed(message, 'dropped');
      return this.trackSoft(now) ? 'disconnect' : 'shed';
    }
    const pos = this.ring.push(message, this.relocate);
    if (pos < 0) return 'disconnect';
    this.queuedBytes += message.bytes;
    if (message.queued++ === 0) this.pool?.add(message.cost);
    if (key !== undefined) this.byKey.set(key, pos);

    let result: PushResult = 'queued';
    if (policy === 'disconnect') {
      while (this.over(this.limits.maxQueueBytes, this.limits.maxQueueMessages)) {
        const victim = this.ring.findFrom(0, isLossy);
        if (victim < 0) return 'disconnect';
        this.remove(victim, 'dropped');
      }
    } else if (this.over(this.limits.maxQueueBytes, this.limits.maxQueueMessages)) {
      // The message itself goes last of its channel: then the queue holds less than before the push.
      do {
        const victim = policy === 'drop-newest' ? pos : this.oldestOf(message.channel);
        if (this.ring.at(victim) === message) result = 'shed';
        this.remove(victim, 'dropped');
      } while (result === 'queued' && this.over(this.lowBytes, this.lowMessages));
    }
    return this.trackSoft(now) ? 'disconnect' : result;
  }

  private over(bytes: number, messages: number): boolean {
    return this.queuedBytes > bytes || this.ring.length > messages;
  }

  /** Queueing `message` would pass a hard limit. */
  private wouldOverflow(message: M): boolean {
    return this.queuedBytes + message.bytes > this.limits.maxQueueBytes || this.ring.length + 1 > this.limits.maxQueueMessages;
  }

  /**
   * Position of the oldest queued message of `channel`: the head itself when it is of that channel
   * (always so with one channel per connection), else the first found after it.
   */
  private oldestOf(channel: string): number {
    const head = this.ring.firstPos();
    if (head >= 0 && this.ring.at(head)!.channel === channel) return head;
    return this.ring.findFrom(head, (m) => m.channel === channel);
  }

  /** Takes the next message to send, shedding expired ones at the head on the way. */
  shift(now: number): M | undefined {
    for (;;) {
      const message = this.ring.shift();
      if (message === undefined) {
        this.overSoftSince = -1;
        return undefined;
      }
      this.queuedBytes -= message.bytes;
      this.release(message);
      // At most one message per conflation key is queued, so its entry pointed at this one.
      if (message.conflationKey !== undefined) this.byKey.delete(message.conflationKey);
      const maxAge = message.queuePolicy.maxAgeMs;
      if (maxAge > 0 && now - message.at > maxAge) {
        this.onShed(message, 'expired');
        continue;
      }
      this.trackSoft(now);
      return message;
    }
  }

  /** True when the queue has been above its soft limit for longer than allowed. */
  softLimitExceeded(now: number): boolean {
    return this.overSoftSince >= 0 && now - this.overSoftSince > this.limits.softLimitMs;
  }

  /**
   * Removes, without reporting them, the queued messages that match (a subscription that ended:
   * nothing of it may reach the client after the end, nor be mistaken for a later subscription's).
   */
  purge(match: (message: M) => boolean): void {
    for (let pos = this.ring.findFrom(0, match); pos >= 0; pos = this.ring.findFrom(pos + 1, match)) {
      const message = this.ring.removeAt(pos)!;
      this.queuedBytes -= message.bytes;
      this.release(message);
      if (message.conflationKey !== undefined && this.byKey.get(message.conflationKey) === pos) this.byKey.delete(message.conflationKey);
    }
    if (this.ring.length === 0) this.overSoftSince = -1;
  }

  /**
   * Sheds every queued message of a lossy channel (memory pressure), reporting each as `dropped`;
   * returns the queue bytes freed. Messages of `disconnect` channels stay.
   */
  shedLossy(): number {
    const before = this.queuedBytes;
    for (let pos = this.ring.findFrom(0, isLossy); pos >= 0; pos = this.ring.findFrom(pos + 1, isLossy)) this.remove(pos, 'dropped');
    return before - this.queuedBytes;
  }

  /** Drops everything without reporting (the consumer is being disconnected). */
  clear(): void {
    for (const message of this.ring) this.release(message);
    this.ring.clear();
    this.byKey.clear();
    this.queuedBytes = 0;
    this.overSoftSince = -1;
  }

  private trackSoft(now: number): boolean {
    if (this.limits.softQueueBytes <= 0) return false;
    if (this.queuedBytes <= this.limits.softQueueBytes) {
      this.overSoftSince = -1;
      return false;
    }
    if (this.overSoftSince < 0) this.overSoftSince = now;
    return this.softLimitExceeded(now);
  }

  private release(message: M): void {
    if (--message.queued === 0) this.pool?.sub(message.cost);
  }

  private remove(pos: number, reason: ShedReason): void {
    const message = this.take(pos, reason);
    if (message?.conflationKey !== undefined && this.byKey.get(message.conflationKey) === pos) {
      this.byKey.delete(message.conflationKey);
    }
  }

  /** Sheds the message at `pos` and reports it; its conflation entry, if any, is the caller's. */
  private take(pos: number, reason: ShedReason): M | undefined {
    const message = this.ring.removeAt(pos);
    if (message === undefined) return undefined;
    this.queuedBytes -= message.bytes;
    this.release(message);
    this.onShed(message, reason);
    return message;
  }
}

function isLossy(m: Queueable): boolean {
  return m.queuePolicy.policy !== 'disconnect';
}
