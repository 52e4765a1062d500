import type { IncomingMessage } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { createClient } from '../../src/client/client.js';
import { refreshDelay, tokenExpiry } from '../../src/client/token.js';
import type { WebSocketConstructor, WebSocketLike } from '../../src/client/transport.js';
import { TestKeys, unsignedToken } from '../helpers/tokens.js';
import { harness } from './support.js';

describe('client tokens', () => {
  it('reads a JWT expiry without verifying it, and plans the refresh ahead of it', () => {
    expect(tokenExpiry(unsignedToken({ exp: 1_700_000_000 }))).toBe(1_700_000_000_000);
    expect(tokenExpiry('opaque-token')).toBeUndefined();
    expect(tokenExpiry('a.!!!.c')).toBeUndefined();
    expect(refreshDelay(100_000, 0, 30_000)).toBe(70_000);
    expect(refreshDelay(10_000, 0, 30_000)).toBe(5_000); // never more than half the lifetime ahead
    expect(refreshDelay(0, 5_000, 30_000)).toBe(0);
  });
});

describe('where the client puts its token by default', () => {
  it('sends it in an Authorization header from Node (the ws package), never in the URL', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const seen = new Promise<IncomingMessage>((resolve) => server.once('connection', (_socket, req) => resolve(req)));
    const client = createClient(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`, { token: 'secret.jwt', reconnect: { enabled: false } });
    try {
      const req = await seen;
      expect(req.headers.authorization).toBe('Bearer secret.jwt');
      expect(req.url).toBe('/');
      // Batch frames are offered (docs/protocol.md, "Batch frames"); the token is not in the subprotocols.
      expect(req.headers['sec-websocket-protocol']).toBe('sluice,sluice.batch');
    } finally {
      client.close();
      server.close();
    }
  });

  it("sends it in the bearer subprotocol from a browser's WebSocket, never in the URL", async () => {
    const opened: Array<{ url: string; protocols: unknown }> = [];
    class BrowserWebSocket implements WebSocketLike {
      readyState = 0;
      bufferedAmount = 0;
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      constructor(url: string, protocols?: string | string[]) {
        opened.push({ url, protocols });
      }
      send(): void {}
      close(): void {}
    }
    for (const batch of [undefined, false]) {
      const client = createClient('ws://127.0.0.1:9/', { token: 'secret.jwt', WebSocket: BrowserWebSocket as WebSocketConstructor, reconnect: { enabled: false }, connectTimeoutMs: 60_000, batch });
      await vi.waitFor(() => expect(opened).toHaveLength(batch === undefined ? 1 : 2));
      client.close();
    }
    expect(opened[0]).toEqual({ url: 'ws://127.0.0.1:9/', protocols: ['sluice', 'sluice.batch', 'bearer.secret.jwt'] });
    expect(opened[1]).toEqual({ url: 'ws://127.0.0.1:9/', protocols: ['sluice', 'bearer.secret.jwt'] });
  });
});

describe('client against an authenticating gateway', () => {
  const h = harness();
  const now = () => Math.floor(Date.now() / 1000);

  it('refreshes a short-lived token in band, so the connection outlives it', async () => {
    const keys = await TestKeys.generate();
    const gw = await h.gateway({ auth: { keys: keys.config, clockToleranceSec: 0 }, heartbeat: { intervalMs: 100, idleTimeoutMs: 10_000 } });
    const issued: number[] = [];
    const client = h.client(gw.url, {
      getToken: async () => {
        const exp = now() + 2;
        issued.push(exp);
        return keys.sign({ sub: 'alice', exp });
      },
      refreshBeforeExpiryMs: 1_000,
    });
    await client.subscribe('room.a').ready;
    const firstExpiry = issued[0]! * 1000;
    // The server checks expiry every 100 ms: well past the first token's exp, the connection must still be the first one.
    await vi.waitFor(() => expect(Date.now() > firstExpiry + 500 && client.counters.tokenRefreshes >= 2).toBe(true), { timeout: 10_000, interval: 20 });
    expect(client.counters).toMatchObject({ connects: 1, disconnects: 0 });
    await client.subscribe('room.b').ready;
    expect(gw.gateway.stats.closesByCode.get(4001)).toBeUndefined();
  });

  it('can carry the token in the bearer subprotocol instead of the query string', async () => {
    const keys = await TestKeys.generate();
    const gw = await h.gateway({ auth: { keys: keys.config } });
    const client = h.client(gw.url, { token: await keys.sign({ sub: 'bob' }), tokenVia: 'protocol' });
    await client.subscribe('room.c').ready;
    expect(client.state).toBe('connected');
  });
});
