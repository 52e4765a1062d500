import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookBackend, type BackendCall } from '../../devkit/hook-backend.js';
import { WebhooksSchema } from '../../src/config/hooks-schema.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/hooks/signature.js';
import { Webhooks } from '../../src/hooks/webhooks.js';
import { HookMetrics } from '../../src/observability/hook-metrics.js';
import { systemClock } from '../../src/util/clock.js';
import { until } from '../../devkit/until.js';

const SECRET = 'a-webhook-secret-of-at-least-32-bytes!';

interface Delivered {
  readonly id: string;
  readonly type: string;
  readonly [k: string]: unknown;
}

/** What a receiver does: verify the signature over timestamp + raw body, then read the events. */
function verify(call: BackendCall): Delivered[] {
  const timestamp = call.headers[TIMESTAMP_HEADER] as string;
  const expected = `v1=${createHmac('sha256', SECRET).update(`${timestamp}.${call.raw}`).digest('hex')}`;
  expect(call.headers[SIGNATURE_HEADER]).toBe(expected);
  expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(300);
  return (JSON.parse(call.raw) as { events: Delivered[] }).events;
}

describe('Webhooks against a real receiver', () => {
  let backend: HookBackend;
  let webhooks: Webhooks | undefined;
  beforeEach(async () => {
    backend = await HookBackend.start();
  });
  afterEach(async () => {
    webhooks?.close();
    await backend.close();
  });

  function start(overrides: Record<string, unknown> = {}) {
    const config = WebhooksSchema.parse({ url: backend.url('/events'), secret: SECRET, retryMinMs: 5, retryMaxMs: 40, ...overrides });
    const metrics = new HookMetrics(() => []);
    const logged: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    webhooks = new Webhooks(config, { clock: systemClock, metrics, log });
    return { webhooks, metrics, logged };
  }

  it('delivers events of one turn in one signed batch, each with a unique id', async () => {
    const { webhooks } = start();
    webhooks.occupancy('room.1', true);
    webhooks.occupancy('room.1', true);
    webhooks.emit({ type: 'connection.closed', conn: 'c1', ip: '127.0.0.1', sub: 'alice', code: 4100, reason: 'slow consumer' });
    webhooks.occupancy('room.1', false);
    const events = verify(await backend.next((c) => c.path === '/events'));
    expect(events.map((e) => e.type)).toEqual(['channel.occupied', 'connection.closed', 'channel.vacated']);
    expect(events[1]).toMatchObject({ conn: 'c1', sub: 'alice', code: 4100 });
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
  });

  it('retries through an outage with the same ids: every event arrives, duplicates are recognisable', async () => {
    const { webhooks, metrics } = start();
    backend.behaviour.mode = 'failing';
    for (let i = 0; i < 5; i++) webhooks.occupancy(`room.${i}`, true);
    await backend.next((c) => c.path === '/events');
    await backend.next((c) => c.path === '/events' && backend.on('/events').length >= 3);
    backend.behaviour.mode = 'up';
    const delivered = new Map<string, Delivered>();
    await until(() => webhooks.queued === 0, 'every event delivered');
    const calls = backend.on('/events');
    for (const call of calls) for (const e of verify(call)) delivered.set(e.id, e);
    expect([...delivered.values()].map((e) => e.ch).sort()).toEqual(['room.0', 'room.1', 'room.2', 'room.3', 'room.4']);
    const ids = calls.flatMap((c) => verify(c).map((e) => e.id));
    expect(ids.length, 'retried deliveries repeat the same ids').toBeGreaterThan(delivered.size);
    expect(metrics.totals.get('webhook.delivered')).toBe(5);
    expect(metrics.totals.get('webhook.retried')).toBeGreaterThanOrEqual(10);
  });

  it('bounds its queue: events beyond maxQueued are dropped and counted, never waited for', async () => {
    const { webhooks, metrics } = start({ maxQueued: 3 });
    backend.behaviour.mode = 'down';
    for (let i = 0; i < 10; i++) webhooks.occupancy(`c${i}`, true);
    expect(webhooks.queued).toBe(3);
    expect(metrics.totals.get('webhook.dropped')).toBe(7);
  });

  it('reports shed counts per channel, the channels beyond maxShedChannels summed under *', async () => {
    const { webhooks } = start({ maxShedChannels: 2 });
    webhooks.shed([['a', 5], ['b', 0], ['c', 2], ['d', 1], ['e', 4]], 10_000);
    const events = verify(await backend.next((c) => c.path === '/events'));
    expect(events.map((e) => [e.ch, e.n, e.intervalMs])).toEqual([['a', 5, 10_000], ['c', 2, 10_000], ['*', 5, 10_000]]);
  });

  it('drains at shutdown: keeps delivering, through retries, until the queue is empty', async () => {
    const { webhooks, metrics } = start({ maxBatch: 2 });
    backend.behaviour.mode = 'failing';
    for (let i = 0; i < 5; i++) webhooks.occupancy(`room.${i}`, true);
    const drained = webhooks.drain(10_000);
    await backend.next((c) => c.path === '/events');
    backend.behaviour.mode = 'up';
    await drained;
    const delivered = new Set(backend.on('/events').slice(1).flatMap((c) => verify(c).map((e) => e.ch)));
    expect([...delivered].sort()).toEqual(['room.0', 'room.1', 'room.2', 'room.3', 'room.4']);
    expect(metrics.totals.get('webhook.delivered')).toBe(5);
    expect(metrics.totals.get('webhook.dropped')).toBeUndefined();
    webhooks.emit({ type: 'channel.occupied', ch: 'late' });
    expect(webhooks.queued, 'closed once drained').toBe(0);
  });

  it('a drain bounded by its timeout: what the receiver never took is dropped, counted and logged', async () => {
    const { webhooks, metrics, logged } = start();
    backend.behaviour.mode = 'down';
    for (let i = 0; i < 3; i++) webhooks.occupancy(`room.${i}`, true);
    await webhooks.drain(100);
    expect(metrics.totals.get('webhook.dropped')).toBe(3);
    expect(metrics.totals.get('webhook.delivered')).toBeUndefined();
    expect(logged.find((l) => l.msg === 'webhook events undelivered at shutdown: dropped')).toMatchObject({ events: 3 });
  });
});
