import type { Clock } from './clock.js';

/**
 * A token bucket refilled continuously from an injected clock: no timer.
 * Over any interval t (ms) starting full it admits at most `burst + rate * t / 1000` tokens.
 * A rate of 0 means unlimited: every take succeeds. Each method takes the caller's reading of the
 * same clock as `now` if it has one (one read for several buckets: a read costs ~0.1 µs on some
 * virtual machines, and the inbound limits charge every frame).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** A rate of 0. A field, not a getter: every inbound frame asks it of two buckets. */
  readonly unlimited: boolean;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock();
    this.unlimited = ratePerSecond === 0;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
  }

  /** Takes n tokens if they are all there; otherwise takes none. */
  tryTake(n: number, now = this.clock()): boolean {
    if (this.unlimited) return true;
    this.refill(now);
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** Takes n tokens that `msUntil(n, now)` just found there (0), without refilling again. */
  takeFound(n: number): void {
    if (!this.unlimited) this.tokens -= n;
  }

  /** Takes n tokens even if that leaves the bucket in debt (lossless `pause` mode). */
  forceTake(n: number, now = this.clock()): void {
    if (this.unlimited) return;
    this.refill(now);
    this.tokens -= n;
  }

  /** Milliseconds until n tokens will be available (0 if they are now). */
  msUntil(n: number, now = this.clock()): number {
    if (this.unlimited) return 0;
    this.refill(now);
    const missing = n - this.tokens;
    if (missing <= 0) return 0;
    return Math.ceil((missing * 1000) / this.ratePerSecond);
  }

  /** Current token count (may be negative after forceTake). */
  available(): number {
    if (this.unlimited) return Infinity;
    this.refill(this.clock());
    return this.tokens;
  }
}
