import type { ShedReason } from '../protocol/policy.js';
import type { Publication } from '../stream/publication.js';
import type { Stats } from '../observability/stats.js';
import { encodeGap } from '../protocol/frames.js';
import { encodePresenceResync } from '../protocol/presence-frames.js';
import type { ShedRun, Subscription } from './subscription.js';

/** Where the account writes its announcements: the connection's outbound writer. */
export interface ShedOutput {
  /** The socket takes more (it is under its high-water mark). */
  readonly writable: boolean;
  writeText(text: string): void;
}

/**
 * What a connection's policies shed and it has not announced yet: subscriptions holding shed runs
 * not yet written as `gap` frames (each written by the writer in its place, see Subscription), and
 * watchers owed a presence resync because their event frames were shed; with the counts of all it
 * shed, by reason.
 */
export class ShedAccount {
  /** Messages this connection's policies shed so far, by reason (observability). */
  readonly shed: Record<ShedReason, number> = { dropped: 0, conflated: 0, expired: 0 };
  /** Subscriptions with an unreported gap. */
  private gaps = 0;
  /** Subscriptions owed a presence resync notice (their event frames were shed). */
  private resyncs = 0;

  constructor(
    private readonly stats: Stats,
    private readonly output: ShedOutput,
    private readonly subscriptions: () => Iterable<Subscription>,
  ) {}

  /** Some subscription holds a run not announced yet. */
  get gapsPending(): boolean {
    return this.gaps > 0;
  }

  /** A message of no subscription (it left meanwhile) was shed: only counted. */
  count(reason: ShedReason): void {
    this.stats.shed[reason]++;
    this.shed[reason]++;
  }

  /** A message of `sub` was shed: its gap will say so. */
  noteShed(pub: Publication, sub: Subscription, reason: ShedReason): void {
    this.count(reason);
    if (!sub.hasGap) this.gaps++;
    sub.noteShed(pub.epoch, pub.seq, reason);
  }

  /** Announces shed runs taken from the subscription, in order. */
  writeGaps(sub: Subscription, runs: readonly ShedRun[]): void {
    for (const run of runs) {
      this.stats.gapFrames++;
      this.output.writeText(encodeGap(sub.channel.name, run.from, run.to, run.to - run.from + 1, run.reason));
    }
    if (!sub.hasGap) this.gaps--;
  }

  /**
   * Nothing is queued: every run still unannounced follows every message written, but those of a
   * subscription `waiting` says the replay lane writes in their place (none while no replay is
   * pending); then the presence resyncs.
   */
  writeDue(waiting: ((sub: Subscription) => boolean) | undefined): void {
    if (this.gaps > 0) {
      for (const sub of this.subscriptions()) if (sub.hasGap && this.output.writable && waiting?.(sub) !== true) this.writeGaps(sub, sub.takeGapsDue());
    }
    if (this.resyncs > 0 && this.output.writable) this.writeResyncs();
  }

  /** A subscription's queue and replay were dropped: its runs too (nothing of them reaches the client). */
  dropGaps(sub: Subscription): void {
    if (!sub.hasGap) return;
    sub.takeGaps();
    this.gaps--;
  }

  /** The watcher's list is now stale: once the queue drains it is told to fetch it again. */
  presenceShed(sub: Subscription | undefined): void {
    if (sub === undefined || sub.presenceStale) return;
    sub.presenceStale = true;
    this.resyncs++;
  }

  /** A watcher left: it is owed nothing. */
  dropResync(sub: Subscription): void {
    if (!sub.presenceStale) return;
    sub.presenceStale = false;
    this.resyncs--;
  }

  private writeResyncs(): void {
    for (const sub of this.subscriptions()) {
      if (!this.output.writable) return;
      if (!sub.presenceStale) continue;
      sub.presenceStale = false;
      this.resyncs--;
      this.output.writeText(encodePresenceResync(sub.channel.name));
    }
  }
}
