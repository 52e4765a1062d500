import { randomUUID } from 'node:crypto';
import type { WebhooksConfig } from '../config/hooks-schema.js';
import type { HookMetrics } from '../observability/hook-metrics.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import { JsonPoster } from './http-post.js';
import { signedHeaders } from './signature.js';

/** What the application is told (docs/hooks.md, Webhooks). */
export type WebhookEvent =
  | { readonly type: 'channel.occupied'; readonly ch: string }
  | { readonly type: 'channel.vacated'; readonly ch: string }
  | { readonly type: 'connection.closed'; readonly conn: string; readonly ip: string; readonly sub: string | undefined; readonly code: number; readonly reason: string }
  | { readonly type: 'publications.shed'; readonly ch: string; readonly n: number; readonly intervalMs: number };

type Queued = WebhookEvent & { readonly id: string; readonly at: number };

/** Largest answer body read from the receiver (its content is ignored). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Drop warnings per minute at most; the rest are summed into the next one. */
const DROP_LOG_INTERVAL_MS = 60_000;

/**
 * Events for the application, delivered at least once: queued (bounded by `maxQueued`; beyond it
 * an event is dropped, counted and logged), POSTed in batches of up to `maxBatch` by one sender at
 * a time, signed, and retried with exponential backoff and jitter until the receiver answers 2xx.
 * Each event carries a unique `id`, kept across retries, so the receiver can drop duplicates.
 * `emit` costs one allocation and never waits: the caller is never blocked by delivery.
 */
export class Webhooks {
  private readonly poster: JsonPoster;
  private queue: Queued[] = [];
  private sending = false;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  private droppedUnlogged = 0;
  private lastDropLog = -Infinity;
  /** Called once the queue empties while draining. */
  private onEmpty: (() => void) | undefined;
  /** Channels this node has announced occupied and not yet vacated. */
  private readonly occupied = new Set<string>();

  constructor(
    private readonly config: WebhooksConfig,
    private readonly deps: { readonly clock: Clock; readonly metrics: HookMetrics; readonly log: Logger; readonly random?: () => number },
  ) {
    this.poster = new JsonPoster(config.url, 1);
  }

  /** Events waiting for delivery. */
  get queued(): number {
    return this.queue.length;
  }

  /** Where events are POSTed, without query or credentials. */
  get target(): string {
    return this.poster.target;
  }

  emit(event: WebhookEvent): void {
    if (this.closed) return;
    if (this.queue.length >= this.config.maxQueued) {
      this.deps.metrics.webhookEvents('dropped', 1);
      this.droppedUnlogged++;
      this.logDrops();
      return;
    }
    this.queue.push({ id: randomUUID(), at: Math.round(this.deps.clock()), ...event });
    this.deps.metrics.webhookEvents('queued', 1);
    this.schedule();
  }

  /** A channel gained its first local subscriber, or lost its last: one event per change. */
  occupancy(ch: string, occupied: boolean): void {
    if (occupied) {
      if (this.occupied.has(ch)) return;
      this.occupied.add(ch);
      this.emit({ type: 'channel.occupied', ch });
    } else if (this.occupied.delete(ch)) {
      this.emit({ type: 'channel.vacated', ch });
    }
  }

  /**
   * One interval's shed counts: an event per channel that shed, the channels beyond
   * `maxShedChannels` summed under `*`.
   */
  shed(counts: Iterable<readonly [string, number]>, intervalMs: number): void {
    let channels = 0;
    let rest = 0;
    for (const [ch, n] of counts) {
      if (n <= 0) continue;
      if (++channels <= this.config.maxShedChannels) this.emit({ type: 'publications.shed', ch, n, intervalMs });
      else rest += n;
    }
    if (rest > 0) this.emit({ type: 'publications.shed', ch: '*', n: rest, intervalMs });
  }

  /**
   * Shutdown: keeps delivering (retries included) until the queue is empty or `timeoutMs` has
   * passed, then closes. 0 = closes at once.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.closed && timeoutMs > 0 && this.queue.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onEmpty = undefined;
    }
    this.close();
  }

  /** Stops delivering; what is still queued is lost: counted as dropped and logged. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.poster.close();
    if (this.queue.length === 0) return;
    this.deps.metrics.webhookEvents('dropped', this.queue.length);
    this.deps.log.warn({ events: this.queue.length, url: this.poster.target }, 'webhook events undelivered at shutdown: dropped');
  }

  /** Events of the same turn go out in one batch: one sender, started on the next turn. */
  private schedule(): void {
    if (this.sending || this.scheduled || this.retryTimer !== undefined) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.deliver();
    });
  }

  private async deliver(): Promise<void> {
    if (this.closed || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.slice(0, this.config.maxBatch);
    const body = JSON.stringify({ events: batch });
    const result = await this.poster.post(body, signedHeaders(this.config.secret, this.deps.clock, body), this.config.timeoutMs, MAX_ANSWER_BYTES);
    this.sending = false;
    if (this.closed) return;
    if (result.ok && result.status >= 200 && result.status < 300) {
      this.queue.splice(0, batch.length);
      this.deps.metrics.webhookEvents('delivered', batch.length);
      if (this.attempt > 0) this.deps.log.info({ url: this.poster.target, attempts: this.attempt + 1 }, 'webhook deliveries resumed');
      this.attempt = 0;
      if (this.queue.length > 0) this.schedule();
      else this.onEmpty?.();
      return;
    }
    this.deps.metrics.webhookEvents('retried', batch.length);
    if (this.attempt === 0) this.deps.log.warn({ url: this.poster.target, status: result.ok ? result.status : result.why, queued: this.queue.length }, 'webhook delivery failed: retrying with backoff');
    const { retryMinMs, retryMaxMs } = this.config;
    const backoff = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    // Full jitter over the upper half, so many nodes retrying together spread out.
    const delay = Math.round(backoff * (0.5 + (this.deps.random ?? Math.random)() / 2));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.deliver();
    }, delay);
    this.retryTimer.unref();
  }

  private logDrops(): void {
    const now = this.deps.clock();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.lastDropLog = now;
    this.deps.log.warn({ dropped: this.droppedUnlogged, maxQueued: this.config.maxQueued }, 'webhook queue full: events dropped');
    this.droppedUnlogged = 0;
  }
}
