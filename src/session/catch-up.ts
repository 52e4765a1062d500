import type { TransportSocket } from '../net/socket.js';

/** A subscription as its connection's catch-up sees it. */
export interface CatchingUp {
  caughtUpChanged(caughtUp: boolean): void;
}

/**
 * Whether a connection is caught up, on a transport with its own fan-out (uWS topics): the
 * transport holds nothing for the socket, it is under its high-water mark (`onSettled`, until
 * `onBusy`), and its outbound writer holds nothing (no queued message, control frame, replay or
 * snapshot, and it is not blocked). Only then may its channels publish to it through their topics:
 * anything held would be overtaken. Any frame of its own makes it busy again, and each of its
 * subscriptions tells its channel before the channel's next publication (Channel.lagging).
 */
export class CatchUp {
  caughtUp = false;

  constructor(
    private readonly socket: TransportSocket,
    private readonly subscriptions: () => Iterable<CatchingUp>,
    private readonly writerIdle: () => boolean,
  ) {}

  /** Something waits to be written to the socket (the transport's `onBusy`, a replay, a close). */
  busy(): void {
    if (!this.caughtUp) return;
    this.caughtUp = false;
    for (const sub of this.subscriptions()) sub.caughtUpChanged(false);
  }

  /** The transport wrote all it held (its `onSettled`): caught up if the writer holds nothing either. */
  settled(): void {
    if (this.caughtUp || !this.writerIdle()) return;
    this.caughtUp = true;
    for (const sub of this.subscriptions()) sub.caughtUpChanged(true);
  }

  join(topic: string): void {
    this.socket.join?.(topic);
  }

  leave(topic: string): void {
    this.socket.leave?.(topic);
  }
}
