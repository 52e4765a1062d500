import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';

/** How one hook call ended: the backend's verdict, or why there was none. */
export type HookCallResult = 'allow' | 'deny' | 'timeout' | 'error' | 'busy' | 'open';

/** What a webhook target did with events. */
export type WebhookEventResult = 'queued' | 'delivered' | 'retried' | 'dropped';

/**
 * Prometheus metrics of the application's backend: per hook, calls by result, latency and breaker
 * state; per webhook target, events queued, delivered, retried and dropped. Hook calls and
 * webhook deliveries are network round trips, not the publication hot path, so they observe
 * prom-client directly.
 */
export class HookMetrics {
  private readonly calls: Counter<'hook' | 'result'>;
  private readonly latency: Histogram<'hook'>;
  private readonly events: Counter<'result'>;
  /** Plain totals by hook and result, for the health summary and tests. */
  readonly totals = new Map<string, number>();

  private readonly all: Metric[];

  /** `breakerStates`: each configured hook's breaker, read at scrape time. */
  constructor(breakerStates: () => Iterable<readonly [string, number]>) {
    const registers: Registry[] = [];
    this.calls = new Counter({ name: 'sluice_hook_calls_total', help: 'Hook calls by hook and result (allow, deny, timeout, error, busy = at maxConcurrent, open = breaker open)', labelNames: ['hook', 'result'], registers });
    this.latency = new Histogram({
      name: 'sluice_hook_latency_seconds',
      help: 'Round trip of hook calls that reached the backend',
      labelNames: ['hook'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const breaker = new Gauge({
      name: 'sluice_hook_breaker_state',
      help: 'Circuit breaker of each hook: 0 closed, 1 open, 2 half-open',
      labelNames: ['hook'],
      registers,
      collect() {
        for (const [hook, state] of breakerStates()) this.set({ hook }, state);
      },
    });
    this.events = new Counter({ name: 'sluice_webhook_events_total', help: 'Webhook events by what became of them (queued, delivered, retried, dropped = queue full or left at shutdown)', labelNames: ['result'], registers });
    this.all = [this.calls, this.latency, breaker, this.events];
  }

  /** Adds these metrics to a gateway's registry. */
  registerIn(registry: Registry): void {
    for (const metric of this.all) registry.registerMetric(metric);
  }

  call(hook: string, result: HookCallResult, seconds: number | undefined): void {
    this.calls.inc({ hook, result });
    if (seconds !== undefined) this.latency.observe({ hook }, seconds);
    const key = `${hook}.${result}`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
  }

  webhookEvents(result: WebhookEventResult, n: number): void {
    this.events.inc({ result }, n);
    const key = `webhook.${result}`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + n);
  }
}
