import type { ShedReason } from '../protocol/policy.js';
import type { Channel, DeliveryOutcome, JoinOutcome, Subscriber } from '../hub/channel.js';
import type { Publication } from '../stream/publication.js';
import type { RequestId } from '../protocol/requests.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';
import type { KeyPacer } from './key-pacer.js';
import type { PresenceWatcher, WatchKind } from '../presence/presence.js';

/** Where a subscription reports how its join ended (the connection, which replies to the request). */
export interface JoinSink {
  joined(sub: Subscription, outcome: JoinOutcome): void;
}

/**
 * A run of consecutive seqs of one epoch shed for a subscriber and not announced yet; `reason` is
 * the latest one's.
 */
export interface ShedRun {
  readonly epoch: string;
  from: number;
  to: number;
  reason: ShedReason;
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
 */
export class Subscription implements Subscriber, PresenceWatcher {
  private runs: ShedRun[] = [];
  /** The `sub` request has not been answered yet. */
  joining = true;
  /** An `unsub` that arrived while joining, applied once the join is answered. */
  leave: { id: RequestId | undefined } | undefined = undefined;
  /** What the subscribe hook attached, sent in the ack. */
  info: unknown = undefined;
  /** The subscriber's delivery contract (`maxRate` on a keyed channel), if it asked for one. */
  pacer: KeyPacer | undefined = undefined;
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
      deliverPresence?(frame: Publication, sub: Subscription): void;
    },
    /** The id of the `sub` request, to answer it. */
    readonly requestId: RequestId | undefined = undefined,
    private readonly owner: JoinSink | undefined = undefined,
  ) {}

  joined(outcome: JoinOutcome): void {
    this.joining = false;
    this.owner?.joined(this, outcome);
  }

  deliver(pub: Publication): DeliveryOutcome {
    return this.pacer === undefined ? this.sink.deliver(pub, this) : this.pacer.offer(pub);
  }

  replay(pubs: readonly Publication[]): void {
    this.sink.replay(pubs, this);
  }

  snapshot(state: KeyedSnapshot): void {
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
    let i = runs.length;
    while (i > 0 && runs[i - 1]!.epoch === epoch && runs[i - 1]!.from > seq) i--;
    const before = runs[i - 1];
    const after = runs[i];
    if (before !== undefined && before.epoch === epoch && before.to + 1 === seq) {
      before.to = seq;
      before.reason = reason;
      if (after !== undefined && after.epoch === epoch && after.from === seq + 1) {
        before.to = after.to;
        runs.splice(i, 1);
      }
    } else if (after !== undefined && after.epoch === epoch && after.from === seq + 1) {
      after.from = seq;
      after.reason = reason;
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
  takeGapsFor(message: StreamPlace): ShedRun[] {
    return this.pacer === undefined ? this.takeGaps() : this.takeGapsBefore(message);
  }

  /** Takes the runs nothing still to come precedes (all, unless a delivery contract holds messages). */
  takeGapsDue(): ShedRun[] {
    const first = this.pacer?.firstWaiting;
    return first === undefined ? this.takeGaps() : this.takeGapsBefore(first);
  }

  /** Takes the runs a message precedes: those of its epoch below its seq. */
  takeGapsBefore(message: StreamPlace): ShedRun[] {
    return this.take((run) => run.epoch === message.epoch && run.to < message.seq);
  }

  /**
   * Takes the runs a broker notice precedes: those of another (older) epoch, or of its epoch up to
   * the position it moves the subscriber to.
   */
  takeGapsBeforeNotice(notice: StreamPlace): ShedRun[] {
    return this.take((run) => run.epoch !== notice.epoch || run.to <= notice.seq);
  }

  /** Runs are in stream order: the ones that precede a place form a prefix. */
  private take(precedes: (run: ShedRun) => boolean): ShedRun[] {
    let n = 0;
    while (n < this.runs.length && precedes(this.runs[n]!)) n++;
    return n === 0 ? [] : this.runs.splice(0, n);
  }
}
