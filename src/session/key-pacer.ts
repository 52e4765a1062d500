import type { TimerWheel, WheelEntry } from '../flow/timer-wheel.js';
import { DELIVERY, type DeliveryOutcome } from '../hub/channel.js';
import type { ShedReason } from '../protocol/policy.js';
import type { Publication } from '../stream/publication.js';
import type { Clock } from '../util/clock.js';
import type { MemoryPool } from '../util/memory-budget.js';
import type { Subscription } from './subscription.js';

/** Where a pacer hands what it lets through, and reports what it drops (the connection's writer). */
export interface PacedSink {
  deliver(pub: Publication, sub: Subscription): DeliveryOutcome;
  noteShed(pub: Publication, sub: Subscription, reason: ShedReason): void;
}

/**
 * One subscriber's delivery contract on a keyed channel (`sub` with `maxRate`, docs/keyed.md):
 * its deliveries happen at least `1000 / rate` ms apart, each with at most one message per key,
 * the newest; so no key reaches it more than `rate` times a second. A message arriving while the
 * interval runs waits, replacing the waiting one of its key (which becomes a `conflated` gap); at
 * the next flush (one entry in the gateway's timer wheel, not a timer of its own) the waiting
 * messages go out in seq order, except those older than `maxStalenessMs` (an `expired` gap). A
 * contract with nothing waiting costs nothing. Waiting messages are charged to the outbound pool
 * like queued ones (each publication once).
 */
export class KeyPacer implements WheelEntry {
  /** Waiting messages by key, in seq order (a newer one of a key is re-inserted at the end). */
  private readonly waiting = new Map<string, Publication>();
  private lastFlush = -Infinity;
  private scheduled = false;
  private closed = false;
  readonly intervalMs: number;

  constructor(
    private readonly sub: Subscription,
    private readonly out: PacedSink,
    /** Deliveries per second at most. */
    readonly rate: number,
    /** A message that waited longer is dropped (`expired`); 0 = never. */
    readonly maxStalenessMs: number,
    private readonly wheel: TimerWheel,
    private readonly clock: Clock,
    private readonly pool: MemoryPool,
  ) {
    this.intervalMs = 1000 / rate;
  }

  /** The first waiting message: gaps above it wait for it (they follow it in the stream). */
  get firstWaiting(): Publication | undefined {
    return this.waiting.size === 0 ? undefined : this.waiting.values().next().value;
  }

  offer(pub: Publication): DeliveryOutcome {
    if (this.closed) return DELIVERY.disconnected;
    const now = this.clock();
    const first = this.firstWaiting;
    // A new epoch (a broker reset) does not wait behind the old one's messages.
    if (first !== undefined && first.epoch !== pub.epoch) this.flush(now);
    if (this.waiting.size === 0 && now - this.lastFlush >= this.intervalMs) {
      this.lastFlush = now;
      return this.out.deliver(pub, this.sub);
    }
    const key = pub.key!;
    const replaced = this.waiting.get(key);
    if (replaced !== undefined) {
      this.waiting.delete(key);
      this.release(replaced);
      this.out.noteShed(replaced, this.sub, 'conflated');
    }
    this.waiting.set(key, pub);
    if (pub.queued++ === 0) this.pool.add(pub.cost);
    if (!this.scheduled) {
      this.scheduled = true;
      this.wheel.schedule(this, this.lastFlush + this.intervalMs);
    }
    return DELIVERY.queued;
  }

  fire(now: number): void {
    this.scheduled = false;
    if (this.closed) return;
    // An interval past the wheel's horizon comes back early: it waits for the rest.
    if (now - this.lastFlush < this.intervalMs) {
      this.scheduled = true;
      this.wheel.schedule(this, this.lastFlush + this.intervalMs);
    } else this.flush(now);
  }

  /** The subscription ended: what waits is dropped (the writer forgets its gaps). */
  close(): void {
    this.closed = true;
    this.clear();
  }

  /**
   * What waits is superseded (the channel's state follows, newer than all of it): dropped with no
   * gap, so nothing older than the state reaches the client after it. The interval goes on.
   */
  clear(): void {
    for (const pub of this.waiting.values()) this.release(pub);
    this.waiting.clear();
  }

  private flush(now: number): void {
    if (this.waiting.size === 0) return;
    this.lastFlush = now;
    const stale = this.maxStalenessMs;
    // Each leaves the map before it is written: a write may close the connection (and this pacer).
    for (const [key, pub] of this.waiting) {
      this.waiting.delete(key);
      this.release(pub);
      if (stale > 0 && now - pub.at > stale) this.out.noteShed(pub, this.sub, 'expired');
      else this.out.deliver(pub, this.sub);
    }
  }

  private release(pub: Publication): void {
    if (--pub.queued === 0) this.pool.sub(pub.cost);
  }
}

/**
 * The gateway's delivery contracts: one timer wheel for every subscriber's pacer. A `sub` asking
 * `maxRate` on a keyed channel gets a pacer at that rate, raised to the channel rule's
 * `contractMinRate` and lowered to its `contractMaxRate` (0: the channel takes no contracts).
 */
export class DeliveryContracts {
  constructor(
    private readonly wheel: TimerWheel,
    private readonly clock: Clock,
    /** The budget's outbound pool: waiting messages are charged to it. */
    private readonly pool: MemoryPool,
  ) {}

  pacerFor(sub: Subscription, ask: { maxRate?: number | undefined; maxStalenessMs?: number | undefined }, out: PacedSink): KeyPacer | undefined {
    const { keyed, contractMinRate, contractMaxRate } = sub.channel.settings;
    if (ask.maxRate === undefined || !keyed || contractMaxRate === 0) return undefined;
    const rate = Math.min(contractMaxRate, Math.max(contractMinRate, ask.maxRate));
    return new KeyPacer(sub, out, rate, ask.maxStalenessMs ?? 0, this.wheel, this.clock, this.pool);
  }
}
