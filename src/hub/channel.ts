import type { StreamPosition } from '../stream/position.js';
import type { ResolvedChannelSettings } from '../config/channel-rules.js';
import type { QueuePolicy } from '../protocol/policy.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { Publication } from '../stream/publication.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';
import type { DeltaBases } from './delta-bases.js';

/** What became of one publication for one subscriber (a number: no allocation per delivery). */
export const DELIVERY = {
  /** Handed to the socket at once. */
  written: 0,
  /** Waiting in the subscriber's outbound queue. */
  queued: 1,
  /** Shed on arrival by the channel's slow-consumer policy (the subscriber will get a gap). */
  shed: 2,
  /** The subscriber was cut off as a slow consumer, or is already closing. */
  disconnected: 3,
} as const;
export type DeliveryOutcome = (typeof DELIVERY)[keyof typeof DELIVERY];

/**
 * How a subscription request ended: the position it starts from, or why it failed. `recovered` is
 * undefined without `since`, and `snapshot` when a keyed channel's state replaces what history
 * lost; `snapshot`: the state follows (docs/keyed.md).
 */
export type JoinOutcome =
  | { readonly ok: true; readonly epoch: string; readonly seq: number; readonly recovered: boolean | 'snapshot' | undefined; readonly snapshot?: boolean }
  | { readonly ok: false; readonly code: ErrorCode };

/** Something that receives a channel's publications: one connection's subscription. */
export interface Subscriber {
  /** It asked for deltas (`sub` with `delta` on a delta channel); fixed for its life. */
  readonly wantsDeltas: boolean;
  /** It keeps a keyed channel's state (`sub` with `snapshot`): a lost stream is restated to it; fixed for its life. */
  readonly wantsState: boolean;
  /**
   * Publications may reach it through its channel's topic (the transport's own fan-out): nothing of
   * its channel, no control frame and no gap waits to be written to it before the next one. Read by
   * its channel when it is listed and unlisted; while listed it reports each change to
   * `Channel.lagging` itself. Absent: never.
   */
  readonly fast?: boolean;
  /** It became a live subscriber of its channel (true) or stopped being one (false): it joins or leaves the channel's topic. */
  listed?(live: boolean): void;
  /** Called once, before any publication is delivered (never, if the join was cancelled). */
  joined(outcome: JoinOutcome): void;
  deliver(pub: Publication): DeliveryOutcome;
  /**
   * The history a resuming subscriber missed, in seq order, before any later publication. Handed
   * over whole: the subscriber writes it as its socket drains rather than through its bounded
   * queue, so a replay larger than that queue does not cut off the client it is meant to restore.
   */
  replay(pubs: readonly Publication[]): void;
  /** A keyed channel's state at the joined position, before any later publication (like a replay). */
  snapshot(state: KeyedSnapshot): void;
  /**
   * The node lost part of a keyed channel's stream (its broker link was down longer than history
   * reaches): the broker `notice` (a `gap` with `snapshot`), then the channel's state at
   * `state.seq`, supersede whatever of the channel it has not written yet; later publications follow.
   * Only for a subscriber that `wantsState`; others get the notice without `snapshot` (`deliver`).
   */
  restate(notice: Publication, state: KeyedSnapshot): void;
}

/**
 * A subscriber on its way in: its history read is in flight (live publications are buffered), or it
 * has been served up to `cursor`, ahead of the node's live stream, and waits for the stream to
 * catch up so it gets nothing twice.
 */
export class Join {
  readonly buffer: Publication[] = [];
  /** Set once history was delivered: the position (`epoch`, `cursor`) the subscriber has received up to. */
  cursor = -1;
  epoch = '';
  /** Its history read must be made again once the node's stream is repaired (it answered while the node was out of step). */
  reread = false;
  cancelled = false;

  constructor(
    readonly subscriber: Subscriber,
    readonly since: StreamPosition | undefined,
    /** Asked for the state of a keyed channel (`sub` with `snapshot`). */
    readonly snapshot = false,
  ) {}
}

/**
 * A channel on this node: its local subscribers and the node's place in the channel's stream (the
 * broker owns the stream itself: seq, epoch, history).
 */
export class Channel {
  private readonly members = new Set<Subscriber>();
  /** Of `subscribers`, those that asked for deltas: the node encodes deltas only while there are any. */
  deltaSubscribers = 0;
  /** Of `subscribers`, those not `fast`: at 0 a publication may go to the channel's topic (one call for all). */
  lagging = 0;
  joins: Join[] = [];
  /** The last publication handed to `subscribers`; meaningful while `live`. */
  epoch = '';
  seq = 0;
  /** The node follows the stream for its subscribers (false before the first join, after the last leaves). */
  live = false;
  /** Publications held while the node re-reads history to repair its stream; undefined when in sync. */
  resync: Publication[] | undefined = undefined;
  /** How many of `resync` arrived before the repair's history read was sent (so were published before it ran). */
  heldAtRead = 0;
  /** The stream must be repaired from history (link lost, or a read failed). */
  stale = false;
  /** Bumped by every repair start: a reply to an older read is ignored. */
  repairs = 0;
  /** The node asked the broker for this channel's publications. */
  subscribed = false;
  /** Publications this node received for the channel (observability: its growth is the publish rate). */
  published = 0;
  /** Messages shed for this channel's subscribers on this node (observability: webhooks report its growth). */
  shed = 0;
  readonly queuePolicy: QueuePolicy;
  /** On a delta channel (rule `delta`): the node's delta bases (docs/keyed.md). */
  deltas: DeltaBases | undefined = undefined;

  constructor(
    readonly name: string,
    readonly settings: ResolvedChannelSettings,
  ) {
    this.queuePolicy = settings.queuePolicy;
  }

  /** The live subscribers (a joiner becomes one once the node's stream reaches it). */
  get subscribers(): ReadonlySet<Subscriber> {
    return this.members;
  }

  addSubscriber(subscriber: Subscriber): void {
    if (this.members.has(subscriber)) return;
    this.members.add(subscriber);
    if (subscriber.wantsDeltas) this.deltaSubscribers++;
    if (subscriber.fast !== true) this.lagging++;
    subscriber.listed?.(true);
  }

  /** False when it was not a live subscriber. */
  removeSubscriber(subscriber: Subscriber): boolean {
    if (!this.members.delete(subscriber)) return false;
    if (subscriber.wantsDeltas) this.deltaSubscribers--;
    if (subscriber.fast !== true) this.lagging--;
    subscriber.listed?.(false);
    return true;
  }

  /** Nobody here is subscribed or on the way in. */
  get unwatched(): boolean {
    return this.subscribers.size === 0 && this.joins.length === 0;
  }
}
