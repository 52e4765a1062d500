/** A connection with work left that waits for a later turn's allowance. */
export interface Paced {
  /** Goes on with its work (called on a later loop turn, once it had to wait). */
  continueTurn(): void;
}

/** Work timed per event-loop turn (util/work-meter.ts): the process's bound on it. */
export interface TurnMeter {
  hasLeft(): boolean;
  renew(): void;
}

/** What `takeShare` answered: a unit taken, or why not (the caller is then called back later). */
export const TAKEN = 0;
/** The connection had its own share of the turn: it waits behind the others that did. */
export const SHARE_DONE = 1;
/** The turn's time (the meter) is spent: it waits among the first served on the next turn. */
export const TIME_SPENT = 2;

/** What one connection took of its own share, and in which turn. */
export interface ShareUse {
  turn: number;
  used: number;
}

/**
 * One allowance of some work per event-loop turn for the whole process, so that a thousand clients
 * asking at once cost the loop a bounded amount per turn instead of everything in the turn their
 * requests arrived: resume-replay bytes (`outbound.replayBytesPerTurn`), subscribes
 * (`limits.subscribesPerTurn`), upgrades (`limits.upgradesPerTurn`), the release of closed
 * connections (`limits.teardownMsPerTurn`, `withinTime`), and inbound frames: each
 * connection's own share (`limits.framesPerTurn`, `takeShare`) and, with a meter, the time all of
 * them take together (`limits.inboundMsPerTurn`); 0: no allowance. A connection that finds the
 * allowance spent, or has done its own share of the turn, waits in one first-come queue; one
 * setImmediate for all of them renews the allowance and lets the queue go on in order until it is
 * spent again. Those the meter stopped (cut off mid-share, or not yet served this turn) go before
 * those that had their share, in the order they were stopped: a bystander stopped by a busy turn
 * waits for that turn's end, not for another share of every flooder. No timer or closure per
 * connection.
 */
export class TurnAllowance {
  private left: number;
  /** In the order they asked; a Set, so asking twice keeps the first place. */
  private waiting = new Set<Paced>();
  /** Those the meter stopped, in the order it did: served before `waiting`. */
  private cut = new Set<Paced>();
  private scheduled = false;

  constructor(
    private readonly perTurn: number,
    private readonly schedule: (fn: () => void) => void = setImmediate,
    private readonly meter?: TurnMeter,
  ) {
    this.left = perTurn;
  }

  /** Renewals so far: a connection's own share (`takeShare`) is counted per renewal. */
  private turn = 0;
  /** Connections that took a unit of their share since the renewal. */
  private takers = 0;
  /** The last of them to take its first unit. */
  private lastTaker: Paced | undefined;
  /**
   * The one connection that took units in the last turn in which any did, if only one did: a
   * steady lone sender (a publisher at a high rate), which the turn's time does not bound while
   * it is still alone.
   */
  private steady: Paced | undefined;

  /** Connections waiting for a later turn. */
  get queued(): number {
    return this.waiting.size + this.cut.size;
  }

  /** Something is left of this turn's allowance. */
  hasLeft(): boolean {
    return this.perTurn === 0 || this.left > 0;
  }

  /** The meter's time of this turn is not spent, or no other connection wants any (always, without a meter). */
  timeLeft(): boolean {
    return this.meter === undefined || this.meter.hasLeft() || !this.contended(1);
  }

  /** Another connection took frames this turn, or more than `own` (the asker's place) wait. */
  private contended(own: number): boolean {
    return this.takers > 1 || this.waiting.size + this.cut.size > own;
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
   * One unit of `paced`'s own share of `share` per turn (0: no share), within the meter's time:
   * TAKEN when it may take it now; SHARE_DONE when its share of this turn is taken, and it goes on,
   * behind those already waiting, on a later turn (round robin: each waiting connection takes one
   * share per turn, in turn); TIME_SPENT when the turn's time is spent, and it goes on first thing
   * on the next turn, after those stopped so before it.
   */
  takeShare(paced: Paced, use: ShareUse, share: number): number {
    if (use.turn !== this.turn) {
      use.turn = this.turn;
      use.used = 0;
    }
    if (share > 0 && use.used >= share) {
      this.defer(paced);
      return SHARE_DONE;
    }
    // A connection's first unit of a turn is never refused for time: a client that sends little
    // never waits behind those that send much (and the stretch it opens is timed all the same).
    // Nor is one that was alone in the last turn with takers and still is: the bound is there for
    // the others. A connection alone only so far in this turn is bounded: others may yet come in
    // it (uWS hands on what many flooding connections sent, one connection after the other, in one
    // turn); if none did, it goes on alone at the renewal (a setImmediate: from a read, in the same
    // loop iteration), as the steady one.
    if (this.meter !== undefined && !this.meter.hasLeft() && use.used > 0 && (paced !== this.steady || this.contended(0))) {
      this.cut.add(paced);
      this.arm();
      return TIME_SPENT;
    }
    if (use.used++ === 0) {
      this.takers++;
      this.lastTaker = paced;
    }
    // A turn with work in it is followed by a renewal, so the next turn's shares are fresh.
    this.arm();
    return TAKEN;
  }

  /**
   * One unit of work within the meter's time of this turn (always, without a meter): true when it
   * may be done now (a renewal follows, so the next turn's time is fresh); false when the time is
   * spent, and `paced` goes on first thing on the next turn, when its first unit is always taken.
   */
  withinTime(paced: Paced): boolean {
    if (this.meter === undefined) return true;
    this.arm();
    if (this.meter.hasLeft()) return true;
    this.cut.add(paced);
    return false;
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
    if (this.takers > 0) this.steady = this.takers === 1 ? this.lastTaker : undefined;
    this.takers = 0;
    this.lastTaker = undefined;
    this.meter?.renew();
    this.goOn(this.cut);
    this.goOn(this.waiting);
    if (this.waiting.size > 0 || this.cut.size > 0) this.arm();
  };

  /** Lets `queue` go on in order while the allowance lasts. */
  private goOn(queue: Set<Paced>): void {
    // Only those waiting before this turn go on: one deferred again now is called on the next.
    let turns = queue.size;
    for (const paced of queue) {
      if (turns-- === 0 || (this.perTurn > 0 && this.left <= 0) || this.meter?.hasLeft() === false) break;
      queue.delete(paced);
      paced.continueTurn();
    }
  }
}
