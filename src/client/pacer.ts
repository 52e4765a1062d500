import { TokenBucket } from '../util/token-bucket.js';
import type { Clock } from '../util/clock.js';

/** The inbound rates the server announced in `hello.limits` (0 = unlimited). */
export interface AnnouncedRates {
  readonly messagesPerSecond: number;
  readonly bytesPerSecond: number;
}

/** Fraction of the announced rates the client paces at, leaving room for timer jitter and pings. */
export const PACE_FRACTION = 0.9;

/**
 * Paces frames below the server's announced inbound rates. Idle until the server first answers
 * `rate_limited` on a connection (so bursts within the server's allowance go out at once); from
 * then on every frame waits for its tokens, which keeps further refusals — each one a strike
 * towards `4101` — rare. Its buckets start empty at that moment, like the server's.
 */
export class Pacer {
  private messages: TokenBucket | undefined;
  private bytes: TokenBucket | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly maxFrameBytes: number,
  ) {}

  get active(): boolean {
    return this.messages !== undefined;
  }

  activate(rates: AnnouncedRates): void {
    if (this.active) return;
    const mps = rates.messagesPerSecond * PACE_FRACTION;
    const bps = rates.bytesPerSecond * PACE_FRACTION;
    this.messages = new TokenBucket(mps, 1, this.clock);
    this.bytes = new TokenBucket(bps, Math.max(this.maxFrameBytes, bps / 10), this.clock);
    this.messages.forceTake(1);
    this.bytes.forceTake(this.bytes.available() === Infinity ? 0 : this.bytes.available());
  }

  /** 0 and the tokens taken when a frame of that size may go now; else ms to wait (nothing taken). */
  delay(frameBytes: number): number {
    if (this.messages === undefined || this.bytes === undefined) return 0;
    const wait = Math.max(this.messages.msUntil(1), this.bytes.msUntil(frameBytes));
    if (wait > 0) return wait;
    this.messages.tryTake(1);
    this.bytes.tryTake(frameBytes);
    return 0;
  }
}
