import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, type ClientOptions, type SluiceClient } from '../../src/client/client.js';
import type { SluiceError } from '../../src/client/errors.js';
import type { Gap, SubscribeOptions, SubscriptionEvent } from '../../src/client/subscription.js';
import { unsignedToken } from '../helpers/tokens.js';
import { scriptedWebSocket, type ScriptedSocket } from './support.js';

/**
 * The client against a server played frame by frame: what it makes of each frame that moves a
 * subscription (notices, acks, closes) and of errors that answer no request.
 */
describe('client, frame by frame', () => {
  const clients: SluiceClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  const HELLO = { ev: 'hello', v: 1, conn: 'c1', limits: { maxPayloadBytes: 65536, maxSubscriptions: 100, messagesPerSecond: 0, bytesPerSecond: 0, inboundMode: 'reject' } };

  async function connect(options: ClientOptions = {}): Promise<{ client: SluiceClient; socket: ScriptedSocket; next: () => Promise<ScriptedSocket> }> {
    const ws = scriptedWebSocket();
    const client = createClient('ws://sluice.test/', { WebSocket: ws.Impl, heartbeat: { intervalMs: 0 }, reconnect: { initialDelayMs: 1, random: () => 0 }, ...options });
    clients.push(client);
    const socket = await ws.next();
    socket.receive(HELLO);
    return { client, socket, next: ws.next };
  }

  /** Subscribes and answers the `sub` with `ack` fields; returns what the subscription reports. */
  function subscribed(socket: ScriptedSocket, client: SluiceClient, ch: string, ack: { epoch: string; seq: number }, options: SubscribeOptions = {}) {
    const seqs: number[] = [];
    const gaps: Gap[] = [];
    const sub = client.subscribe(ch, { onMessage: (m) => seqs.push(m.seq), onGap: (g) => gaps.push(g), ...options });
    const request = socket.requests('sub').find((f) => f.ch === ch)!;
    socket.receive({ ev: 'ack', id: request.id, ch, ...ack });
    return { sub, seqs, gaps };
  }

  const msg = (ch: string, seq: number) => ({ ev: 'msg', ch, seq, data: seq });

  describe('a reset notice (the broker lost the channel stream)', () => {
    it('moves the subscription to the new epoch, reports the loss exactly, and delivers every new message', async () => {
      const { client, socket } = await connect();
      const { sub, seqs, gaps } = subscribed(socket, client, 'chat.r', { epoch: 'E1', seq: 0 });
      socket.receive(...[1, 2, 3, 4, 5].map((s) => msg('chat.r', s)));
      socket.receive({ ev: 'gap', ch: 'chat.r', from: 6, reason: 'reset', epoch: 'E2', seq: 0 });
      socket.receive(...[1, 2, 3].map((s) => msg('chat.r', s)));
      expect(seqs).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
      expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 1, to: 0, n: 0, reason: 'reset', epoch: 'E2', previous: { epoch: 'E1', seq: 5 } }]);
      expect(sub.epoch).toBe('E2');
      expect(sub.lastSeq).toBe(3);
      expect(sub.counters.duplicates).toBe(0);
      // Missing-seq detection still works in the new epoch.
      socket.receive(msg('chat.r', 5));
      expect(gaps.at(-1)).toEqual({ type: 'gap', channel: 'chat.r', from: 4, to: 4, n: 1, reason: 'missing', epoch: 'E2' });
    });

    it('reports the new epoch messages it will not get (published before the node caught up), and resumes after them', async () => {
      const { client, socket, next } = await connect();
      const { sub, seqs, gaps } = subscribed(socket, client, 'chat.r', { epoch: 'E1', seq: 10 });
      socket.receive(msg('chat.r', 11), msg('chat.r', 12));
      socket.receive({ ev: 'gap', ch: 'chat.r', from: 13, reason: 'reset', epoch: 'E2', seq: 191 });
      socket.receive(msg('chat.r', 192), msg('chat.r', 193));
      expect(seqs).toEqual([11, 12, 192, 193]);
      expect(gaps).toEqual([{ type: 'gap', channel: 'chat.r', from: 1, to: 191, n: 191, reason: 'reset', epoch: 'E2', previous: { epoch: 'E1', seq: 12 } }]);
      // A 4100 later: the resume starts from the new position.
      socket.closeWith(4100, 'slow consumer');
      const again = await next();
      again.receive(HELLO);
      expect(again.requests('sub')).toEqual([{ op: 'sub', ch: 'chat.r', since: { epoch: 'E2', seq: 193 }, id: expect.any(Number) }]);
      again.receive({ ev: 'ack', id: again.requests('sub')[0]!.id, ch: 'chat.r', epoch: 'E2', seq: 195, recovered: true }, msg('chat.r', 194), msg('chat.r', 195));
      expect(seqs).toEqual([11, 12, 192, 193, 194, 195]);
      expect(gaps).toHaveLength(1);
      expect(sub.counters).toMatchObject({ resumes: 1, duplicates: 0 });
    });

    it('gives the async iterator the same events, in order', async () => {
      const { client, socket } = await connect();
      const { sub } = subscribed(socket, client, 'chat.r', { epoch: 'E1', seq: 0 });
      const iterator = sub[Symbol.asyncIterator]();
      socket.receive(msg('chat.r', 1), { ev: 'gap', ch: 'chat.r', from: 2, reason: 'reset', epoch: 'E2', seq: 4 }, msg('chat.r', 5));
      const events: SubscriptionEvent[] = [];
      for (let i = 0; i < 3; i++) events.push((await iterator.next()).value as SubscriptionEvent);
      expect(events).toEqual([
        { type: 'message', channel: 'chat.r', seq: 1, data: 1 },
        { type: 'gap', channel: 'chat.r', from: 1, to: 4, n: 4, reason: 'reset', epoch: 'E2', previous: { epoch: 'E1', seq: 1 } },
        { type: 'message', channel: 'chat.r', seq: 5, data: 5 },
      ]);
    });
  });

  describe('an unsolicited err naming a channel (a subscription revoked by a token refresh)', () => {
    it('ends that subscription with the error and answers no pending request', async () => {
      const now = Math.floor(Date.now() / 1000);
      // The first token has expired already, so the client refreshes it at once.
      const tokens = [unsignedToken({ sub: 'carol', exp: now - 10 }), unsignedToken({ sub: 'carol', exp: now + 3600 })];
      const { client, socket } = await connect({ getToken: () => tokens.shift()! });
      const errors: SluiceError[] = [];
      const clientErrors: unknown[] = [];
      client.on('error', ({ error }) => clientErrors.push(error));
      const revoked = subscribed(socket, client, 'chat.a', { epoch: 'E', seq: 0 }, { onError: (e) => errors.push(e) });
      const kept = subscribed(socket, client, 'chat.b', { epoch: 'E', seq: 0 });
      const published = client.publish('chat.b', 'hello'); // in flight when the refresh goes out
      expect(socket.requests('pub')).toHaveLength(1);
      await vi.waitFor(() => expect(socket.requests('auth')).toHaveLength(1));
      const [pub] = socket.requests('pub');
      const [auth] = socket.requests('auth');
      socket.receive(
        { ev: 'err', code: 'forbidden', ch: 'chat.a', msg: 'subscription revoked: the refreshed token does not cover this channel' },
        { ev: 'ack', id: auth!.id, exp: now + 3600 },
        { ev: 'ack', id: pub!.id, ch: 'chat.b', seq: 1 },
      );
      expect(await published).toEqual({ channel: 'chat.b', seq: 1 });
      expect(errors.map((e) => [e.code, e.message])).toEqual([['forbidden', 'subscription revoked: the refreshed token does not cover this channel']]);
      expect(revoked.sub.state).toBe('ended');
      expect(kept.sub.state).toBe('active');
      expect(client.counters.tokenRefreshes).toBe(1);
      expect(clientErrors).toEqual([]);
      // Nothing of the revoked channel is delivered any more, and it is not resubscribed.
      socket.receive(msg('chat.a', 1), msg('chat.b', 1));
      expect(revoked.seqs).toEqual([]);
      expect(kept.seqs).toEqual([1]);
    });

    it('rejects `ready` of a subscription revoked before its ack, which is then ignored', async () => {
      const { client, socket } = await connect();
      const errors: SluiceError[] = [];
      const sub = client.subscribe('chat.a', { onError: (e) => errors.push(e) });
      const [request] = socket.requests('sub');
      socket.receive({ ev: 'err', code: 'forbidden', ch: 'chat.a', msg: 'subscription revoked' });
      await expect(sub.ready).rejects.toMatchObject({ code: 'forbidden' });
      socket.receive({ ev: 'ack', id: request!.id, ch: 'chat.a', epoch: 'E', seq: 0 }, msg('chat.a', 1));
      expect(sub.state).toBe('ended');
      expect(errors).toHaveLength(1);
    });

    it('reports an err that names neither a request nor a subscription as a client error, leaving pending requests alone', async () => {
      const { client, socket } = await connect();
      const clientErrors: unknown[] = [];
      client.on('error', ({ error }) => clientErrors.push(error));
      const published = client.publish('chat.b', 1);
      const [pub] = socket.requests('pub');
      socket.receive({ ev: 'err', code: 'not_subscribed', msg: 'not subscribed' });
      socket.receive({ ev: 'ack', id: pub!.id, ch: 'chat.b', seq: 7 });
      expect(await published).toEqual({ channel: 'chat.b', seq: 7 });
      expect(clientErrors).toEqual([expect.objectContaining({ code: 'not_subscribed' })]);
    });
  });
});
