import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TRANSPORTS } from '../helpers/transports.js';

const KEY = 'test-admin-key-0123456789';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET that resolves with the whole body, or (for an event stream) with the first event. */
function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (String(res.headers['content-type']).startsWith('text/event-stream') && body.includes('\ndata: ')) {
          resolve({ status: res.statusCode!, headers: res.headers, body });
          req.destroy();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(TRANSPORTS)('dashboard access [%s]', (transport) => {
  let gw: TestGateway;
  afterEach(async () => {
    await gw?.stop();
  });

  it('is not served unless enabled', async () => {
    gw = await startGateway({}, transport);
    expect((await get(`${gw.httpUrl}/dashboard?key=${KEY}`)).status).toBe(404);
    expect((await get(`${gw.httpUrl}/dashboard/events?key=${KEY}`)).status).toBe(404);
  });

  it('refuses the page and the feed without the right key, and the key in a URL always', async () => {
    gw = await startGateway({ dashboard: { enabled: true, adminKey: KEY } }, transport);
    for (const path of ['/dashboard', '/dashboard/events', '/dashboard/session']) {
      const none = await get(gw.httpUrl + path);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toContain('Bearer');
      expect(none.body).not.toContain('/dashboard/events');
      expect((await get(`${gw.httpUrl}${path}?key=${KEY}`)).status, 'the right key in the query string').toBe(401);
      expect((await get(gw.httpUrl + path, { Authorization: `Bearer ${KEY.slice(0, -1)}` })).status).toBe(401);
      expect((await get(gw.httpUrl + path, { Authorization: `Basic ${KEY}` })).status).toBe(401);
    }
    // A browser without a session gets the sign-in form, which holds no data.
    const form = await get(`${gw.httpUrl}/dashboard?key=${KEY}`);
    expect(form.body).toContain('id="login"');
    expect(form.headers['cache-control']).toBe('no-store');
    expect(gw.gateway.dashboard?.feed.viewerCount).toBe(0);
  });

  it('serves the page and the feed with a bearer header, or a session cookie the key opened', async () => {
    gw = await startGateway({ dashboard: { enabled: true, adminKey: KEY } }, transport);
    const byHeader = await get(`${gw.httpUrl}/dashboard`, { Authorization: `Bearer ${KEY}` });
    expect(byHeader.status).toBe(200);
    expect(byHeader.headers['content-type']).toContain('text/html');
    expect(byHeader.headers['referrer-policy']).toBe('no-referrer');
    expect(byHeader.body).toContain('/dashboard/events');
    const opened = await get(`${gw.httpUrl}/dashboard/session`, { Authorization: `Bearer ${KEY}` });
    expect(opened.status).toBe(204);
    const setCookie = String(opened.headers['set-cookie']);
    expect(setCookie).toMatch(/^sluice_dashboard=\d+\.[\w-]{43}; Max-Age=43200; Path=\/dashboard; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(';')[0]!;
    expect((await get(`${gw.httpUrl}/dashboard`, { Cookie: `other=1; ${cookie}` })).body).toContain('/dashboard/events');
    const feed = await get(`${gw.httpUrl}/dashboard/events`, { Cookie: cookie });
    expect(feed.status).toBe(200);
    expect(feed.body).toContain('\ndata: ');
    const forged = cookie.replace(/=(\d+)\./, (_, t: string) => `=${Number(t) + 1}.`);
    expect((await get(`${gw.httpUrl}/dashboard/events`, { Cookie: forged })).status).toBe(401);
  });

  it('streams snapshots built from the same counters as /metrics', async () => {
    gw = await startGateway({ dashboard: { enabled: true, adminKey: KEY } }, transport);
    const reply = await get(`${gw.httpUrl}/dashboard/events`, { Authorization: `Bearer ${KEY}` });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toContain('text/event-stream');
    const snapshot = JSON.parse(reply.body.split('\ndata: ')[1]!.split('\n')[0]!) as { transport: string; totals: Record<string, number>; queues: { histogram: number[] } };
    expect(snapshot.transport).toBe(transport);
    expect(snapshot.queues.histogram).toHaveLength(11);
    expect(snapshot.totals).toHaveProperty('slowConsumerDisconnects');
  });

  it('refuses viewers beyond maxViewers and stops its timer when the last one leaves', async () => {
    gw = await startGateway({ dashboard: { enabled: true, adminKey: KEY, maxViewers: 1 } }, transport);
    const first = request(`${gw.httpUrl}/dashboard/events`, { headers: { Authorization: `Bearer ${KEY}` } });
    const opened = new Promise<void>((resolve) => first.on('response', () => resolve()));
    first.on('error', () => {});
    first.end();
    await opened;
    expect(gw.gateway.dashboard?.feed.viewerCount).toBe(1);
    expect((await get(`${gw.httpUrl}/dashboard/events`, { Authorization: `Bearer ${KEY}` })).status).toBe(503);
    expect(gw.gateway.dashboard?.feed.running).toBe(true);
    first.destroy();
    await gw.gateway.dashboard!.feed.whenNoViewers();
    expect(gw.gateway.dashboard?.feed.running).toBe(false);
  });
});

describe('dashboard config', () => {
  it('refuses to enable the dashboard without an admin key', () => {
    expect(() => loadConfig({ overrides: { dashboard: { enabled: true } } })).toThrow(/dashboard\.adminKey/);
    expect(() => loadConfig({ overrides: { dashboard: { enabled: true, adminKey: 'short' } } })).toThrow(/at least 16/);
    expect(loadConfig({ overrides: { dashboard: { enabled: true, adminKey: KEY } } }).dashboard.enabled).toBe(true);
  });
});
