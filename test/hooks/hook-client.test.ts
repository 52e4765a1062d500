import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookBackend } from '../../devkit/hook-backend.js';
import { HooksSchema } from '../../src/config/hooks-schema.js';
import { HookClient } from '../../src/hooks/hook-client.js';
import { PublishAnswer } from '../../src/hooks/messages.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/hooks/signature.js';
import { HookMetrics } from '../../src/observability/hook-metrics.js';
import { manualClock } from '../helpers/clock.js';

describe('HookClient against a real HTTP backend', () => {
  let backend: HookBackend;
  const clients: Array<HookClient<PublishAnswer>> = [];
  beforeEach(async () => {
    backend = await HookBackend.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await backend.close();
  });

  function client(overrides: Record<string, unknown>, clock = manualClock(), secret = '') {
    const config = HooksSchema.parse({ publish: { url: backend.url('/publish'), ...overrides } }).publish;
    const metrics = new HookMetrics(() => []);
    const c = new HookClient('publish', config, PublishAnswer, { clock, metrics, log: pino({ level: 'silent' }), maxResponseBytes: 1024, secret });
    clients.push(c);
    return { c, metrics, clock };
  }

  it('posts the JSON body and resolves with the validated answer', async () => {
    backend.behaviour.answer = (call) => ({ allow: true, data: { echoed: call.body.n } });
    const { c, metrics } = client({});
    const verdict = await c.call('{"n":7}');
    expect(verdict).toEqual({ ok: true, answer: { allow: true, data: { echoed: 7 } } });
    expect(backend.on('/publish')[0]!.headers['content-type']).toBe('application/json');
    expect(metrics.totals.get('publish.allow')).toBe(1);
  });

  it('signs each call as webhooks are signed when a secret is set, and sends no signature without one', async () => {
    const secret = 'a-hook-secret-of-at-least-32-bytes!!';
    const signed = client({}, manualClock(1_795_970_335_123), secret).c;
    await signed.call('{"n":1}');
    const call = backend.on('/publish')[0]!;
    expect(call.headers[TIMESTAMP_HEADER]).toBe('1795970335');
    const mac = createHmac('sha256', secret).update(`1795970335.${call.raw}`).digest('hex');
    expect(call.headers[SIGNATURE_HEADER]).toBe(`v1=${mac}`);
    await client({}).c.call('{"n":2}');
    expect(backend.on('/publish')[1]!.headers[SIGNATURE_HEADER]).toBeUndefined();
    expect(() => HooksSchema.parse({ secret: 'too short' }), 'a short secret is refused at load').toThrow('at least 32 bytes');
  });

  it('an answer of another shape, a 500 or an oversize body is a failed call, never an exception', async () => {
    const { c, metrics } = client({});
    backend.behaviour.answer = () => ({ allow: 'yes' });
    expect(await c.call('{}')).toMatchObject({ ok: false, why: 'error' });
    backend.behaviour.answer = () => ({ allow: true, data: 'x'.repeat(2048) });
    expect(await c.call('{}')).toMatchObject({ ok: false, why: 'error' });
    backend.behaviour.mode = 'failing';
    expect(await c.call('{}')).toMatchObject({ ok: false, why: 'error' });
    backend.behaviour.mode = 'down';
    expect(await c.call('{}')).toMatchObject({ ok: false, why: 'error' });
    expect(metrics.totals.get('publish.error')).toBe(4);
  });

  it('cuts a call at timeoutMs and refuses one beyond maxConcurrent at once, with retryMs', async () => {
    backend.behaviour.delayMs = () => 5_000;
    const { c, metrics } = client({ timeoutMs: 50, maxConcurrent: 2, breakerFailures: 0 });
    const slow = [c.call('{}'), c.call('{}')];
    expect(c.pending).toBe(2);
    expect(await c.call('{}')).toEqual({ ok: false, why: 'busy', retryMs: 50 });
    for (const v of await Promise.all(slow)) expect(v).toEqual({ ok: false, why: 'timeout', retryMs: 50 });
    expect(c.pending).toBe(0);
    expect(metrics.totals.get('publish.busy')).toBe(1);
    expect(metrics.totals.get('publish.timeout')).toBe(2);
  });

  it('opens its breaker after consecutive failures (no call reaches the backend), and a successful probe closes it', async () => {
    const { c, clock } = client({ breakerFailures: 2, breakerOpenMs: 1_000 });
    backend.behaviour.mode = 'failing';
    await c.call('{}');
    await c.call('{}');
    const before = backend.calls.length;
    expect(await c.call('{}')).toEqual({ ok: false, why: 'open', retryMs: 1_000 });
    expect(backend.calls.length, 'an open breaker calls nobody').toBe(before);
    expect(c.breakerGauge).toBe(1);
    backend.behaviour.mode = 'up';
    clock.advance(1_000);
    expect(await c.call('{}')).toMatchObject({ ok: true });
    expect(c.breakerGauge).toBe(0);
    expect(await c.call('{}')).toMatchObject({ ok: true });
  });
});
