import { describe, expect, it } from 'vitest';
import { BackendPanel, type DashboardHook } from '../../src/dashboard/backend-panel.js';

function setup(webhooks = true) {
  const totals = new Map<string, number>();
  const hooks: Array<{ -readonly [K in keyof DashboardHook]: DashboardHook[K] }> = [
    { name: 'connect', breakerState: 'closed', pending: 0 },
    { name: 'publish', breakerState: 'closed', pending: 3 },
  ];
  const sender = { target: 'http://127.0.0.1:9/events', queued: 0 };
  const panel = new BackendPanel({ hooks: () => hooks, webhooks: webhooks ? sender : undefined, totals });
  const add = (key: string, n: number) => totals.set(key, (totals.get(key) ?? 0) + n);
  return { panel, hooks, sender, add };
}

describe('BackendPanel', () => {
  it('reports each hook: totals by result, calls and failures per second, in flight, breaker state', () => {
    const t = setup();
    t.add('publish.allow', 10);
    t.panel.reset();
    t.add('publish.allow', 6);
    t.add('publish.deny', 2);
    t.add('publish.timeout', 1);
    t.add('publish.busy', 3);
    const { rows, warnings } = t.panel.build(0.5);
    expect(rows!.hooks).toEqual([
      { hook: 'connect', breaker: 'closed', inFlight: 0, totals: { allow: 0, deny: 0, timeout: 0, error: 0, busy: 0, open: 0 }, callsPerSecond: 0, failuresPerSecond: 0 },
      { hook: 'publish', breaker: 'closed', inFlight: 3, totals: { allow: 16, deny: 2, timeout: 1, error: 0, busy: 3, open: 0 }, callsPerSecond: 6, failuresPerSecond: 2 },
    ]);
    expect(warnings).toEqual(['publish hook: 2 failed calls/s']);
    expect(t.panel.build(1).rows!.hooks[1]!.callsPerSecond, 'the next interval starts from the last build').toBe(0);
  });

  it('warns while a breaker is not closed, and about webhook events dropped in the interval', () => {
    const t = setup();
    t.panel.reset();
    t.hooks[1]!.breakerState = 'open';
    t.add('publish.open', 4);
    t.sender.queued = 7;
    t.add('webhook.delivered', 5);
    t.add('webhook.retried', 2);
    t.add('webhook.dropped', 3);
    const { rows, warnings } = t.panel.build(1);
    expect(rows!.webhooks).toEqual({ target: 'http://127.0.0.1:9/events', queued: 7, delivered: 5, retried: 2, dropped: 3, droppedPerSecond: 3 });
    expect(warnings).toEqual(['publish hook: circuit breaker open, its backend keeps failing', 'webhooks: 3 events/s dropped (queue full)']);
    t.hooks[1]!.breakerState = 'half_open';
    expect(t.panel.build(1).warnings).toEqual(['publish hook: circuit breaker half-open, its backend keeps failing']);
  });

  it('has no rows when neither a hook nor webhooks are configured', () => {
    const t = setup(false);
    t.hooks.length = 0;
    expect(t.panel.build(1)).toEqual({ rows: undefined, warnings: [] });
  });
});
