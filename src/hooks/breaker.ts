import type { Clock } from '../util/clock.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Gauge values of the breaker states (metrics). */
export const BREAKER_GAUGE: Readonly<Record<BreakerState, number>> = { closed: 0, open: 1, half_open: 2 };

/**
 * A circuit breaker over consecutive failures: `failures` in a row open it for `openMs`; then one
 * probe call is let through (half-open): its success closes the breaker, its failure opens it again
 * for another `openMs`. `failures` 0 = never opens. State changes only when a call starts or ends,
 * so it needs no timer.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openUntil = 0;
  private probing = false;
  private opened = false;

  constructor(
    private readonly failures: number,
    private readonly openMs: number,
    private readonly clock: Clock,
  ) {}

  get state(): BreakerState {
    if (!this.opened) return 'closed';
    return this.probing || this.clock() >= this.openUntil ? 'half_open' : 'open';
  }

  /**
   * Whether a call may start now; undefined if so, else the ms until one may (a probe already in
   * flight counts as a whole open period). A caller that is let through must report `succeeded` or `failed`.
   */
  admit(): number | undefined {
    if (!this.opened) return undefined;
    const now = this.clock();
    if (now < this.openUntil) return this.openUntil - now;
    if (this.probing) return this.openMs;
    this.probing = true;
    return undefined;
  }

  succeeded(): void {
    this.consecutive = 0;
    this.opened = false;
    this.probing = false;
  }

  failed(): void {
    this.consecutive++;
    if (this.probing || (this.failures > 0 && this.consecutive >= this.failures)) {
      this.opened = true;
      this.probing = false;
      this.openUntil = this.clock() + this.openMs;
    }
  }
}
