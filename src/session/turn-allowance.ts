/** A connection with work left that waits for a later turn's allowance. */
export interface Paced {
  /** Goes on with its work (called on a later loop turn, once it had to wait). */
  continueTurn(): void;
}

/** What one connection took of its own share, and in which turn. */
export interface ShareUse {
  turn: number;
  used: number;
}

/**
 * One allowance of some work per event-loop turn for the whole process, so that a thousand clients
 * asking at once cost the loop a bounded amount per turn instead of everything in the turn their
 * requests arrived: resume-replay bytes (`outbound.replayBytesPerTurn`), subscribes
 * (`limits.subscribesPerTurn`), upgrades (`limits.upgradesPerTurn`), and each connection's own share of frames (`limits.framesPerTurn`,
 * `takeShare`); 0: no allowance. A connection that finds the allowance spent, or
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

  /** Renewals so far: a connection's own share (`takeShare`) is counted per renewal. */
  private turn = 0;

  /** Connections waiting for a later turn. */
  get queued(): number {
    return this.waiting.size;
  }

  /** Something is left of this turn's allowance. */
  hasLeft(): boolean {
    return this.perTurn === 0 || this.left > 0;
  }

  /** True when `paced` may go on now; false when it waits and is called back later. */
  mayGo(paced: Paced): boolean {
    if (this.hasLeft()) return true;
    this.defer(paced);
    return false;
  }

  /** Charges work done to this turn's allowance. */
  spent(amount: number): void {
    if (this.perTurn === 0) return;
    this.left -= amount;
    this.arm();
  }

  /**
   * One unit of `paced`'s own share of `share` per turn: true when it may take it now; false when
   * its share of this turn is taken, and it goes on, behind those already waiting, on a later turn
   * (round robin: each waiting connection takes one share per turn, in turn).
   */
  takeShare(paced: Paced, use: ShareUse, share: number): boolean {
    if (use.turn !== this.turn) {
      use.turn = this.turn;
      use.used = 0;
    }
    if (use.used >= share) {
      this.defer(paced);
      return false;
    }
    use.used++;
    // A turn with work in it is followed by a renewal, so the next turn's shares are fresh.
    this.arm();
    return true;
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
    this.turn++;
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
