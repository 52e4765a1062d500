/** Something holding a corked socket that must be uncorked once the current loop turn's writes are done. */
export interface Corked {
  uncork(): void;
}

/** Runs `run` on every item added before `schedule` fires, with one scheduled callback for all of them. */
class Coalesced<T> {
  private items: T[] = [];
  private scheduled = false;
  private readonly fire = (): void => {
    this.scheduled = false;
    const batch = this.items;
    this.items = [];
    for (const item of batch) this.run(item);
  };

  constructor(
    private readonly schedule: (fn: () => void) => void,
    private readonly run: (item: T) => void,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.fire);
    }
  }
}

/**
 * Coalesces all writes a socket receives during one turn of the event loop into one syscall: the
 * first write corks the socket and registers it here; one process.nextTick per turn (not per
 * socket) uncorks them all. When a publisher's read delivers several frames at once, each
 * subscriber gets them in a single write instead of one write per message.
 */
export class WriteBatcher {
  private readonly uncorks = new Coalesced<Corked>(
    (fn) => process.nextTick(fn),
    (item) => item.uncork(),
  );

  add(item: Corked): void {
    this.uncorks.add(item);
  }
}
