import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createClient, type SluiceClient } from '../../src/client/client.js';
import { ConnectionClosedError, SluiceError } from '../../src/client/errors.js';
import { CLOSE } from '../../src/protocol/close-codes.js';
import { nextEvent } from './support.js';

type Step = number | 'terminate' | 'stay';

/**
 * A tiny server speaking just enough of the protocol: `hello`, then, per connection in turn, a
 * close with the scripted code, a drop without a close frame, or nothing. Records each request's
 * URL and Authorization header.
 */
async function scriptedServer(script: Step[]): Promise<{ url: string; urls: string[]; authorizations: Array<string | undefined>; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const urls: string[] = [];
  const authorizations: Array<string | undefined> = [];
  wss.on('connection', (ws, req) => {
    urls.push(req.url ?? '');
    authorizations.push(req.headers.authorization);
    ws.send(JSON.stringify({ ev: 'hello', v: 1, conn: `c${urls.length}`, limits: { maxPayloadBytes: 65536, maxSubscriptions: 100, messagesPerSecond: 0, bytesPerSecond: 0, inboundMode: 'reject' } }));
    const step = script[urls.length - 1] ?? 'stay';
    if (step === 'terminate') ws.terminate();
    else if (typeof step === 'number') ws.close(step, 'scripted');
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    urls,
    authorizations,
    close: () => {
      for (const c of wss.clients) c.terminate();
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
}

describe('client reconnect bands', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const setup = async (script: Step[], options: Parameters<typeof createClient>[1]) => {
    const server = await scriptedServer(script);
    const client = createClient(server.url, options);
    cleanups.push(server.close, () => client.close());
    const delays: number[] = [];
    const codes: number[] = [];
    client.on('reconnecting', ({ delayMs }) => delays.push(delayMs));
    client.on('disconnected', ({ code }) => codes.push(code));
    return { server, client, delays, codes };
  };
  const connects = (client: SluiceClient, n: number) =>
    new Promise<void>((resolve, reject) => {
      let seen = 0;
      const timer = setTimeout(() => reject(new Error(`only ${seen}/${n} connects`)), 15_000);
      client.on('connected', () => {
        if (++seen === n) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

  it.each([CLOSE.bad_protocol.code, CLOSE.unauthorized.code, CLOSE.forbidden.code])('does not reconnect after terminal code %i', async (code) => {
    const { server, client, delays } = await setup([code], {});
    const pending = client.publish('chat.a', 1, {}); // buffered while connecting; in flight or waiting at the close
    const closed = await nextEvent(client, 'closed');
    expect(closed.error).toBeInstanceOf(ConnectionClosedError);
    expect((closed.error as ConnectionClosedError).closeCode).toBe(code);
    expect((closed.error as ConnectionClosedError).band).toBe('terminal');
    await expect(pending).rejects.toBeInstanceOf(SluiceError);
    expect(client.state).toBe('closed');
    expect(delays).toEqual([]);
    expect(server.urls).toHaveLength(1);
    await expect(client.publish('chat.a', 2)).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('backs off after 41xx and 1006 with growing, jittered delays, fetching a fresh token each time', async () => {
    const draws = [0.5, 0.25, 0.75, 0.5, 0.5];
    let n = 0;
    const { server, client, delays, codes } = await setup([4100, 4101, 4102, 4103, 'terminate', 'stay'], {
      getToken: () => `t${++n}`,
      reconnect: { initialDelayMs: 40, maxDelayMs: 10_000, random: () => draws.shift() ?? 0.5 },
    });
    await connects(client, 6);
    expect(codes).toEqual([4100, 4101, 4102, 4103, 1006]);
    // ceilings 40, 80, 160, 320, 640 (doubling), each scaled by the injected random draw
    expect(delays).toEqual([20, 20, 120, 160, 320]);
    expect(server.authorizations).toEqual(['t1', 't2', 't3', 't4', 't5', 't6'].map((t) => `Bearer ${t}`));
    expect(client.state).toBe('connected');
  });

  it('reconnects at once after 42xx', async () => {
    // A backoff delay here would be about 10 s and time the test out.
    const { client, delays, codes } = await setup([4200, 4200, 4299, 'stay'], { reconnect: { initialDelayMs: 10_000, random: () => 0.999 } });
    await connects(client, 4);
    expect(codes).toEqual([4200, 4200, 4299]);
    expect(delays).toEqual([0, 0, 0]);
  });

  it('reconnects after 4001 (token expired) only when it can fetch a fresh token', async () => {
    const withGetToken = await setup([CLOSE.unauthorized.code, 'stay'], { getToken: () => 'fresh', reconnect: { initialDelayMs: 10 } });
    await connects(withGetToken.client, 2);
    expect(withGetToken.codes).toEqual([4001]);
    const fixed = await setup([CLOSE.unauthorized.code], { token: 'fixed' });
    const closed = await nextEvent(fixed.client, 'closed');
    expect((closed.error as ConnectionClosedError).closeCode).toBe(4001);
    expect(fixed.delays).toEqual([]);
  });

  it('reconnects when a silent server does not answer its ping', async () => {
    // The scripted server sends hello and then never answers a request.
    const { client, codes, server } = await setup(['stay', 'stay'], { heartbeat: { intervalMs: 50, timeoutMs: 50 }, reconnect: { initialDelayMs: 10 } });
    const [lost] = await Promise.all([nextEvent(client, 'disconnected'), connects(client, 2)]);
    expect(lost).toMatchObject({ code: 1006, reason: 'no reply to ping', willReconnect: true });
    expect(codes[0]).toBe(1006);
    expect(server.urls).toHaveLength(2);
  });

  it('survives unreadable frames and a hello without limits', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
    wss.on('connection', (ws) => {
      for (const text of ['not json', 'null', '42', '{"ev":"msg","ch":"nobody.here","seq":1,"data":1}', '{"ev":"hello","v":1,"conn":"x"}']) ws.send(text);
    });
    const client = createClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`);
    cleanups.push(() => client.close());
    const errors: unknown[] = [];
    client.on('error', ({ error }) => errors.push(error));
    await client.connected();
    expect(errors).toHaveLength(2); // 'not json' and 'null'; a number or an unknown channel is ignored
    expect(client.limits?.messagesPerSecond).toBe(0);
  });

  it('treats a failed attempt (nothing listening) like the backoff band', async () => {
    const server = await scriptedServer([]);
    await server.close();
    const client = createClient(server.url, { reconnect: { initialDelayMs: 20, random: () => 0.5 } });
    cleanups.push(() => client.close());
    const [first, next] = await Promise.all([nextEvent(client, 'disconnected'), nextEvent(client, 'reconnecting')]);
    expect(first).toMatchObject({ code: 1006, willReconnect: true });
    expect(next.delayMs).toBe(10);
  });
});
