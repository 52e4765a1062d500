import type { ShedReason } from '../flow/policy.js';
import type { Channel, DeliveryOutcome, Subscriber } from '../hub/channel.js';
import type { Publication } from '../hub/publication.js';

/**
 * One connection's interest in one channel, and the account of what was shed for it since the
 * last `gap` frame: `count` messages with seqs in [from, to].
 */
export class Subscription implements Subscriber {
  gapFrom = 0;
  gapTo = 0;
  gapCount = 0;
  gapReason: ShedReason = 'dropped';

  constructor(
    readonly channel: Channel,
    private readonly sink: { deliver(pub: Publication, sub: Subscription): DeliveryOutcome },
  ) {}

  deliver(pub: Publication): DeliveryOutcome {
    return this.sink.deliver(pub, this);
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
