import { Ring } from '../flow/ring.js';
import type { Paced, TurnAllowance } from './turn-allowance.js';

/** A closed connection whose release (subscriptions, queues, presence, its admission slot) waits. */
export interface Closed {
  tearDown(): void;
}

/**
 * The release of closed connections, within `limits.teardownMsPerTurn` of the loop's time per turn
 * (the allowance's meter): thousands of peers leaving at once cost the loop a bounded time per turn
 * instead of everything in the turn their closes arrived. A connection is released at once while
 * the turn's time lasts and none waits; past it, on later turns in the order they closed, the first
 * of each turn always. Until then a closed connection keeps its admission slot (the total and its
 * address's), so the connections open and waiting stay within `limits.maxConnections`.
 */
export class Teardowns implements Paced {
  private readonly waiting: Ring<Closed>;

  /** `maxWaiting`: `limits.maxConnections` (those waiting keep their slots, so never more wait). */
  constructor(
    private readonly turns: TurnAllowance,
    maxWaiting: number,
  ) {
    this.waiting = new Ring(maxWaiting);
  }

  /** Connections closed and not yet released. */
  get pending(): number {
    return this.waiting.length;
  }

  add(closed: Closed): void {
    if ((this.pending === 0 && this.turns.withinTime(this)) || this.waiting.push(closed) < 0) closed.tearDown();
  }

  continueTurn(): void {
    while (this.pending > 0 && this.turns.withinTime(this)) this.waiting.shift()!.tearDown();
  }
}
