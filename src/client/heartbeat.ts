import type { Clock } from '../util/clock.js';

export interface HeartbeatOptions {
  /** After this long without any frame from the server, send a `ping` (ms). Default 25 000; 0 disables. */
  readonly intervalMs?: number;
  /** If nothing arrives this long after that ping, the connection is dead (ms). Default 10 000. */
  readonly timeoutMs?: number;
}

/**
 * Notices a connection that died without a close (a laptop lid, a dropped NAT entry): browsers
 * never see the server's protocol pings, so the client asks with `{"op":"ping"}` when the line has
 * been quiet for `intervalMs`, and gives up when nothing at all arrives within `timeoutMs` after.
 * One timer per client; traffic only updates a timestamp.
 */
export class Heartbeat {
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastHeard = 0;
  private pingedAt = -1;

  constructor(
    options: HeartbeatOptions,
    private readonly clock: Clock,
    private readonly sink: { ping(): void; dead(): void },
  ) {
    this.intervalMs = options.intervalMs ?? 25_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** A connection was established. */
  start(): void {
    this.heard();
    this.arm(this.intervalMs);
  }

  /** Any frame arrived. */
  heard(): void {
    this.lastHeard = this.clock();
    this.pingedAt = -1;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.stop();
    if (this.intervalMs <= 0) return;
    this.timer = setTimeout(() => this.check(), Math.max(0, ms));
  }

  private check(): void {
    this.timer = undefined;
    const now = this.clock();
    if (this.pingedAt >= 0) {
      if (now - this.pingedAt >= this.timeoutMs) return this.sink.dead();
      return this.arm(this.pingedAt + this.timeoutMs - now);
    }
    const quiet = now - this.lastHeard;
    if (quiet < this.intervalMs) return this.arm(this.intervalMs - quiet);
    this.pingedAt = now;
    this.sink.ping();
    this.arm(this.timeoutMs);
  }
}
