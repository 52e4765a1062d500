import { describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('fan-out [%s]', (transport) => {
  let gw: TestGateway;
  const h = gatewayHarness(transport);
  const connect = h.connect;

  it('greets with hello carrying the limits', async () => {
    gw = await h.start({});
    const c = await connect();
    const hello = await c.next((f) => f.ev === 'hello');
    expect(hello).toMatchObject({ v: 1, limits: { maxPayloadBytes: 65536 } });
  });

  it('delivers every publication to every subscriber, complete and in seq order', async () => {
    // The publisher sends its 501 publications without waiting: past the default burst (250).
    gw = await h.start({ inbound: { messagesBurst: 1000 } });
    const subscribers = await Promise.all(Array.from({ length: 50 }, connect));
    await Promise.all(subscribers.map((s) => s.subscribe('chat.room1')));
    const publisher = await connect();
    const total = 500;
    for (let i = 0; i < total; i++) publisher.send({ op: 'pub', ch: 'chat.room1', data: { i, text: `m${i}` } });
    const last = await publisher.request({ op: 'pub', ch: 'chat.room1', data: 'last' });
    expect(last).toMatchObject({ ev: 'ack', seq: total + 1 });
    for (const s of subscribers) {
      const msgs = await s.waitForCount((f) => f.ev === 'msg', total + 1);
      expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: total + 1 }, (_, i) => i + 1));
      expect(msgs[7]!.data).toEqual({ i: 7, text: 'm7' });
    }
  });

  it('forwards data byte for byte and echoes the key', async () => {
    gw = await h.start({});
    const sub = await connect();
    await sub.subscribe('market.BTC');
    const raw: string[] = [];
    sub.ws.on('message', (d) => raw.push(d.toString()));
    const pub = await connect();
    pub.send('{"op":"pub","ch":"market.BTC","key":"BTC","data":{ "bid" : 1.50, "s":"\\u00e9" }}');
    await sub.next((f) => f.ev === 'msg');
    expect(raw.find((r) => r.includes('"msg"'))).toBe('{"ev":"msg","ch":"market.BTC","seq":1,"key":"BTC","data":{ "bid" : 1.50, "s":"\\u00e9" }}');
  });

  it('stops delivering after unsub and releases the subscription', async () => {
    gw = await h.start({});
    const sub = await connect();
    await sub.subscribe('chat.a');
    await sub.subscribe('chat.b');
    expect(await sub.request({ op: 'unsub', ch: 'chat.a' })).toMatchObject({ ev: 'ack', ch: 'chat.a' });
    expect(await sub.request({ op: 'unsub', ch: 'chat.a' })).toMatchObject({ ev: 'err', code: 'not_subscribed' });
    const pub = await connect();
    await pub.request({ op: 'pub', ch: 'chat.a', data: 1 });
    await pub.request({ op: 'pub', ch: 'chat.b', data: 2 });
    await sub.next((f) => f.ev === 'msg' && f.ch === 'chat.b');
    expect(sub.messages('chat.a')).toHaveLength(0);
    expect(gw.gateway.hub.get('chat.a')?.subscribers.size ?? 0).toBe(0);
    sub.close();
    await sub.closed();
    await pub.request({ op: 'ping' });
    expect(gw.gateway.hub.get('chat.b')?.subscribers.size ?? 0).toBe(0);
  });
});
