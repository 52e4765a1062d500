/**
 * The application's backend on the dashboard (docs/hooks.md): per hook, calls and failures by kind
 * with their rates, calls in flight and the circuit breaker's state; per webhook target, events
 * queued now and delivered, retried and dropped so far. Read from the same totals as /metrics.
 */

/** What the dashboard reads of one hook (a HookClient). */
export interface DashboardHook {
  readonly name: string;
  readonly breakerState: 'closed' | 'open' | 'half_open';
  /** Calls in flight. */
  readonly pending: number;
}

/** What the dashboard reads of the webhook sender. */
export interface DashboardWebhooks {
  /** Where events are POSTed, without query or credentials. */
  readonly target: string;
  /** Events waiting for delivery now. */
  readonly queued: number;
}

/** The backend's live state: its hooks, its webhook sender, and the call and event totals keyed `<hook>.<result>` / `webhook.<result>`. */
export interface DashboardBackend {
  hooks(): Iterable<DashboardHook>;
  readonly webhooks: DashboardWebhooks | undefined;
  readonly totals: ReadonlyMap<string, number>;
}

const FAILURES = ['timeout', 'error', 'busy', 'open'] as const;
const RESULTS = ['allow', 'deny', ...FAILURES] as const;
type HookResult = (typeof RESULTS)[number];

export interface HookRow {
  readonly hook: string;
  readonly breaker: DashboardHook['breakerState'];
  readonly inFlight: number;
  /** Calls since the gateway started, by result: the backend's `allow`/`deny`, or why there was no answer. */
  readonly totals: Readonly<Record<HookResult, number>>;
  /** Calls and failed calls (timeout, error, busy, open) per second over the last interval. */
  readonly callsPerSecond: number;
  readonly failuresPerSecond: number;
}

export interface WebhookRow {
  readonly target: string;
  readonly queued: number;
  readonly delivered: number;
  readonly retried: number;
  readonly dropped: number;
  readonly droppedPerSecond: number;
}

export interface BackendSnapshot {
  readonly hooks: readonly HookRow[];
  readonly webhooks?: WebhookRow;
}

/** Builds the backend's part of each snapshot; rates are growth since the previous build. */
export class BackendPanel {
  private last = new Map<string, number>();

  constructor(private readonly backend: DashboardBackend) {}

  /** Starts a fresh interval. */
  reset(): void {
    this.last = new Map(this.backend.totals);
  }

  /**
   * The rows (undefined while no hook and no webhook target is configured), and what an operator
   * should look at: open breakers, failing calls, dropped events.
   */
  build(perSecond: number): { readonly rows: BackendSnapshot | undefined; readonly warnings: readonly string[] } {
    const { totals } = this.backend;
    const read = (key: string): number => totals.get(key) ?? 0;
    const rate = (keys: readonly string[]): number => Math.round(keys.reduce((sum, k) => sum + read(k) - (this.last.get(k) ?? 0), 0) * perSecond * 100) / 100;
    const warnings: string[] = [];
    const hooks: HookRow[] = [];
    for (const hook of this.backend.hooks()) {
      const keyOf = (result: HookResult): string => `${hook.name}.${result}`;
      const counts = {} as Record<HookResult, number>;
      for (const result of RESULTS) counts[result] = read(keyOf(result));
      const row: HookRow = {
        hook: hook.name,
        breaker: hook.breakerState,
        inFlight: hook.pending,
        totals: counts,
        callsPerSecond: rate(RESULTS.map(keyOf)),
        failuresPerSecond: rate(FAILURES.map(keyOf)),
      };
      hooks.push(row);
      if (row.breaker !== 'closed') warnings.push(`${hook.name} hook: circuit breaker ${row.breaker === 'open' ? 'open' : 'half-open'}, its backend keeps failing`);
      else if (row.failuresPerSecond > 0) warnings.push(`${hook.name} hook: ${row.failuresPerSecond} failed calls/s`);
    }
    const sender = this.backend.webhooks;
    let webhooks: WebhookRow | undefined;
    if (sender !== undefined) {
      webhooks = { target: sender.target, queued: sender.queued, delivered: read('webhook.delivered'), retried: read('webhook.retried'), dropped: read('webhook.dropped'), droppedPerSecond: rate(['webhook.dropped']) };
      if (webhooks.droppedPerSecond > 0) warnings.push(`webhooks: ${webhooks.droppedPerSecond} events/s dropped (queue full)`);
    }
    this.last = new Map(totals);
    if (hooks.length === 0 && webhooks === undefined) return { rows: undefined, warnings };
    return { rows: { hooks, ...(webhooks === undefined ? {} : { webhooks }) }, warnings };
  }
}
