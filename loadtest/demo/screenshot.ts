/**
 * Regenerates docs/img/dashboard.png: the demo (gateway, dashboard and traffic) in this process, the
 * dashboard open in headless Chromium for --seconds (so its plots have history), then a screenshot
 * taken while two slow consumers and a health warning show (or a minute later).
 *
 *   npx tsx loadtest/demo/screenshot.ts [--seconds 90] [--out docs/img/dashboard.png]
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { launchChromium } from '../../devkit/chromium.js';
import { DEMO_CONFIG } from '../../devkit/demo-traffic/config.js';
import { startTraffic } from '../../devkit/demo-traffic/traffic.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '90' }, out: { type: 'string', default: 'docs/img/dashboard.png' } } });
const key = 'screenshot-admin-key-0000';
const gateway = await Gateway.start({ config: loadConfig({ overrides: { ...DEMO_CONFIG, port: 0, dashboard: { enabled: true, adminKey: key } } }) });
const traffic = startTraffic(`ws://127.0.0.1:${gateway.port}/`);
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${gateway.port}/dashboard`);
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('#status.live');
  await new Promise((resolve) => setTimeout(resolve, Number(values.seconds) * 1000));
  // Catch a moment with a full queue and a conflating one side by side (the archiver's queue empties
  // whenever a flush finds it all expired, and slow clients come and go); give up after a minute.
  await page
    .waitForFunction(() => document.querySelectorAll('#slow-consumers tbody tr[data-id]').length >= 2 && document.querySelector('#warnings div:not(.none)') !== null, undefined, {
      timeout: 60_000,
      polling: 'raf',
    })
    .catch(() => undefined);
  mkdirSync(dirname(values.out), { recursive: true });
  await page.screenshot({ path: values.out, fullPage: true });
  console.log(`wrote ${values.out}`);
} finally {
  traffic.stop();
  await browser.close();
  await gateway.shutdown();
}
