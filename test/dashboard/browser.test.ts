import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Chromium } from '../../devkit/chromium.js';
import { DEMO_CONFIG } from '../../devkit/demo-traffic/config.js';
import { startTraffic, type Traffic } from '../../devkit/demo-traffic/traffic.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';

const KEY = 'browser-test-admin-key-42';
const ARTIFACTS = new URL('../artifacts/', import.meta.url);

describe.each(TRANSPORTS)('dashboard in headless Chromium [%s]', (transport) => {
  let gw: TestGateway;
  let traffic: Traffic;
  let browser: Chromium;
  /** Current connection id of each simulated role. */
  const ids = new Map<string, string>();

  beforeAll(async () => {
    gw = await startGateway({ ...DEMO_CONFIG, dashboard: { enabled: true, adminKey: KEY } }, transport);
    traffic = startTraffic(gw.url, { onHello: (client, role) => ids.set(role.name, client.connId) });
    browser = await launchChromium();
  });

  afterAll(async () => {
    traffic?.stop();
    await browser?.close();
    await gw?.stop();
  });

  it('answers a browser without a session with the sign-in form, even with the key in the URL', async () => {
    const page = await browser.context.newPage();
    const response = await page.goto(`${gw.httpUrl}/dashboard?key=${KEY}`);
    expect(response?.status()).toBe(401);
    expect(await page.locator('canvas').count()).toBe(0);
    await page.fill('#key', `${KEY}x`);
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('#error').textContent()).toBe('Wrong key.');
    await page.close();
  });

  it('shows live numbers that change, and the slow consumer the traffic creates', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${gw.httpUrl}/dashboard`);
    // Signing in once trades the key for a session cookie the page's feed then sends.
    await page.fill('#key', KEY);
    await page.click('button[type=submit]');

    await page.waitForSelector('#status.live', { timeout: 10_000 });
    const updated = page.locator('#meta');
    await expect.poll(() => updated.textContent(), { timeout: 10_000 }).toContain('updated');
    const first = await updated.textContent();
    // A new snapshot arrives about once a second: the 'updated' time and the rates move on.
    await page.waitForFunction((before) => document.getElementById('meta')!.textContent !== before, first, { timeout: 10_000 });
    expect(Number(await page.locator('#stat-connections').textContent())).toBeGreaterThan(40);
    expect(await page.locator('#meta').textContent()).toContain(`transport ${transport}`);

    // The trader on a 150 KB/s link falls behind the market feed within seconds of its pipe filling.
    const traderSlow = ids.get('trader-slow');
    expect(traderSlow).toBeDefined();
    await page.waitForFunction((id) => Array.from(document.querySelectorAll<HTMLElement>('#slow-consumers tbody tr')).some((tr) => tr.dataset.id === id), traderSlow, {
      timeout: 60_000,
      polling: 500,
    });
    const row = page.locator(`#slow-consumers tbody tr[data-id="${traderSlow}"]`);
    await expect.poll(async () => Number((await row.locator('td').nth(8).textContent()) ?? '0'), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#channels tbody tr').count()).toBeGreaterThan(3);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL(`dashboard-${transport}.png`, ARTIFACTS).pathname, fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
    await gw.gateway.dashboard!.feed.whenNoViewers();
    expect(gw.gateway.dashboard!.feed.running).toBe(false);
  });
});
