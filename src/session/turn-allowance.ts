/** A connection with work left that waits for a later turn's allowance. */
export interface Paced {
  /** Goes on with its work (called on a later loop turn, once it had to wait). */
  continueTurn(): void;
}

/**
 * One allowance of some work per event-loop turn for the whole process, so that a thousand clients
 * asking at once cost the loop a bounded amount per turn instead of everything in the turn their
 * requests arrived: resume-replay bytes (`outbound.replayBytesPerTurn`) and subscribes
 * (`limits.subscribesPerTurn`); 0: no allowance. A connection that finds the allowance spent, or
 * has done its own share of the turn, waits in one first-come queue; one setImmediate for all of
 * them renews the allowance and lets the queue go on in order until it is spent again. No timer or
 * closure per connection.
 */
export class TurnAllowance {
  private left: number;
  /** In the order they asked; a Set, so asking twice keeps the first place. */
  private waiting = new Set<Paced>();
  private scheduled = false;

  constructor(
    private readonly perTurn: number,
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {
    this.left = perTurn;
  }

  /** Connections waiting for a later turn. */
  get queued(): number {
    return this.waiting.size;
  }

  /** True when `paced` may go on now; false when it waits and is called back later. */
  mayGo(paced: Paced): boolean {
    if (this.perTurn === 0 || this.left > 0) return true;
    this.defer(paced);
    return false;
  }

  /** Charges work done to this turn's allowance. */
  spent(amount: number): void {
    if (this.perTurn === 0) return;
    this.left -= amount;
    this.arm();
  }

  /** `paced` did its own share of this turn: it goes on, behind those already waiting, on a later turn. */
  defer(paced: Paced): void {
    this.waiting.add(paced);
    this.arm();
  }

  private arm(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.fire);
  }

  private readonly fire = (): void => {
    this.scheduled = false;
    this.left = this.perTurn;
    // Only those waiting before this turn go on: one deferred again now is called on the next.
    let turns = this.waiting.size;
    for (const paced of this.waiting) {
      if (turns-- === 0 || (this.perTurn > 0 && this.left <= 0)) break;
      this.waiting.delete(paced);
      paced.continueTurn();
    }
    if (this.waiting.size > 0) this.arm();
  };
}
