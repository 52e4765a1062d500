/**
 * The publication ids (`pid`) one channel has been published with recently, for the in-process
 * broker: a `pub` retried with a pid still remembered is answered with the seq its first attempt
 * was given, and not published again. Remembered for `ttlMs` after that first attempt (0: not at
 * all). Entries are kept in the order they were added, which is their expiry order.
 */
export class PublicationIds {
  private readonly seen = new Map<string, { readonly seq: number; readonly at: number }>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.seen.size;
  }

  /** The seq `pid` was published with, if that is remembered at `now`. */
  lookup(pid: string, now: number): number | undefined {
    this.expire(now);
    return this.seen.get(pid)?.seq;
  }

  remember(pid: string, seq: number, now: number): void {
    if (this.ttlMs > 0) this.seen.set(pid, { seq, at: now });
  }

  /** Forgets the pids remembered for `ttlMs` or longer. */
  expire(now: number): void {
    for (const [pid, entry] of this.seen) {
      if (now - entry.at < this.ttlMs) return;
      this.seen.delete(pid);
    }
  }
}
