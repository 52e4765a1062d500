import type { Clock } from '../util/clock.js';
import { TokenBucket } from '../util/token-bucket.js';

export interface InboundLimits {
  readonly messagesPerSecond: number;
  readonly messagesBurst: number;
  readonly bytesPerSecond: number;
  readonly bytesBurst: number;
}

/** A connection's two inbound token buckets: one frame costs one message token and its size in byte tokens. */
export class InboundLimiter {
  private readonly messages: TokenBucket;
  private readonly bytes: TokenBucket;

  constructor(
    limits: InboundLimits,
    private readonly clock: Clock,
  ) {
    this.messages = new TokenBucket(limits.messagesPerSecond, limits.messagesBurst, clock);
    this.bytes = new TokenBucket(limits.bytesPerSecond, limits.bytesBurst, clock);
  }

  /**
   * `reject` mode: admits the frame if both buckets have the tokens (taking from both), else takes
   * nothing and returns how many ms until it would be admitted. `now`: the caller's reading of the
   * clock, if it has one (the clock is read at most once per frame).
   */
  tryAdmit(size: number, now = this.clock()): number {
    const msgWait = this.messages.msUntil(1, now);
    const byteWait = this.bytes.msUntil(size, now);
    if (msgWait === 0 && byteWait === 0) {
      this.messages.takeFound(1);
      this.bytes.takeFound(size);
      return 0;
    }
    return Math.max(msgWait, byteWait, 1);
  }

  /**
   * `pause` mode: always admits (nothing is lost), possibly driving the buckets into debt, and
   * returns how many ms reading must stop for the debt to be repaid (0: keep reading). `now` as in
   * `tryAdmit`.
   */
  admitWithDebt(size: number, now = this.clock()): number {
    this.messages.forceTake(1, now);
    this.bytes.forceTake(size, now);
    return Math.max(this.messages.msUntil(0, now), this.bytes.msUntil(0, now));
  }
}
