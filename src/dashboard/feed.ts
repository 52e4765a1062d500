import type { Logger } from '../observability/logger.js';
import type { HttpStream, HttpStreamHandler } from '../net/http.js';
import type { Snapshot } from './snapshot.js';
import type { MemoryPool } from '../util/memory-budget.js';

export interface FeedOptions {
  readonly intervalMs: number;
  readonly maxViewers: number;
  /** The memory budget's dashboard pool, set to what the feed holds after each snapshot. */
  readonly pool?: MemoryPool;
}

/** What the feed needs of a snapshot builder. */
export interface SnapshotProducer {
  reset(): void;
  build(): Snapshot;
}

/**
 * A viewer that has not taken this much of its stream is skipped (snapshots are whole states, so
 * a skipped one loses nothing but a plot point); one that stays that far behind is cut off.
 */
const MAX_VIEWER_BACKLOG_BYTES = 256 * 1024;
const MAX_SKIPPED_SNAPSHOTS = 30;

class Viewer implements HttpStreamHandler {
  skipped = 0;

  constructor(
    readonly out: HttpStream,
    private readonly feed: DashboardFeed,
  ) {}

  onClose(): void {
    this.feed.leave(this);
  }
}

/**
 * The dashboard's live feed as server-sent events. One timer builds one snapshot per interval and
 * writes the same encoded event to every viewer; the timer runs only while someone watches.
 */
export class DashboardFeed {
  private readonly viewers = new Set<Viewer>();
  private timer: NodeJS.Timeout | undefined;
  private latest: string | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly builder: SnapshotProducer,
    private readonly options: FeedOptions,
    private readonly log: Logger,
  ) {}

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Whether the snapshot timer runs (only while someone watches). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Resolves once no viewer is connected. */
  whenNoViewers(): Promise<void> {
    if (this.viewers.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get full(): boolean {
    return this.viewers.size >= this.options.maxViewers;
  }

  /** Adds a viewer to an open event stream; a stream beyond maxViewers (or after close) is ended at once. */
  join(out: HttpStream): HttpStreamHandler {
    if (this.closed || this.full) {
      out.end();
      return { onClose() {} };
    }
    const viewer = new Viewer(out, this);
    this.viewers.add(viewer);
    if (this.timer === undefined) {
      this.builder.reset();
      this.timer = setInterval(() => this.tick(), this.options.intervalMs);
      this.timer.unref();
    } else if (this.latest !== undefined) {
      out.write(this.latest);
    }
    this.log.info({ viewers: this.viewers.size }, 'dashboard viewer joined');
    return viewer;
  }

  leave(viewer: Viewer): void {
    if (!this.viewers.delete(viewer)) return;
    this.log.info({ viewers: this.viewers.size }, 'dashboard viewer left');
    if (this.viewers.size === 0) this.stop();
  }

  /** Ends every stream and refuses new ones (gateway shutdown). */
  close(): void {
    this.closed = true;
    for (const viewer of [...this.viewers]) viewer.out.end();
    this.stop();
  }

  /** Builds one snapshot and sends it to every viewer that keeps up. */
  tick(): void {
    this.latest = `data: ${JSON.stringify(this.builder.build())}\n\n`;
    let buffered = this.latest.length;
    for (const viewer of this.viewers) {
      buffered += viewer.out.bufferedAmount();
      if (viewer.out.bufferedAmount() > MAX_VIEWER_BACKLOG_BYTES) {
        if (++viewer.skipped > MAX_SKIPPED_SNAPSHOTS) viewer.out.end();
        continue;
      }
      viewer.skipped = 0;
      viewer.out.write(this.latest);
    }
    // Measured, not counted: the latest snapshot and what the viewers' sockets still buffer.
    this.options.pool?.set(buffered);
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.latest = undefined;
    this.options.pool?.set(0);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
