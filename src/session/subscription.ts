import type { ShedReason } from '../protocol/policy.js';
import type { Channel, DeliveryOutcome, JoinOutcome, Subscriber } from '../hub/channel.js';
import type { Publication } from '../stream/publication.js';
import type { RequestId } from '../protocol/requests.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';
import type { KeyPacer } from './key-pacer.js';
import type { DeltaTracker } from './delta-tracker.js';
import type { PresenceWatcher, WatchKind } from '../presence/presence.js';
import type { CatchUp, CatchingUp } from './catch-up.js';

/** Where a subscription reports how its join ended (the connection, which replies to the request). */
export interface JoinSink {
  joined(sub: Subscription, outcome: JoinOutcome): void;
}

/**
 * A run of consecutive seqs of one epoch shed for a subscriber and not announced yet; `reason` is
 * the latest one's, but `conflated` only while every one of them was (each has a newer message of
 * its key): a client must never take a value for superseded that was not.
 */
export interface ShedRun {
  readonly epoch: string;
  from: number;
  to: number;
  reason: ShedReason;
}

/**
 * Epochs a subscription remembers the order of: more than can be queued for it at once (each
 * takes a broker notice, a rare event), so runs and notices still queued are always among them.
 */
const EPOCHS_KEPT = 8;

const NO_RUNS: readonly ShedRun[] = Object.freeze([]);

/** A run's reason once it takes in a message shed for `added`: the latest, but `conflated` only while every one was. */
function merged(reason: ShedReason, added: ShedReason): ShedReason {
  return added === 'conflated' ? reason : added;
}

/** A place in the subscriber's stream: a message, or a broker notice that moves it to `epoch`/`seq`. */
interface StreamPlace {
  readonly epoch: string;
  readonly seq: number;
}

/**
 * One connection's interest in one channel, and the account of what was shed for it and not yet
 * announced: runs of consecutive seqs, in stream order. Each run is announced by one `gap` frame
 * written exactly where its hole is: after the messages before it, before the first message (or
 * broker notice) after it. Two runs are always separated by something still queued, so a
 * subscription holds at most one run more than it has messages queued.
 *
 * Stream order across epochs is the order the subscription was handed them: a broker notice moves
 * it to a new epoch (or, from a provisional one, into the epoch the stream's first publish makes,
 * whose name nobody knows in advance), so an epoch's place is known only from what came before.
 */
export class Subscription implements Subscriber, PresenceWatcher, CatchingUp {
  private runs: ShedRun[] = [];
  /**
   * The epochs of what it was handed (publications, broker notices), in stream order, the last
   * EPOCHS_KEPT of them: an epoch no longer among them is older than every one that is.
   */
  private readonly epochs: string[] = [];
  /** The last of `epochs`, read for every message handed to it (one field, not the array). */
  private epoch: string | undefined = undefined;
  /** The `sub` request has not been answered yet. */
  joining = true;
  /** An `unsub` that arrived while joining, applied once the join is answered. */
  leave: { id: RequestId | undefined } | undefined = undefined;
  /** What the subscribe hook attached, sent in the ack. */
  info: unknown = undefined;
  /** The subscriber's delivery contract (`maxRate` on a keyed channel), if it asked for one. */
  pacer: KeyPacer | undefined = undefined;
  /** It keeps a keyed channel's state (`sub` with `snapshot`): a lost stream is restated to it. */
  wantsState = false;
  /** What it holds of a delta channel, when it asked for deltas (`sub` with `delta`). */
  delta: DeltaTracker | undefined = undefined;
  /** Its channel's topic may carry its publications (see Subscriber.fast). */
  fast = false;
  /** In its channel's live subscribers (then it counts in `Channel.lagging` while not `fast`). */
  private live = false;

  get wantsDeltas(): boolean {
    return this.delta !== undefined;
  }

  /** Nothing more is delivered to it: its delivery contract stops, its delta tracker leaves the memory budget. */
  endKeyed(): void {
    this.pacer?.close();
    this.delta?.release();
  }
  /** On a presence channel: the identity this subscription counts as a member (docs/presence.md). */
  member: string | undefined = undefined;
  /** The presence frames it asked for, once joined. */
  watch: WatchKind | undefined = undefined;
  /** Presence event frames were shed for it: a resync notice is owed. */
  presenceStale = false;

  constructor(
    readonly channel: Channel,
    private readonly sink: {
      deliver(pub: Publication, sub: Subscription): DeliveryOutcome;
      replay(pubs: readonly Publication[], sub: Subscription): void;
      snapshot(state: KeyedSnapshot, sub: Subscription): void;
      restate(notice: Publication, state: KeyedSnapshot, sub: Subscription): void;
      deliverPresence?(frame: Publication, sub: Subscription): void;
    },
    /** The id of the `sub` request, to answer it. */
    readonly requestId: RequestId | undefined = undefined,
    private readonly owner: JoinSink | undefined = undefined,
    /** The connection's catch-up, on a transport with its own fan-out. */
    private readonly catchUp: CatchUp | undefined = undefined,
  ) {}

  /** Deltas, a delivery contract and keyed state are written per subscriber: such a subscription is never `fast`. */
  caughtUpChanged(caughtUp: boolean): void {
    const fast = caughtUp && this.pacer === undefined && this.delta === undefined && !this.wantsState;
    if (fast === this.fast) return;
    this.fast = fast;
    if (this.live) this.channel.lagging += fast ? -1 : 1;
  }

