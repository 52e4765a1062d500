/** Something holding a corked socket that must be uncorked once the current loop turn's writes are done. */
export interface Corked {
  uncork(): void;
  /** Called on a later loop turn, when asked for with `continueLater`. */
  continueWriting(): void;
}

/**
 * Coalesces all writes a socket receives during one turn of the event loop into one syscall: the
 * first write corks the socket and registers it here; one process.nextTick per turn (not per
 * socket) uncorks them all. When a publisher's read delivers several frames at once, each
 * subscriber gets them in a single write instead of one write per message.
 */
export class WriteBatcher {
  private pending: Corked[] = [];
  private scheduled = false;
  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const item of batch) item.uncork();
  };

  add(item: Corked): void {
    this.pending.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }

  private continuing: Corked[] = [];
  private continueScheduled = false;
  private readonly resume = (): void => {
    this.continueScheduled = false;
    const batch = this.continuing;
    this.continuing = [];
    for (const item of batch) item.continueWriting();
  };

  /** Calls `continueWriting` once I/O has had its turn (one setImmediate for all). */
  continueLater(item: Corked): void {
    this.continuing.push(item);
    if (!this.continueScheduled) {
      this.continueScheduled = true;
      setImmediate(this.resume);
    }
  }
}
