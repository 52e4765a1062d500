import type { z } from 'zod';
import type { HookConfig } from '../config/hooks-schema.js';
import type { HookCallResult, HookMetrics } from '../observability/hook-metrics.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import { BREAKER_GAUGE, CircuitBreaker, type BreakerState } from './breaker.js';
import { JsonPoster } from './http-post.js';
import { signedHeaders } from './signature.js';
import type { HookName } from './messages.js';

/** Why a hook gave no answer. */
export type HookFailure = Exclude<HookCallResult, 'allow' | 'deny'>;

/** The backend's answer, or why there is none and when to try again. */
export type HookVerdict<A> = { readonly ok: true; readonly answer: A } | { readonly ok: false; readonly why: HookFailure; readonly retryMs: number };

export interface HookClientDeps {
  readonly clock: Clock;
  readonly metrics: HookMetrics;
  readonly log: Logger;
  readonly maxResponseBytes: number;
  /** Signs every call (signature.ts); '' = unsigned. */
  readonly secret: string;
}

/**
 * One hook of the application's backend: JSON POSTs to one URL over a keep-alive pool of at most
 * `maxConcurrent` sockets (http-post.ts), each call cut at `timeoutMs`, a call beyond
 * `maxConcurrent` refused at once (never queued), and a circuit breaker that stops calling a
 * backend that keeps failing; signed like webhooks when a secret is set. Every call resolves; none rejects.
 */
export class HookClient<A extends { allow: boolean }> {
  private readonly breaker: CircuitBreaker;
  private readonly poster: JsonPoster;
  private inFlight = 0;
  private closed = false;

  constructor(
    readonly name: HookName,
    readonly config: HookConfig,
    private readonly schema: z.ZodType<A>,
    private readonly deps: HookClientDeps,
  ) {
    this.poster = new JsonPoster(config.url, config.maxConcurrent);
    this.breaker = new CircuitBreaker(config.breakerFailures, config.breakerOpenMs, deps.clock);
  }

  /** Proceed when the backend cannot answer (see `failOpen` in docs/hooks.md). */
  get failOpen(): boolean {
    return this.config.failOpen;
  }

  get breakerGauge(): number {
    return BREAKER_GAUGE[this.breaker.state];
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  get pending(): number {
    return this.inFlight;
  }

  /** POSTs `body` (JSON text). Resolves with the validated answer or the failure; never rejects. */
  async call(body: string): Promise<HookVerdict<A>> {
    if (this.closed || this.inFlight >= this.config.maxConcurrent) return this.refuse('busy', this.config.timeoutMs);
    const wait = this.breaker.admit();
    if (wait !== undefined) return this.refuse('open', wait);
    this.inFlight++;
    const started = this.deps.clock();
    const headers = signedHeaders(this.deps.secret, this.deps.clock, body);
    const result = await this.poster.post(body, headers, this.config.timeoutMs, this.deps.maxResponseBytes);
    this.inFlight--;
    const answer = result.ok && result.status === 200 ? this.parse(result.text) : undefined;
    const outcome: HookCallResult = answer !== undefined ? (answer.allow ? 'allow' : 'deny') : result.ok ? 'error' : result.why;
    this.deps.metrics.call(this.name, outcome, outcome === 'timeout' ? undefined : (this.deps.clock() - started) / 1000);
    if (answer !== undefined) {
      this.succeeded();
      return { ok: true, answer };
    }
    this.failed(outcome);
    return { ok: false, why: outcome as HookFailure, retryMs: this.retryMs() };
  }

  /** Stops calling and closes the pool's sockets; calls in flight end as errors. */
  close(): void {
    this.closed = true;
    this.poster.close();
  }

  private parse(text: string): A | undefined {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = this.schema.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  }

  private refuse(why: HookFailure, retryMs: number): HookVerdict<A> {
    this.deps.metrics.call(this.name, why, undefined);
    return { ok: false, why, retryMs: Math.max(1, Math.ceil(retryMs)) };
  }

  private retryMs(): number {
    return this.breaker.state === 'open' ? this.config.breakerOpenMs : this.config.timeoutMs;
  }

  private succeeded(): void {
    if (this.breaker.state !== 'closed') this.deps.log.info({ hook: this.name }, 'hook breaker closed: the backend answers again');
    this.breaker.succeeded();
  }

  private failed(why: HookCallResult): void {
    const before = this.breaker.state;
    this.breaker.failed();
    if (before !== 'open' && this.breaker.state === 'open') {
      this.deps.log.warn({ hook: this.name, url: this.poster.target, lastFailure: why, openMs: this.config.breakerOpenMs }, 'hook breaker opened: calls refused until a probe succeeds');
    }
  }
}
