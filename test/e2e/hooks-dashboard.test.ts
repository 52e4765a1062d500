import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../../devkit/chromium.js';
import { HookBackend } from '../../devkit/hook-backend.js';
import type { Snapshot } from '../../src/dashboard/snapshot.js';
import { gatewayHarness } from '../helpers/harness.js';

const KEY = 'test-admin-key-0123456789';

/** Reads the dashboard's event stream until a snapshot satisfies `done`; resolves with it. */
function snapshotWhere(httpUrl: string, done: (s: Snapshot) => boolean, timeoutMs = 15_000): Promise<Snapshot> {
  return new Promise((resolve, reject) => {
    let last: Snapshot | undefined;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no snapshot matched; last: ${JSON.stringify(last?.backend)} ${JSON.stringify(last?.warnings)}`));
    }, timeoutMs);
    const req = request(`${httpUrl}/dashboard/events`, { headers: { Authorization: `Bearer ${KEY}` } }, (res) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (!event.startsWith('data: ')) continue;
          last = JSON.parse(event.slice(6)) as Snapshot;
          if (done(last)) {
            clearTimeout(timer);
            req.destroy();
            resolve(last);
          }
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
  });
}

describe('hook failures on the dashboard', () => {
  const harness = gatewayHarness('ws');
  let backend: HookBackend;
  beforeEach(async () => {
    backend = await HookBackend.start();
  });
  afterEach(async () => {
    await backend.close();
  });

  it('shows each hook’s calls by result and its open breaker, and the webhook target’s queued and retried events', async () => {
    backend.behaviour.mode = 'failing';
    const gw = await harness.start({
      dashboard: { enabled: true, adminKey: KEY },
      hooks: { publish: { url: backend.url('/publish'), breakerFailures: 2, breakerOpenMs: 60_000 } },
      webhooks: { url: backend.url('/events'), secret: 'a-webhook-secret-of-at-least-32-bytes!', retryMinMs: 10, retryMaxMs: 50 },
    });
    const client = await harness.connect();
    for (let i = 0; i < 3; i++) expect((await client.request({ op: 'pub', ch: 'c', data: i })).code).toBe('unavailable');
    await client.subscribe('room');
    const s = await snapshotWhere(gw.httpUrl, (snap) => (snap.backend?.webhooks?.retried ?? 0) > 0 && snap.backend?.hooks[0]?.breaker === 'open');
    expect(s.backend!.hooks).toHaveLength(1);
    expect(s.backend!.hooks[0]).toMatchObject({ hook: 'publish', breaker: 'open', inFlight: 0, totals: { allow: 0, error: 2, open: 1, timeout: 0 } });
    expect(s.backend!.webhooks).toMatchObject({ target: backend.url('/events'), dropped: 0, delivered: 0 });
    expect(s.backend!.webhooks!.queued, 'channel.occupied waits for the receiver').toBeGreaterThan(0);
    expect(s.warnings).toContain('publish hook: circuit breaker open, its backend keeps failing');

    backend.behaviour.mode = 'up';
    const recovered = await snapshotWhere(gw.httpUrl, (snap) => (snap.backend?.webhooks?.delivered ?? 0) > 0);
    expect(recovered.backend!.webhooks!.queued).toBe(0);
  });

  it('the page shows the hooks table with the breaker state, and the webhook target', async () => {
    backend.behaviour.mode = 'failing';
    const gw = await harness.start({
      dashboard: { enabled: true, adminKey: KEY },
      hooks: { subscribe: { url: backend.url('/subscribe'), breakerFailures: 1, breakerOpenMs: 60_000 } },
      webhooks: { url: backend.url('/events'), secret: 'a-webhook-secret-of-at-least-32-bytes!' },
    });
    const client = await harness.connect();
    expect((await client.request({ op: 'sub', ch: 'c' })).code).toBe('unavailable');
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.setExtraHTTPHeaders({ Authorization: `Bearer ${KEY}` });
      expect((await page.goto(`${gw.httpUrl}/dashboard`))?.status()).toBe(200);
      await page.waitForSelector('#backend:not([hidden]) #hooks tbody tr[data-id="subscribe"]', { timeout: 15_000 });
      const cells = await page.locator('#hooks tbody tr[data-id="subscribe"] td').allTextContents();
      expect(cells.slice(0, 2)).toEqual(['subscribe', 'open']);
      expect(cells[8], 'errors').toBe('1');
      expect((await page.locator('#webhooks tbody td').first().textContent())).toBe(backend.url('/events'));
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('has no backend section when no hook and no webhooks are configured', async () => {
    const gw = await harness.start({ dashboard: { enabled: true, adminKey: KEY } });
    const s = await snapshotWhere(gw.httpUrl, () => true);
    expect(s.backend).toBeUndefined();
    expect(s.transport).toBe('ws');
  });
});
