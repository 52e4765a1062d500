import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookBackend, signedBy } from '../../devkit/hook-backend.js';
import { until } from '../../devkit/until.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('hooks against a real backend (%s)', (transport) => {
  const harness = gatewayHarness(transport);
  let backend: HookBackend;
  beforeEach(async () => {
    backend = await HookBackend.start();
  });
  afterEach(async () => {
    await backend.close();
  });

  const hook = (path: string, extra: Record<string, unknown> = {}) => ({ url: backend.url(path), ...extra });

  describe('connect', () => {
    it('accepts with the identity, grants and info the backend gives; the backend sees the token and headers', async () => {
      backend.behaviour.answer = (call) => (call.body.token === 'letmein' ? { allow: true, sub: 'alice', grants: { sub: ['room.*'], pub: ['room.*'] }, info: { name: 'Alice' } } : { allow: false });
      await harness.start({ hooks: { connect: hook('/connect') }, auth: { defaults: { subscribe: 'granted' } } });
      const client = await harness.connect({ headers: { authorization: 'Bearer letmein', cookie: 'session=42' } });
      const hello = await client.next((f) => f.ev === 'hello');
      expect(hello.info).toEqual({ name: 'Alice' });
      const call = backend.on('/connect')[0]!;
      expect(call.body).toMatchObject({ token: 'letmein', headers: { cookie: 'session=42' } });
      expect((await client.request({ op: 'sub', ch: 'room.1' })).ev, 'a granted channel').toBe('ack');
      expect(await client.request({ op: 'sub', ch: 'other' }), 'a channel the grants do not cover').toMatchObject({ ev: 'err', code: 'forbidden' });
    });

    it('refuses the upgrade with the status and reason the backend gives', async () => {
      backend.behaviour.answer = () => ({ allow: false, status: 451, reason: 'banned' });
      await harness.start({ hooks: { connect: hook('/connect') } });
      await expect(harness.connect()).rejects.toThrow('HTTP 451');
    });

    it('a backend that does not answer in time refuses with 503, or lets the client in when the hook fails open', async () => {
      backend.behaviour.delayMs = () => 2_000;
      await harness.start({ hooks: { connect: hook('/connect', { timeoutMs: 50 }) } });
      await expect(harness.connect()).rejects.toThrow('HTTP 503');
      await harness.start({ hooks: { connect: hook('/connect', { timeoutMs: 50, failOpen: true }) } });
      const client = await harness.connect();
      expect((await client.next((f) => f.ev === 'hello')).info).toBeUndefined();
    });
  });

  it('signs every hook call with hooks.secret, as webhooks are signed, so the backend can tell the gateway from anyone else', async () => {
    const secret = 'a-hook-secret-of-at-least-32-bytes!!';
    const grants = { sub: ['*'], pub: ['*'] };
    backend.behaviour.answer = (call) => (signedBy(call, secret) ? { allow: true, grants } : { allow: false, status: 401, reason: 'unsigned' });
    await harness.start({ hooks: { secret, connect: hook('/connect'), subscribe: hook('/subscribe'), publish: hook('/publish') } });
    const client = await harness.connect();
    expect((await client.request({ op: 'sub', ch: 'c' })).ev).toBe('ack');
    expect((await client.request({ op: 'pub', ch: 'c', data: 1 })).ev).toBe('ack');
    expect(backend.calls.map((c) => c.path)).toEqual(['/connect', '/subscribe', '/publish']);
    expect(backend.calls.every((c) => signedBy(c, secret))).toBe(true);
    expect(signedBy(backend.calls[0]!, `${secret}?`), 'another secret does not verify').toBe(false);
  });

  describe('subscribe', () => {
    it('allows with info in the ack, refuses with the reason as forbidden; the backend sees who and where', async () => {
      backend.behaviour.answer = (call) => (call.body.ch === 'open' ? { allow: true, info: { members: 3 } } : { allow: false, reason: 'members only' });
      await harness.start({ hooks: { subscribe: hook('/subscribe') } });
      const client = await harness.connect();
      expect(await client.request({ op: 'sub', ch: 'open' })).toMatchObject({ ev: 'ack', ch: 'open', info: { members: 3 } });
      expect(await client.request({ op: 'sub', ch: 'closed' })).toMatchObject({ ev: 'err', code: 'forbidden', msg: 'members only' });
      const call = backend.on('/subscribe')[0]!;
      expect(call.body).toMatchObject({ ch: 'open', ip: '127.0.0.1' });
      expect(typeof call.body.conn).toBe('string');
      expect((await client.request({ op: 'sub', ch: 'closed' })).code, 'a refusal is no subscription').toBe('forbidden');
    });

    it('an unsub and a new sub sent while the hook is deciding act after the first sub, in order', async () => {
      backend.behaviour.delayMs = () => 100;
      await harness.start({ hooks: { subscribe: hook('/subscribe') } });
      const client = await harness.connect();
      client.send({ op: 'sub', ch: 'a', id: 'sub' });
      client.send({ op: 'unsub', ch: 'a', id: 'unsub' });
      client.send({ op: 'sub', ch: 'a', id: 'again' });
      await client.next((f) => f.id === 'again');
      const replies = client.frames.filter((f) => typeof f.id === 'string').map((f) => `${String(f.id)}:${f.ev}`);
      expect(replies).toEqual(['sub:ack', 'unsub:ack', 'again:ack']);
    });

    it('only the channels the rules select go through the hook', async () => {
      backend.behaviour.answer = () => ({ allow: false });
      await harness.start({ hooks: { subscribe: hook('/subscribe'), defaults: { subscribe: false }, channels: [{ pattern: 'private.*', subscribe: true }] } });
      const client = await harness.connect();
      expect((await client.request({ op: 'sub', ch: 'public' })).ev).toBe('ack');
      expect((await client.request({ op: 'sub', ch: 'private.x' })).code).toBe('forbidden');
      expect(backend.on('/subscribe').map((c) => c.body.ch)).toEqual(['private.x']);
    });
  });

  describe('publish', () => {
    it('allows, refuses, or replaces the data before it enters the channel', async () => {
      backend.behaviour.answer = (call) => {
        const data = call.body.data as { text: string };
        if (data.text === 'spam') return { allow: false, reason: 'moderated' };
        if (data.text === 'darn') return { allow: true, data: { text: '****', moderated: true } };
        return { allow: true };
      };
      await harness.start({ hooks: { publish: hook('/publish') } });
      const sub = await harness.connect();
      await sub.subscribe('chat');
      const pub = await harness.connect();
      expect((await pub.request({ op: 'pub', ch: 'chat', data: { text: 'hello' } })).ev).toBe('ack');
      expect(await pub.request({ op: 'pub', ch: 'chat', data: { text: 'spam' } })).toMatchObject({ ev: 'err', code: 'forbidden', msg: 'moderated' });
      expect((await pub.request({ op: 'pub', ch: 'chat', data: { text: 'darn' } })).ev).toBe('ack');
      const got = await sub.waitForCount((f) => f.ev === 'msg', 2);
      expect(got.map((f) => f.data)).toEqual([{ text: 'hello' }, { text: '****', moderated: true }]);
      expect(backend.on('/publish')[0]!.body).toMatchObject({ ch: 'chat', data: { text: 'hello' } });
    });

    it('hooks.maxPendingPerChannel: publications beyond it on one channel get unavailable at once; those queued go on in order, other channels are untouched', async () => {
      backend.behaviour.delayMs = () => 300;
      await harness.start({ hooks: { publish: hook('/publish', { timeoutMs: 5_000 }), maxPendingPerChannel: 3 } });
      const sub = await harness.connect();
      await sub.subscribe('busy');
      const pub = await harness.connect();
      // String ids: the client's own request() numbers its requests from 1.
      for (let i = 1; i <= 5; i++) pub.send({ op: 'pub', ch: 'busy', data: i, id: `p${i}` });
      // The two beyond the bound are answered before any verdict comes back.
      const refused = await pub.waitForCount((f) => f.ev === 'err', 2);
      expect(refused.map((f) => [f.id, f.code, f.msg])).toEqual([
        ['p4', 'unavailable', 'too many publications on this channel are waiting for the publish hook; retry later'],
        ['p5', 'unavailable', 'too many publications on this channel are waiting for the publish hook; retry later'],
      ]);
      expect(refused.every((f) => f.retryMs === 5_000)).toBe(true);
      expect(pub.frames.filter((f) => f.ev === 'ack'), 'no verdict yet').toEqual([]);
      expect((await pub.request({ op: 'pub', ch: 'other', data: 'x' })).ev, 'another channel has its own queue').toBe('ack');
      const acks = await pub.waitForCount((f) => f.ev === 'ack' && typeof f.id === 'string', 3);
      expect(acks.map((f) => f.id)).toEqual(['p1', 'p2', 'p3']);
      expect((await sub.waitForCount((f) => f.ev === 'msg', 3)).map((f) => f.data)).toEqual([1, 2, 3]);
      // The queue emptied: the channel takes publications again.
      expect((await pub.request({ op: 'pub', ch: 'busy', data: 6 })).ev).toBe('ack');
    });

    it('a backend slower than the timeout: the publisher gets unavailable with retryMs, a bystander is untouched', async () => {
      backend.behaviour.delayMs = () => 2_000;
      await harness.start({ hooks: { publish: hook('/publish', { timeoutMs: 100 }), defaults: { publish: true }, channels: [{ pattern: 'free', publish: false }] } });
      const bystander = await harness.connect();
      await bystander.subscribe('free');
      const pub = await harness.connect();
      const reply = pub.request({ op: 'pub', ch: 'hooked', data: 1 });
      expect((await bystander.request({ op: 'ping' })).ev).toBe('pong');
      expect((await pub.request({ op: 'pub', ch: 'free', data: 2 })).ev, 'an unhooked channel does not wait for the hook').toBe('ack');
      expect(await reply).toMatchObject({ ev: 'err', code: 'unavailable', retryMs: 100 });
      expect((await bystander.next((f) => f.ev === 'msg')).data).toBe(2);
    });

    it('the breaker opens on a failing backend (calls stop reaching it) and closes once a probe succeeds', async () => {
      backend.behaviour.mode = 'failing';
      await harness.start({ hooks: { publish: hook('/publish', { breakerFailures: 2, breakerOpenMs: 200 }) } });
      const client = await harness.connect();
      for (let i = 0; i < 2; i++) expect((await client.request({ op: 'pub', ch: 'c', data: i })).code).toBe('unavailable');
      const open = await client.request({ op: 'pub', ch: 'c', data: 2 });
      expect(open).toMatchObject({ code: 'unavailable' });
      expect(backend.on('/publish').length, 'an open breaker does not call the backend').toBe(2);
      backend.behaviour.mode = 'up';
      let reply = open;
      for (let attempt = 0; attempt < 50 && reply.ev === 'err'; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, reply.retryMs as number));
        reply = await client.request({ op: 'pub', ch: 'c', data: 3 });
      }
      expect(reply.ev).toBe('ack');
    });

    it('fails open when configured: a publication goes out unchanged while the backend is down', async () => {
      backend.behaviour.mode = 'down';
      await harness.start({ hooks: { publish: hook('/publish', { failOpen: true }) } });
      const client = await harness.connect();
      await client.subscribe('c');
      expect((await client.request({ op: 'pub', ch: 'c', data: 'through' })).ev).toBe('ack');
      expect((await client.next((f) => f.ev === 'msg')).data).toBe('through');
    });

    it('keeps each channel in arrival order whatever the hook latencies', async () => {
      let seed = 7;
      const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
      backend.behaviour.delayMs = () => Math.floor(random() * 40);
      await harness.start({ hooks: { publish: hook('/publish', { maxConcurrent: 256, timeoutMs: 30_000 }) } });
      const sub = await harness.connect();
      await sub.subscribe('a');
      await sub.subscribe('b');
      const pubs = [await harness.connect(), await harness.connect()];
      const n = 60;
      for (let i = 0; i < n; i++) for (const [k, p] of pubs.entries()) p.send({ op: 'pub', ch: k === 0 ? 'a' : 'b', data: i, id: i });
      for (const p of pubs) {
        const replies = await p.waitForCount((f) => f.ev === 'ack' || f.ev === 'err', n);
        expect(replies.filter((f) => f.ev !== 'ack'), 'every publication acked').toEqual([]);
      }
      const got = await sub.waitForCount((f) => f.ev === 'msg', 2 * n);
      for (const ch of ['a', 'b']) {
        const mine = got.filter((f) => f.ch === ch);
        expect(mine.map((f) => f.data)).toEqual([...Array(n).keys()]);
        expect(mine.map((f) => f.seq)).toEqual([...Array(n).keys()].map((i) => i + 1));
      }
      expect(backend.on('/publish').length).toBe(2 * n);
    });

    it('rate limits apply before the hook: refused frames never reach the backend', async () => {
      await harness.start({ hooks: { publish: hook('/publish') }, inbound: { messagesPerSecond: 0.001, messagesBurst: 3, rateLimitStrikes: 100 } });
      const client = await harness.connect();
      for (let i = 0; i < 10; i++) client.send({ op: 'pub', ch: 'c', data: i, id: i });
      const replies = await client.waitForCount((f) => f.ev === 'ack' || f.ev === 'err', 10);
      const acked = replies.filter((f) => f.ev === 'ack').length;
      expect(replies.filter((f) => f.code === 'rate_limited').length).toBe(10 - acked);
      expect(backend.on('/publish').length).toBe(acked);
      expect(acked).toBeLessThan(10);
    });
  });

  describe('refresh', () => {
    const fast = { heartbeat: { intervalMs: 100, idleTimeoutMs: 30_000 }, auth: { clockToleranceSec: 0 } };

    it('extends an expiring connection while the backend allows, closes it with 4001 once it refuses', async () => {
      backend.behaviour.answer = (call) => {
        if (call.path === '/connect') return { allow: true, sub: 'bob', expireInSec: 0.05, info: { v: 1 } };
        return backend.on('/refresh').length < 3 ? { allow: true, expireInSec: 0.05, info: { v: 2 } } : { allow: false };
      };
      await harness.start({ ...fast, hooks: { connect: hook('/connect'), refresh: hook('/refresh') } });
      const client = await harness.connect();
      const first = await backend.next((c) => c.path === '/refresh');
      expect(first.body).toMatchObject({ sub: 'bob', info: { v: 1 } });
      await backend.next((c) => c.path === '/refresh' && (c.body.info as { v: number }).v === 2);
      expect(await client.closed()).toBe(4001);
      expect(backend.on('/refresh').length).toBe(3);
    });

    it('connections expiring together beyond maxConcurrent wait for the next sweep, none is closed', async () => {
      backend.behaviour.answer = (call) => (call.path === '/connect' ? { allow: true, expireInSec: 0.05 } : { allow: true, expireInSec: 3600 });
      backend.behaviour.delayMs = (call) => (call.path === '/refresh' ? 30 : 0);
      await harness.start({ ...fast, hooks: { connect: hook('/connect'), refresh: hook('/refresh', { maxConcurrent: 1 }) } });
      const clients = await Promise.all(Array.from({ length: 4 }, () => harness.connect()));
      await until(() => new Set(backend.on('/refresh').map((c) => c.body.conn)).size === 4, 'every connection refreshed');
      for (const client of clients) expect((await client.request({ op: 'ping' })).ev).toBe('pong');
      expect(backend.on('/refresh')).toHaveLength(4);
    });

    it('closes with 4104 when the backend cannot answer and the hook fails closed', async () => {
      backend.behaviour.answer = (call) => (call.path === '/connect' ? { allow: true, expireInSec: 0.05 } : { allow: true });
      await harness.start({ ...fast, hooks: { connect: hook('/connect'), refresh: hook('/refresh') } });
      const client = await harness.connect();
      backend.behaviour.mode = 'failing';
      expect(await client.closed()).toBe(4104);
    });
  });

  describe('webhooks', () => {
    it('tell the backend, signed, when a channel is occupied and vacated and when a connection is closed, with its code', async () => {
      const secret = 'a-webhook-secret-of-at-least-32-bytes!';
      await harness.start({ webhooks: { url: backend.url('/events'), secret }, inbound: { messagesPerSecond: 0.001, messagesBurst: 2, rateLimitStrikes: 1 } });
      const client = await harness.connect();
      await client.subscribe('room');
      for (let i = 0; i < 3; i++) client.send({ op: 'ping' });
      expect(await client.closed()).toBe(4101);
      const events: Array<Record<string, unknown>> = [];
      const seen = (type: string) => events.some((e) => e.type === type);
      while (!seen('connection.closed') || !seen('channel.vacated')) {
        const call = await backend.next((c) => c.path === '/events' && !events.some((e) => (c.body.events as Array<{ id: string }>).some((x) => x.id === e.id)));
        expect(call.headers['x-sluice-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
        events.push(...(call.body.events as Array<Record<string, unknown>>));
      }
      expect(events.map((e) => e.type)).toEqual(['channel.occupied', 'channel.vacated', 'connection.closed']);
      expect(events[0]).toMatchObject({ ch: 'room' });
      expect(events[2]).toMatchObject({ code: 4101, reason: 'rate limit strikes exhausted', ip: '127.0.0.1' });
    });

    it('report what a lossy channel shed for a subscriber that stopped reading: signed counts per interval that add up to what was shed', async () => {
      const secret = 'a-webhook-secret-of-at-least-32-bytes!';
      const gw = await harness.start({
        webhooks: { url: backend.url('/events'), secret, shedIntervalMs: 100 },
        outbound: { maxQueueBytes: 64 * 1024, maxQueueMessages: 10_000, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        channels: [{ pattern: 'feed.*', policy: 'drop-oldest', historySize: 0 }],
      });
      const stalled = await harness.connect();
      await stalled.subscribe('feed.x');
      stalled.tcp.pause();
      const publisher = await harness.connect();
      // Enough bytes to fill the loopback socket buffers (several MB), then the 64 KiB queue.
      const pad = 'x'.repeat(4000);
      for (let i = 0; i < 4000; i++) {
        publisher.send({ op: 'pub', ch: 'feed.x', data: { i, pad } });
        if (i % 100 === 99) await publisher.request({ op: 'ping' });
      }
      await publisher.request({ op: 'ping' });
      const shed = gw.gateway.stats.shed.dropped;
      expect(shed, 'the stalled subscriber lost messages').toBeGreaterThan(0);
      const reported = (): Array<Record<string, unknown>> =>
        backend.on('/events').flatMap((c) => (c.body.events as Array<Record<string, unknown>>).filter((e) => e.type === 'publications.shed'));
      const total = (): number => reported().reduce((sum, e) => sum + (e.n as number), 0);
      await until(() => total() >= shed, 'shed counts reported');
      expect(total()).toBe(shed);
      for (const e of reported()) expect(e).toMatchObject({ ch: 'feed.x', intervalMs: 100 });
      expect(backend.on('/events').every((c) => signedBy(c, secret)), 'every delivery signed').toBe(true);
      expect(new Set(reported().map((e) => e.id)).size).toBe(reported().length);
    });

    it('at shutdown, the last closes and vacated channels are delivered before the gateway stops', async () => {
      const secret = 'a-webhook-secret-of-at-least-32-bytes!';
      const gw = await harness.start({ webhooks: { url: backend.url('/events'), secret, drainTimeoutMs: 10_000 } });
      const client = await harness.connect();
      await client.subscribe('room');
      await backend.next((c) => c.path === '/events');
      backend.behaviour.delayMs = () => 50;
      await gw.stop();
      const events = backend.on('/events').flatMap((c) => (signedBy(c, secret) ? (c.body.events as Array<Record<string, unknown>>) : []));
      expect(events.map((e) => e.type)).toEqual(['channel.occupied', 'channel.vacated', 'connection.closed']);
      expect(events[2]).toMatchObject({ code: 4200 });
    });
  });
});