  listed(live: boolean): void {
    this.live = live;
    if (live) this.catchUp?.join(this.channel.name);
    else this.catchUp?.leave(this.channel.name);
  }

  joined(outcome: JoinOutcome): void {
    this.joining = false;
    this.owner?.joined(this, outcome);
  }

  deliver(pub: Publication): DeliveryOutcome {
    if (pub.epoch !== this.epoch) this.entered(pub.epoch);
    return this.pacer === undefined ? this.sink.deliver(pub, this) : this.pacer.offer(pub);
  }

  replay(pubs: readonly Publication[]): void {
    // The writer holds it until the turns' shares let it out: the connection is not caught up meanwhile.
    this.catchUp?.busy();
    this.sink.replay(pubs, this);
  }

  restate(notice: Publication, state: KeyedSnapshot): void {
    // Nothing it was written before the state is a delta base any more: the client replaces its view.
    this.delta?.reset();
    this.pacer?.clear();
    this.catchUp?.busy();
    this.sink.restate(notice, state, this);
  }

  snapshot(state: KeyedSnapshot): void {
    this.catchUp?.busy();
    this.sink.snapshot(state, this);
  }

  deliverPresence(frame: Publication): void {
    this.sink.deliverPresence?.(frame, this);
  }

  /** Something was shed and not announced yet. */
  get hasGap(): boolean {
    return this.runs.length > 0;
  }

  noteShed(epoch: string, seq: number, reason: ShedReason): void {
    this.channel.shed++;
    const runs = this.runs;
    const last = runs[runs.length - 1];
    // The common case (a stopped subscriber shedding message after message): the last run grows.
    if (last !== undefined && last.epoch === epoch && last.to + 1 === seq) {
      last.to = seq;
      last.reason = merged(last.reason, reason);
      return;
    }
    let i = runs.length;
    while (i > 0 && this.compare(runs[i - 1]!.epoch, runs[i - 1]!.from, epoch, seq) > 0) i--;
    const before = runs[i - 1];
    const after = runs[i];
    if (before !== undefined && before.epoch === epoch && before.to + 1 === seq) {
      before.to = seq;
      before.reason = merged(before.reason, reason);
      if (after !== undefined && after.epoch === epoch && after.from === seq + 1) {
        before.to = after.to;
        before.reason = merged(before.reason, after.reason);
        runs.splice(i, 1);
      }
    } else if (after !== undefined && after.epoch === epoch && after.from === seq + 1) {
      after.from = seq;
      after.reason = merged(after.reason, reason);
    } else {
      runs.splice(i, 0, { epoch, from: seq, to: seq, reason });
    }
  }

  /** Takes every run (nothing follows them yet). */
  takeGaps(): ShedRun[] {
    const all = this.runs;
    this.runs = [];
    return all;
  }

  /**
   * Takes the runs a message written now follows: every one, unless a delivery contract holds
   * messages that precede some of them (then those below the message).
   */
  takeGapsFor(message: StreamPlace): readonly ShedRun[] {
    return this.pacer === undefined ? this.takeGaps() : this.takeGapsBefore(message);
  }

  /** Takes the runs nothing still to come precedes (all, unless a delivery contract holds messages). */
  takeGapsDue(): readonly ShedRun[] {
    const first = this.pacer?.firstWaiting;
    return first === undefined ? this.takeGaps() : this.takeGapsBefore(first);
  }

  /** Takes the runs a message precedes: those of earlier epochs, and of its epoch below its seq. */
  takeGapsBefore(message: StreamPlace): readonly ShedRun[] {
    return this.takeUpTo(message, false);
  }

  /**
   * Takes the runs a broker notice precedes: those of earlier epochs, and of its epoch up to the
   * position it moves the subscriber to (never those of a later epoch: a stream it leads into).
   */
  takeGapsBeforeNotice(notice: StreamPlace): readonly ShedRun[] {
    return this.takeUpTo(notice, true);
  }

  /** Below zero when seq `a` of `epochA` comes before seq `b` of `epochB` in this subscription's stream. */
  private compare(epochA: string, a: number, epochB: string, b: number): number {
    if (epochA === epochB) return a - b;
    return this.epochs.lastIndexOf(epochA) - this.epochs.lastIndexOf(epochB);
  }

  private entered(epoch: string): void {
    if (this.epochs.length === EPOCHS_KEPT) this.epochs.shift();
    this.epochs.push(epoch);
    this.epoch = epoch;
  }

  /**
   * Runs are in stream order: the ones that precede a place (end below it; at it too when
   * `inclusive`) form a prefix. Called for every message a connection with a gap writes from its
   * queue, so it allocates nothing when none is due.
   */
  private takeUpTo(place: StreamPlace, inclusive: boolean): readonly ShedRun[] {
    let n = 0;
    for (; n < this.runs.length; n++) {
      const run = this.runs[n]!;
      const order = this.compare(run.epoch, run.to, place.epoch, place.seq);
      if (order > 0 || (order === 0 && !inclusive)) break;
    }
    return n === 0 ? NO_RUNS : this.runs.splice(0, n);
  }
}
