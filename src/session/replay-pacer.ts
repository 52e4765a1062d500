/** A connection with replay bytes left to write. */
export interface Paced {
  /** Goes on writing its replays (called on a later loop turn, once it had to wait). */
  continueWriting(): void;
}

/**
 * One allowance of resume-replay bytes per event-loop turn for the whole process
 * (`outbound.replayBytesPerTurn`; 0: none), so that a thousand clients resuming at once cost the
 * loop a bounded amount of writing per turn instead of every replay's first share at once. A
 * connection that finds the allowance spent, or has written its own share of the turn, waits in
 * one first-come queue; one setImmediate for all of them renews the allowance and lets the queue
 * go on in order until it is spent again. No timer or closure per connection.
 */
export class ReplayPacer {
  private left: number;
  /** In the order they asked; a Set, so asking twice keeps the first place. */
  private waiting = new Set<Paced>();
  private scheduled = false;

  constructor(
    private readonly bytesPerTurn: number,
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {
    this.left = bytesPerTurn;
  }

  /** Connections waiting for a later turn. */
  get queued(): number {
    return this.waiting.size;
  }

  /** True when `paced` may write replay bytes now; false when it waits and is called back later. */
  mayWrite(paced: Paced): boolean {
    if (this.bytesPerTurn === 0 || this.left > 0) return true;
    this.defer(paced);
    return false;
  }

  /** Charges replay bytes written to this turn's allowance. */
  spent(bytes: number): void {
    if (this.bytesPerTurn === 0) return;
    this.left -= bytes;
    this.arm();
  }

  /** `paced` wrote its own share of this turn: it goes on, behind those already waiting, on a later turn. */
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
    this.left = this.bytesPerTurn;
    // Only those waiting before this turn go on: one deferred again now is called on the next.
    let turns = this.waiting.size;
    for (const paced of this.waiting) {
      if (turns-- === 0 || (this.bytesPerTurn > 0 && this.left <= 0)) break;
      this.waiting.delete(paced);
      paced.continueWriting();
    }
    if (this.waiting.size > 0) this.arm();
  };
}
