import type { ShedReason } from '../protocol/policy.js';
import type { Channel, DeliveryOutcome, JoinOutcome, Subscriber } from '../hub/channel.js';
import type { Publication } from '../stream/publication.js';
import type { RequestId } from '../protocol/requests.js';

/** Where a subscription reports how its join ended (the connection, which replies to the request). */
export interface JoinSink {
  joined(sub: Subscription, outcome: JoinOutcome): void;
}

/**
 * One connection's interest in one channel, and the account of what was shed for it since the
 * last `gap` frame: `count` messages with seqs in [from, to].
 */
export class Subscription implements Subscriber {
  gapFrom = 0;
  gapTo = 0;
  gapCount = 0;
  gapReason: ShedReason = 'dropped';
  /** The `sub` request has not been answered yet. */
  joining = true;
  /** An `unsub` that arrived while joining, applied once the join is answered. */
  leave: { id: RequestId | undefined } | undefined = undefined;

  constructor(
    readonly channel: Channel,
    private readonly sink: {
      deliver(pub: Publication, sub: Subscription): DeliveryOutcome;
      replay(pubs: readonly Publication[], sub: Subscription): void;
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
    return this.sink.deliver(pub, this);
  }

  replay(pubs: readonly Publication[]): void {
    this.sink.replay(pubs, this);
  }

  noteShed(seq: number, reason: ShedReason): void {
    if (this.gapCount === 0) {
      this.gapFrom = seq;
      this.gapTo = seq;
    } else {
      if (seq < this.gapFrom) this.gapFrom = seq;
      if (seq > this.gapTo) this.gapTo = seq;
    }
    this.gapCount++;
    this.gapReason = reason;
  }

  resetGap(): void {
    this.gapCount = 0;
  }
}
