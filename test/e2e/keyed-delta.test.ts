import { applyDelta } from 'fossil-delta';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type SluiceClient } from '../../src/client/client.js';
import type { Gap } from '../../src/client/subscription.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { OrderBooks } from '../../devkit/order-book.js';
import { until } from '../../devkit/until.js';
import { TestClient } from '../helpers/client.js';
import type { DeepPartial } from '../helpers/gateway.js';
import { fillSocket } from '../helpers/fill.js';
import { nodesHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

/**
 * What a raw subscriber holds, rebuilt from the frames it received: the snapshot, then each `msg`
 * in order, deltas applied with fossil to the exact bytes of the key's previous value. A delta
 * whose base is not the value the subscriber holds fails the test (the server must never send one).
 */
function decode(client: TestClient, ch: string): { values: Map<string, string>; deltas: number; gaps: number; lastSeq: number } {
  const held = new Map<string, { seq: number; text: string }>();
  let deltas = 0;
  let gaps = 0;
  let lastSeq = 0;
  client.frames.forEach((f, i) => {
    if (f.ch !== ch) return;
    if (f.ev === 'gap') gaps++;
    if (f.ev === 'snap') for (const m of f.msgs as Array<{ key: string; seq: number; data: unknown }>) held.set(m.key, { seq: m.seq, text: JSON.stringify(m.data) });
    if (f.ev !== 'msg') return;
    const key = f.key as string;
    const seq = f.seq as number;
    lastSeq = seq;
    if (f.del === true) held.delete(key);
    else if (typeof f.delta === 'string') {
      const base = held.get(key);
      expect(base?.seq, `the base of the delta at seq ${seq}`).toBe(f.base);
      deltas++;
      held.set(key, { seq, text: Buffer.from(applyDelta(Buffer.from(base!.text), Buffer.from(f.delta, 'base64'))).toString() });
    } else {
      const text = client.texts[i]!;
      held.set(key, { seq, text: text.slice(text.indexOf(',"data":') + 8, -1) });
    }
  });
  return { values: new Map([...held].map(([k, v]) => [k, v.text])), deltas, gaps, lastSeq };
}

/** Larger than the outbound queue's byte limit: shed as soon as it has to wait. */
const BALLAST = 'b'.repeat(60_000);

const CASES = TRANSPORTS.flatMap((transport) => (['memory', 'redis'] as const).map((broker) => [transport, broker] as const));

/**
 * Deltas on each transport and broker (docs/keyed.md, "Deltas"). On Redis two nodes: the
 * publisher on one, subscribers on both (each node makes its own deltas).
 */
describe.each(CASES)('keyed deltas [%s, %s broker]', (transport, broker) => {
  const h = nodesHarness(transport, broker);
  const sluiceClients: SluiceClient[] = [];
  afterEach(() => {
    for (const c of sluiceClients.splice(0)) c.close();
  });
  const config: DeepPartial<ConfigInput> = {
    inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
    outbound: { highWaterMarkBytes: 16 * 1024, maxQueueBytes: 32 * 1024, softQueueBytes: 0 },
    channels: [
      { pattern: 'ob.*', keyed: true, delta: true, policy: 'conflate', historySize: 50 },
      { pattern: 'bulk.*', policy: 'drop-oldest', historySize: 0 },
    ],
  };

  it('values rebuilt from deltas are byte-identical to full delivery, under concurrent publishing, with a paced and a paused (shedding) subscriber, and for the client', async () => {
    await h.start(config);
    const publisher = await h.connect();
    const books = new OrderBooks(12, 7);
    const truth = new Map<string, string>();
    const publish = (n: number): void => {
      const text = books.update(n);
      truth.set(`I${n}`, text);
      publisher.ws.send(`{"op":"pub","ch":"ob.a","key":"I${n}","data":${text}}`);
    };
    for (let i = 0; i < 48; i++) publish(i % 12);
    await publisher.request({ op: 'ping' });
    const full = await h.connect();
    const delta = await h.connect();
    const paced = await h.connect();
    const slow = await h.connect();
    const slowNode = h.lastNode();
    expect(await full.subscribe('ob.a', { snapshot: true })).not.toHaveProperty('delta');
    expect(await delta.subscribe('ob.a', { snapshot: true, delta: true })).toMatchObject({ delta: true });
    expect(await paced.subscribe('ob.a', { snapshot: true, delta: true, maxRate: 20 })).toMatchObject({ delta: true, maxRate: 20 });
    await slow.subscribe('ob.a', { snapshot: true, delta: true });
    await slow.subscribe('bulk.x');
    const client = createClient(h.nextUrl(), { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    sluiceClients.push(client);
    const clientGaps: Gap[] = [];
    const sub = client.subscribe<unknown>('ob.a', { snapshot: true, delta: true, maxRate: 40, onGap: (g) => clientGaps.push(g) });
    await sub.ready;

    const settle = async (): Promise<void> => {
      // The newest value of the last key published reaches everyone, paced and shed ones too.
      const last = (await publisher.request({ op: 'pub', ch: 'ob.a', key: 'I0', data: JSON.parse(books.update(0)) as unknown })).seq as number;
      truth.set('I0', books.text(0));
      for (const c of [full, delta, paced, slow]) await c.until(() => c.messages('ob.a').some((m) => m.seq === last), 20_000, `seq ${last}`);
      await until(() => sub.lastSeq === last, 'the client at the last seq', 20_000);
    };
    for (let i = 0; i < 800; i++) {
      publish((i * 5) % 12);
      if (i === 200) {
        slow.tcp.pause();
        // Until its node sheds ballast for it: then what it is sent queues, and its queue sheds.
        const ballast = () => Promise.all(Array.from({ length: 8 }, () => publisher.request({ op: 'pub', ch: 'bulk.x', data: BALLAST })));
        expect(await fillSocket(slowNode, slow.frames[0]!.conn as string, ballast)).toBe(true);
      }
      if (i === 600) slow.tcp.resume();
      if (i % 100 === 99) await publisher.request({ op: 'ping' });
    }
    await settle();
    // One more change of every key, now that the paced subscribers hold each key's newest value.
    for (let n = 0; n < 12; n++) publish(n);
    await settle();

    const got = Object.fromEntries(([['full', full], ['delta', delta], ['paced', paced], ['slow', slow]] as const).map(([name, c]) => [name, decode(c, 'ob.a')]));
    for (const [name, d] of Object.entries(got)) expect(d.values, name).toEqual(truth);
    expect(got.full!.deltas).toBe(0);
    expect(got.delta!.deltas).toBeGreaterThan(700); // every change after a key's first whole one, here
    expect(got.paced!.gaps).toBeGreaterThan(0); // paced away: the next change of that key comes whole, or as a delta from what it holds
    expect(got.paced!.deltas).toBeGreaterThan(0);
    expect(got.slow!.deltas).toBeGreaterThan(0);
    expect(got.slow!.gaps).toBeGreaterThan(0); // shed by its queue's conflate policy
    // Deltas are smaller on the wire: the same stream costs the delta subscriber far fewer bytes.
    const bytes = (c: TestClient) => c.texts.reduce((n, t) => n + t.length, 0);
    expect(bytes(delta) * 4).toBeLessThan(bytes(full));
    // The client applies deltas transparently: its values are the publisher's, byte for byte.
    expect(new Map([...sub.values].map(([k, v]) => [k, JSON.stringify(v)]))).toEqual(truth);
    expect(clientGaps.filter((g) => g.reason === 'delta')).toEqual([]);
  });

  it('fetch answers the latest value of a key (del when absent), not_keyed elsewhere, not_subscribed without a subscription', async () => {
    await h.start({ ...config, channels: [...config.channels!, { pattern: 'plain.*' }] });
    const c = await h.connect();
    await c.request({ op: 'pub', ch: 'ob.f', key: 'a', data: { v: 1 } });
    const second = await c.request({ op: 'pub', ch: 'ob.f', key: 'a', data: { v: 2 } });
    expect(await c.request({ op: 'fetch', ch: 'ob.f', key: 'a' })).toMatchObject({ ev: 'err', code: 'not_subscribed' });
    const { epoch } = await c.subscribe('ob.f', { delta: true });
    expect(await c.request({ op: 'fetch', ch: 'ob.f', key: 'a' })).toEqual({ ev: 'ack', id: expect.anything(), ch: 'ob.f', key: 'a', epoch, seq: second.seq, data: { v: 2 } });
    // Absent: valid at the channel's seq, in the subscription's epoch.
    const third = await c.request({ op: 'pub', ch: 'ob.f', key: 'b', data: { v: 3 } });
    expect(await c.request({ op: 'fetch', ch: 'ob.f', key: 'zz' })).toEqual({ ev: 'ack', id: expect.anything(), ch: 'ob.f', key: 'zz', epoch, seq: third.seq, del: true });
    await c.subscribe('plain.x');
    expect(await c.request({ op: 'fetch', ch: 'plain.x', key: 'a' })).toMatchObject({ ev: 'err', code: 'not_keyed' });
  });

  it("a delta subscriber's tracker (8 bytes per key slot) is charged to the keyed pool until it unsubscribes or its connection closes", async () => {
    await h.start(config);
    const publisher = await h.connect();
    const watcher = await h.connect();
    const node = h.lastNode();
    await watcher.subscribe('ob.m');
    const pool = node.gateway.budget.pools.keyed;
    // Values of one size with two-digit seqs: a round replaces every key's value with one as large.
    const round = async (): Promise<void> => {
      let last = 0;
      for (let k = 0; k < 20; k++) last = (await publisher.request({ op: 'pub', ch: 'ob.m', key: `k${k}`, data: 'vv' })).seq as number;
      await watcher.until(() => watcher.messages('ob.m').some((m) => m.seq === last), 10_000, `seq ${last}`);
    };
    await round();
    await round();
    const before = pool.bytes;
    // A connection to the watcher's node (on Redis, connections alternate between two nodes).
    let delta = await h.connect();
    while (h.lastNode() !== node) delta = await h.connect();
    await delta.subscribe('ob.m', { delta: true });
    expect(pool.bytes - before).toBe(16 * 8);
    await round(); // 20 keys: the tracker grows to 32 slots
    await delta.until(() => delta.messages('ob.m').length === 20, 10_000, 'a round');
    expect(pool.bytes - before).toBe(32 * 8);
    await delta.request({ op: 'unsub', ch: 'ob.m' });
    expect(pool.bytes).toBe(before);
    await delta.subscribe('ob.m', { delta: true });
    expect(pool.bytes - before).toBe(16 * 8);
    delta.close();
    await until(() => pool.bytes === before, 'the tracker released on close');
  });
});
