import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient, type SluiceClient } from '../../src/client/client.js';
import { launchChromium, type Chromium } from '../../devkit/chromium.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** The page: loads the browser bundle, subscribes, and publishes one message back. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>sluice client</title>
<script type="module">
  import { createClient } from '/sluice-client.js';
  const gateway = new URLSearchParams(location.search).get('gateway');
  const client = createClient(gateway);
  window.received = [];
  window.states = [];
  client.on('connected', () => window.states.push('connected'));
  const sub = client.subscribe('chat.browser', { onMessage: (m) => window.received.push({ seq: m.seq, data: m.data }) });
  sub.ready.then(async () => {
    window.ready = true;
    window.ack = await client.publish('chat.from-browser', { hello: 'from chromium' });
  }, (e) => { window.failure = String(e); });
</script>`;

/**
 * A page whose client asks for a receive window: in the browser frames arrive as strings and there
 * is no Buffer, so the count is the TextEncoder path's.
 */
const WINDOW_PAGE = `<!doctype html><meta charset="utf-8"><title>sluice client, receive window</title>
<script type="module">
  import { createClient } from '/sluice-client.js';
  const gateway = new URLSearchParams(location.search).get('gateway');
  const client = createClient(gateway, { receiveWindowBytes: 16384 });
  window.client = client;
  window.received = [];
  window.errors = [];
  client.on('error', ({ error }) => window.errors.push(String(error)));
  client.subscribe('feed.browser', { onMessage: (m) => window.received.push({ seq: m.seq, i: m.data.i }), onGap: (g) => window.errors.push('gap ' + JSON.stringify(g)) })
    .ready.then(() => { window.ready = true; }, (e) => { window.failure = String(e); });
</script>`;

describe('client in a real browser (headless Chromium)', () => {
  let gw: TestGateway;
  let http: Server;
  let browser: Chromium;
  let node: SluiceClient;

  beforeAll(async () => {
    // Build the bundle the way `npm run build:client` does; `ws` must stay out of it.
    const bundle = await build({
      entryPoints: ['src/client/index.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      external: ['ws'],
      write: false,
      logLevel: 'silent',
    });
    const code = bundle.outputFiles[0]!.text;
    expect(code).not.toMatch(/from\s*["'](node:|ws["'])/);
    gw = await startGateway();
    http = createServer((req, res) => {
      if (req.url?.startsWith('/sluice-client.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
      else if (req.url?.startsWith('/window')) res.writeHead(200, { 'content-type': 'text/html' }).end(WINDOW_PAGE);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
    node = createClient(gw.url);
  });

  afterAll(async () => {
    node?.close();
    await browser?.close();
    await new Promise((resolve) => http?.close(resolve));
    await gw?.stop();
  });

  it('loads the bundle, subscribes, receives every message in order and publishes', async () => {
    const fromBrowser: unknown[] = [];
    await node.subscribe('chat.from-browser', { onMessage: (m) => fromBrowser.push(m.data) }).ready;
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const { port } = http.address() as { port: number };
    await page.goto(`http://127.0.0.1:${port}/?gateway=${encodeURIComponent(gw.url)}`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true || (window as unknown as { failure?: string }).failure !== undefined, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { failure?: string }).failure)).toBeUndefined();

    for (let i = 0; i < 20; i++) await node.publish('chat.browser', { i });
    await page.waitForFunction(() => (window as unknown as { received: unknown[] }).received.length >= 20, undefined, { timeout: 15_000 });
    const received = await page.evaluate(() => (window as unknown as { received: Array<{ seq: number; data: { i: number } }> }).received);
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => ({ seq: i + 1, data: { i } })));
    expect(await page.evaluate(() => (window as unknown as { states: string[] }).states)).toEqual(['connected']);

    await page.waitForFunction(() => (window as unknown as { ack?: unknown }).ack !== undefined, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { ack: unknown }).ack)).toEqual({ channel: 'chat.from-browser', seq: 1 });
    await vi.waitFor(() => expect(fromBrowser).toEqual([{ hello: 'from chromium' }]), { timeout: 15_000 });
    expect(errors).toEqual([]);
  });

  it('with a receive window: counts what it receives as the server counts it (non-ASCII, far more than the window)', async () => {
    const N = 600;
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const { port } = http.address() as { port: number };
    await page.goto(`http://127.0.0.1:${port}/window?gateway=${encodeURIComponent(gw.url)}`);
    type Page = { ready?: boolean; failure?: string; received: unknown[]; errors: string[]; client: SluiceClient };
    await page.waitForFunction(() => (window as unknown as Page).ready === true || (window as unknown as Page).failure !== undefined, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as Page).failure)).toBeUndefined();
    const waitsBefore = gw.gateway.stats.windowWaits;
    for (let i = 0; i < N; i++) await gw.gateway.hub.publish('feed.browser', undefined, JSON.stringify({ i, t: `n°${i} 12 € 😀 ${'é'.repeat(i % 400)}` }));
    await page.waitForFunction((n) => (window as unknown as Page).received.length >= n, N, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as Page).received)).toEqual(Array.from({ length: N }, (_, i) => ({ seq: i + 1, i })));
    expect(gw.gateway.stats.windowWaits).toBeGreaterThan(waitsBefore);
    // After a ping's answer the page has what the server wrote since the window's ack, to the byte.
    const mine = await page.evaluate(async () => {
      const { client } = window as unknown as Page;
      await client.query({ op: 'ping' });
      return client.receiveWindow;
    });
    const server = gw.gateway.connectionList().find((c) => c.writer.receiveWindow !== undefined)!.writer.receiveWindow!;
    expect(mine).toEqual({ bytes: 16384, received: server.sent, reported: server.reported });
    expect(await page.evaluate(() => (window as unknown as Page).errors)).toEqual([]);
    expect(errors).toEqual([]);
  });
});
