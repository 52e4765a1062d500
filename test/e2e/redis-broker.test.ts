import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Frame } from '../helpers/client.js';
import { startGateway, type DeepPartial, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { readyStatus, until } from '../../devkit/until.js';
import { TRANSPORTS } from '../helpers/transports.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { TestKeys } from '../helpers/tokens.js';
import { connectWithToken } from '../helpers/upgrade.js';
import { createClient } from '../../src/client/client.js';
import type { Gap, SnapshotInfo } from '../../src/client/subscription.js';

/** Gateways in this process sharing one real Redis (the multi-process suite is cluster.test.ts). */
describe('redis broker, nodes in one process', () => {
  let redis: TestRedis;
  const gateways: TestGateway[] = [];
  const clients: TestClient[] = [];
  let prefix = 0;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    redis.thaw(); // after a test that failed while Redis was frozen
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  /** A node; each test gets its own key prefix so streams never leak between tests. */
  const node = async (overrides: DeepPartial<ConfigInput> = {}, transport = 'ws'): Promise<TestGateway> => {
    const gw = await startGateway(
      { channels: [{ pattern: 'chat.*', historySize: 1000 }], ...overrides, broker: { type: 'redis', redis: { url: redis.url, keyPrefix: `t${prefix}:`, ...overrides.broker?.redis } } },
      transport,
    );
    gateways.push(gw);
    return gw;
  };
  const connect = async (gw: TestGateway): Promise<TestClient> => {
    const c = await TestClient.connect(gw.url);
    clients.push(c);
    return c;
  };
  const ready = (gws: TestGateway[], status = 200) =>
    until(async () => (await Promise.all(gws.map((g) => readyStatus(g.httpUrl)))).every((s) => s === status), `nodes' /readyz ${status}`);
  const fresh = () => prefix++;

  /** A channel's stream as a subscriber saw it: `5` for a message, `gap unavailable 6..30 (25) @30` for a notice. */
  const stream = (c: TestClient, ch: string): string[] =>
    c.frames
      .filter((f) => f.ch === ch && (f.ev === 'msg' || f.ev === 'gap'))
      .map((f) => (f.ev === 'msg' ? String(f.seq) : `gap ${String(f.reason)} ${String(f.from)}..${String(f.to)} (${String(f.n)}) @${String(f.seq)}`));
  const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

  it('delivers a publication made on one node to subscribers on another, and keeps it in shared history', async () => {
    fresh();
    const a = await node();
    const b = await node();
    await ready([a, b]);
    const sub = await connect(a);
    const ack = await sub.subscribe('chat.x');
    expect(ack).toMatchObject({ seq: 0 });
    const pub = await connect(b);
    const acks: Frame[] = [];
    for (let i = 1; i <= 20; i++) acks.push(await pub.request({ op: 'pub', ch: 'chat.x', key: i % 2 ? 'k' : undefined, data: { i } }));
    expect(acks.map((f) => f.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const msgs = await sub.waitForCount((f) => f.ev === 'msg', 20);
    expect(msgs.map((m) => m.seq)).toEqual(acks.map((f) => f.seq));
    expect(msgs[0]).toEqual({ ev: 'msg', ch: 'chat.x', seq: 1, key: 'k', data: { i: 1 } });

    const late = await connect(b);
    const resumed = await late.subscribe('chat.x', { since: { epoch: ack.epoch, seq: 15 } });
    expect(resumed).toMatchObject({ seq: 20, recovered: true });
    expect((await late.waitForCount((f) => f.ev === 'msg', 5)).map((m) => m.data)).toEqual([{ i: 16 }, { i: 17 }, { i: 18 }, { i: 19 }, { i: 20 }]);
  });

  it('creates no Redis key for subscribe-only traffic: 500 sub/unsub on fresh names leave none', async () => {
    fresh();
    // 1,000 requests back to back: past the default burst of 500 when Redis answers quickly.
    const a = await node({ inbound: { messagesBurst: 2000 } });
    await ready([a]);
    const c = await connect(a);
    const inspect = redis.client();
    for (let i = 0; i < 500; i++) {
      expect(await c.subscribe(`chat.fresh.${i}`)).toMatchObject({ ev: 'ack', seq: 0 });
      expect(await c.request({ op: 'unsub', ch: `chat.fresh.${i}` })).toMatchObject({ ev: 'ack' });
    }
    expect(await inspect.keys(`t${prefix}:*`)).toEqual([]);
  });

  it('gives every key it writes a bounded lifetime, also when history is kept by size only', async () => {
    fresh();
    const a = await node({ channels: [{ pattern: 'chat.*', historySize: 10, historyTtlMs: 0 }] });
    await ready([a]);
    const c = await connect(a);
    for (let i = 0; i < 3; i++) await c.request({ op: 'pub', ch: `chat.kept.${i}`, data: i });
    const inspect = redis.client();
    const keys = await inspect.keys(`t${prefix}:*`);
    expect(keys).toHaveLength(6);
    for (const key of keys) expect(await inspect.pttl(key)).toBeGreaterThan(0);
  });

  it('continues a subscription made before the first publish into the stream the publish creates', async () => {
    fresh();
    const a = await node();
    const b = await node();
    await ready([a, b]);
    const sub = await connect(a);
    const ack = await sub.subscribe('chat.first');
    const pub = await connect(b);
    for (let i = 1; i <= 3; i++) await pub.request({ op: 'pub', ch: 'chat.first', data: i });
    expect((await sub.waitForCount((f) => f.ev === 'msg', 3)).map((m) => m.seq)).toEqual([1, 2, 3]);
    const late = await connect(b);
    const resumed = await late.subscribe('chat.first', { since: { epoch: ack.epoch, seq: 1 } });
    expect(resumed).toMatchObject({ seq: 3, recovered: true });
    expect((await late.waitForCount((f) => f.ev === 'msg', 2)).map((m) => m.data)).toEqual([2, 3]);
    expect(sub.frames.some((f) => f.ev === 'gap')).toBe(false);
  });

  it('resumes gap- and duplicate-free while publications keep coming during the history read', async () => {
    fresh();
    const a = await node();
    // The publisher sends 400 without waiting: past the default burst (250).
    const b = await node({ limits: { maxPendingPublishes: 1000 }, inbound: { messagesBurst: 1000 } });
    await ready([a, b]);
    const early = await connect(a); // keeps node A subscribed, so the late joiner races live traffic
    const ack = await early.subscribe('chat.race');
    const pub = await connect(b);
    const total = 400;
    for (let i = 1; i <= 100; i++) pub.send({ op: 'pub', ch: 'chat.race', data: i });
    await pub.request({ op: 'ping' });
    const joiners: Array<Promise<Frame>> = [];
    const late: TestClient[] = [];
    for (let j = 0; j < 5; j++) {
      for (let i = 0; i < 60; i++) pub.send({ op: 'pub', ch: 'chat.race', data: 0 });
      const c = await connect(a);
      late.push(c);
      joiners.push(c.request({ op: 'sub', ch: 'chat.race', since: { epoch: ack.epoch, seq: 50 + j * 10 } }));
    }
    await pub.request({ op: 'pub', ch: 'chat.race', data: 'last' });
    for (const [j, c] of late.entries()) {
      expect(await joiners[j]).toMatchObject({ ev: 'ack', recovered: true });
      const from = 50 + j * 10 + 1;
      const msgs = await c.waitForCount((f) => f.ev === 'msg', total + 1 - from + 1);
      expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: total + 1 - from + 1 }, (_, i) => from + i));
    }
    expect((await early.waitForCount((f) => f.ev === 'msg', total + 1)).length).toBe(total + 1);
  });

  it('refuses with unavailable while Redis is unreachable at start, then becomes ready once it answers', async () => {
    fresh();
    await redis.kill();
    const a = await node({ broker: { redis: { reconnectMaxMs: 200 } } });
    expect(await readyStatus(a.httpUrl)).toBe(503);
    const c = await connect(a);
    expect(await c.request({ op: 'pub', ch: 'chat.u', data: 1 })).toMatchObject({ ev: 'err', code: 'unavailable' });
    expect(await c.request({ op: 'sub', ch: 'chat.u' })).toMatchObject({ ev: 'err', code: 'unavailable' });
    expect(await c.request({ op: 'sub', ch: 'chat.u' })).toMatchObject({ ev: 'err', code: 'unavailable' });
    await redis.restart();
    await ready([a]);
    expect(await c.subscribe('chat.u')).toMatchObject({ seq: 0 });
    expect(await c.request({ op: 'pub', ch: 'chat.u', data: 1 })).toMatchObject({ ev: 'ack', seq: 1 });
    await c.next((f) => f.ev === 'msg');
  });

  it('repairs from history when Redis cuts the pub/sub link (slow consumer): nothing lost, nothing twice', async () => {
    fresh();
    const a = await node();
    const b = await node();
    await ready([a, b]);
    const sub = await connect(a);
    await sub.subscribe('chat.cut');
    const pub = await connect(b);
    const admin = redis.client();
    let acked = 0;
    for (let i = 1; i <= 300; i++) {
      if (i === 100) await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      const reply = await pub.request({ op: 'pub', ch: 'chat.cut', data: i });
      if (reply.ev === 'ack') acked = reply.seq as number;
    }
    expect(acked).toBe(300);
    const msgs = await sub.waitForCount((f) => f.ev === 'msg', 300);
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(sub.frames.filter((f) => f.ev === 'gap')).toEqual([]);
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_broker_ready 1$/m);
    expect(Number(/^sluice_broker_repairs_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^sluice_broker_notices_total 0$/m);
  });

  it('after a cut pub/sub link, replays what history still holds and announces only what it lost', async () => {
    const seen = 5;
    fresh();
    const channels = [{ pattern: 'chat.*', historySize: 10 }];
    // Node A reconnects its links slowly, so everything below is published while it is cut off.
    const a = await node({ channels, broker: { redis: { reconnectMinMs: 3_000, reconnectMaxMs: 3_000 } } });
    const b = await node({ channels });
    await ready([a, b]);
    const sub = await connect(a);
    await sub.subscribe('chat.cut');
    const pub = await connect(b);
    for (let i = 1; i <= seen; i++) expect(await pub.request({ op: 'pub', ch: 'chat.cut', data: i })).toMatchObject({ ev: 'ack', seq: i });
    await sub.waitForCount((f) => f.ev === 'msg', seen);
    await redis.client().call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await ready([a], 503);
    for (let i = seen + 1; i <= 40; i++) expect(await pub.request({ op: 'pub', ch: 'chat.cut', data: i })).toMatchObject({ ev: 'ack', seq: i });
    // The precondition of this test: node A was cut off while all of them were published.
    expect(await readyStatus(a.httpUrl)).toBe(503);
    await ready([a]);
    // Repaired once the node's position reached 40: by the message itself or a notice covering it.
    await sub.next((f) => f.ch === 'chat.cut' && (f.ev === 'msg' || f.ev === 'gap') && f.seq === 40);
    expect(stream(sub, 'chat.cut')).toEqual([...range(1, seen), `gap unavailable ${seen + 1}..30 (${30 - seen}) @30`, ...range(31, 40)]);
    expect(sub.messages('chat.cut').slice(seen).map((m) => m.data)).toEqual(range(31, 40).map(Number));
  }, 30_000);

  it('on a keyed channel, a cut pub/sub link past history gives subscribers the state instead: a notice with snapshot, then snap frames; the client replaces values', async () => {
    fresh();
    const channels = [{ pattern: 'kv.*', keyed: true, historySize: 10 }];
    const a = await node({ channels, broker: { redis: { reconnectMinMs: 3_000, reconnectMaxMs: 3_000 } } });
    const b = await node({ channels });
    await ready([a, b]);
    const pub = await connect(b);
    const truth = new Map<string, unknown>();
    const publish = async (key: string, data: number | undefined): Promise<number> => {
      const reply = await pub.request({ op: 'pub', ch: 'kv.cut', key, data: data ?? null, del: data === undefined ? true : undefined });
      expect(reply).toMatchObject({ ev: 'ack' });
      if (data === undefined) truth.delete(key);
      else truth.set(key, data);
      return reply.seq as number;
    };
    for (let i = 1; i <= 5; i++) await publish(`k${i}`, i);
    const raw = await connect(a);
    await raw.subscribe('kv.cut', { snapshot: true });
    await raw.next((f) => f.ev === 'snap' && f.last === true);
    const plain = await connect(a); // no `snapshot`: it keeps no state, so it is sent none
    await plain.subscribe('kv.cut');
    const snapshots: Array<SnapshotInfo<unknown>> = [];
    const gaps: Gap[] = [];
    const client = createClient(a.url, { reconnect: { enabled: false } });
    const sub = client.subscribe<unknown>('kv.cut', { snapshot: true, onSnapshot: (s) => snapshots.push(s), onGap: (g) => gaps.push(g) });
    await sub.ready;
    await until(() => snapshots.length === 1, 'the first snapshot');
    await redis.client().call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await ready([a], 503);
    for (let i = 6; i <= 38; i++) await publish(`k${1 + (i % 5)}`, i);
    await publish('k3', undefined);
    const last = await publish('k9', 40);
    expect(last).toBe(40);
    expect(await readyStatus(a.httpUrl)).toBe(503); // the precondition: node A was cut off for all of it
    await ready([a]);
    const snapEnd = await raw.next((f) => f.ev === 'snap' && f.last === true && f.seq === 40);
    const notice = raw.frames.find((f) => f.ev === 'gap');
    expect(notice).toMatchObject({ ch: 'kv.cut', reason: 'unavailable', from: 6, to: 40, seq: 40, snapshot: true });
    expect(raw.frames.indexOf(notice!)).toBeLessThan(raw.frames.indexOf(snapEnd));
    expect(snapEnd).toMatchObject({ seq: 40, epoch: notice!.epoch });
    const state = new Map<string, unknown>();
    for (const f of raw.frames.filter((x) => x.ev === 'snap' && x.seq === 40)) for (const m of f.msgs as Array<{ key: string; data: unknown }>) state.set(m.key, m.data);
    expect(state).toEqual(truth);
    // Live messages go on after the state.
    const next = await publish('k1', 41);
    await raw.next((f) => f.ev === 'msg' && f.seq === next);
    expect(raw.frames.filter((f) => f.ev === 'msg').map((f) => f.seq)).toEqual([41]);
    await plain.next((f) => f.ev === 'msg' && f.seq === next);
    expect(plain.frames.filter((f) => f.ev === 'gap')).toEqual([{ ev: 'gap', ch: 'kv.cut', from: 6, to: 40, n: 35, reason: 'unavailable', epoch: notice!.epoch, seq: 40 }]);
    expect(plain.frames.filter((f) => f.ev === 'snap')).toEqual([]);
    await until(() => sub.lastSeq === next, 'the client at the next seq');
    expect(snapshots.map((s) => [s.seq, s.resumed])).toEqual([[5, false], [40, true]]);
    expect(new Map(sub.values)).toEqual(truth);
    expect(gaps).toEqual([]);
    client.close();
  }, 30_000);

  it('a hung Redis turns readiness off; a publication it timed out on is reported uncertain, and a retry with its pid publishes it once', async () => {
    fresh();
    const hung = { broker: { redis: { commandTimeoutMs: 300 } } };
    const a = await node(hung);
    const b = await node(hung);
    await ready([a, b]);
    const sub = await connect(a);
    await sub.subscribe('chat.hung');
    const pub = await connect(b);
    redis.freeze();
    const replies = await Promise.all([pub.request({ op: 'pub', ch: 'chat.hung', pid: 'p-1', data: 1 }), pub.request({ op: 'pub', ch: 'chat.hung', pid: 'p-2', data: 2 })]);
    expect(replies).toMatchObject([
      { ev: 'err', code: 'publish_uncertain' },
      { ev: 'err', code: 'publish_uncertain' },
    ]);
    // Both nodes notice: B by its timed-out publications, A (idle) by its own probe.
    await ready([a, b], 503);
    expect(await pub.request({ op: 'pub', ch: 'chat.hung', pid: 'p-3', data: 3 })).toMatchObject({ ev: 'err', code: 'unavailable' });
    redis.thaw();
    await ready([a, b]);
    // Retried as documented, with the same pids: each answered with the seq it was given once.
    expect(await pub.request({ op: 'pub', ch: 'chat.hung', pid: 'p-1', data: 1 })).toMatchObject({ ev: 'ack', seq: 1 });
    expect(await pub.request({ op: 'pub', ch: 'chat.hung', pid: 'p-2', data: 2 })).toMatchObject({ ev: 'ack', seq: 2 });
    expect(await pub.request({ op: 'pub', ch: 'chat.hung', pid: 'p-3', data: 3 })).toMatchObject({ ev: 'ack', seq: 3 });
    await sub.waitForCount((f) => f.ev === 'msg', 3);
    // The end of the stream: a message published last.
    expect(await pub.request({ op: 'pub', ch: 'chat.hung', data: 'end' })).toMatchObject({ ev: 'ack', seq: 4 });
    await sub.next((f) => f.ev === 'msg' && f.data === 'end');
    expect(sub.messages('chat.hung').map((m) => [m.seq, m.data])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 'end'],
    ]);
    expect(sub.frames.filter((f) => f.ev === 'gap')).toEqual([]);
  }, 30_000);

  it('holds publishes past the per-connection window until one is answered, instead of refusing them', async () => {
    fresh();
    const a = await node({ limits: { maxPendingPublishes: 2 } });
    await ready([a]);
    const c = await connect(a);
    const admin = redis.client();
    await admin.call('CLIENT', 'PAUSE', '400', 'WRITE');
    const replies = Promise.all([1, 2, 3].map((i) => c.request({ op: 'pub', ch: 'chat.p', data: i })));
    const r = await replies;
    expect(r.map((f) => [f.ev, f.seq])).toEqual([
      ['ack', 1],
      ['ack', 2],
      ['ack', 3],
    ]);
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_read_pauses_total\{cause="publish_window"\} [1-9]/m);
  });

  it('after Redis lost its data, tells subscribers with a reset notice and goes on in the new epoch', async () => {
    fresh();
    const a = await node({ broker: { redis: { reconnectMaxMs: 200 } } });
    const b = await node({ broker: { redis: { reconnectMaxMs: 200 } } });
    await ready([a, b]);
    const sub = await connect(a);
    const ack = await sub.subscribe('chat.reset');
    const pub = await connect(b);
    for (let i = 1; i <= 5; i++) await pub.request({ op: 'pub', ch: 'chat.reset', data: i });
    await sub.waitForCount((f) => f.ev === 'msg', 5);
    await redis.kill();
    await until(async () => (await readyStatus(a.httpUrl)) === 503 && (await readyStatus(b.httpUrl)) === 503, 'nodes not ready');
    expect(await pub.request({ op: 'pub', ch: 'chat.reset', data: 'lost' })).toMatchObject({ ev: 'err', code: 'unavailable' });
    await redis.restart();
    await ready([a, b]);
    const notice = await sub.next((f) => f.ev === 'gap');
    expect(notice).toMatchObject({ ch: 'chat.reset', from: 6, reason: 'reset', seq: 0 });
    expect(notice.epoch).not.toBe(ack.epoch);
    expect(await pub.request({ op: 'pub', ch: 'chat.reset', data: 'new' })).toMatchObject({ ev: 'ack', seq: 1 });
    const next = await sub.next((f) => f.ev === 'msg' && f.data === 'new');
    expect(next.seq).toBe(1);
    expect(sub.frames.filter((f) => f.ev === 'msg').map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 1]);
  });

  it('after a failover lost the last writes, a stream behind the node begins a new epoch: subscribers get a reset, no seq is given twice', async () => {
    fresh();
    const a = await node({ broker: { redis: { reconnectMaxMs: 200 } } });
    await ready([a]);
    const sub = await connect(a);
    const ack = await sub.subscribe('chat.back');
    const pub = await connect(a);
    for (let i = 1; i <= 5; i++) await pub.request({ op: 'pub', ch: 'chat.back', data: i });
    await sub.waitForCount((f) => f.ev === 'msg', 5);
    // What a promoted replica that missed seqs 3..5 holds; the node's pub/sub link drops with the old master.
    const admin = redis.client();
    await admin.hset(`t${prefix}:{chat.back}:s`, 's', 2);
    await admin.ltrim(`t${prefix}:{chat.back}:h`, 0, 1);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const notice = await sub.next((f) => f.ev === 'gap');
    expect(notice).toMatchObject({ ch: 'chat.back', from: 6, reason: 'reset', seq: 2 });
    expect(notice.epoch).not.toBe(ack.epoch);
    expect(await pub.request({ op: 'pub', ch: 'chat.back', data: 'new' })).toMatchObject({ ev: 'ack', seq: 3 });
    expect((await sub.next((f) => f.ev === 'msg' && f.data === 'new')).seq).toBe(3);
    // A resume from the old epoch learns of the loss the same way.
    const late = await connect(a);
    expect(await late.subscribe('chat.back', { since: { epoch: ack.epoch, seq: 5 } })).toMatchObject({ recovered: false, epoch: notice.epoch, seq: 3 });
  });

  it('after Redis lost its data, a subscriber from before the first publish gets a burst larger than history whole (the node hands on what it holds)', async () => {
    fresh();
    const channels = [{ pattern: 'chat.*', historySize: 5 }];
    const a = await node({ channels, broker: { redis: { reconnectMaxMs: 200 } } });
    await ready([a]);
    const sub = await connect(a);
    await sub.subscribe('chat.burst'); // a provisional position: nothing published yet
    const pub = await connect(a);
    expect(await pub.request({ op: 'pub', ch: 'chat.burst', data: 1 })).toMatchObject({ ev: 'ack', seq: 1 });
    await sub.next((f) => f.ev === 'msg');
    await redis.kill();
    await ready([a], 503);
    await redis.restart();
    await ready([a]);
    await sub.next((f) => f.ev === 'gap' && f.reason === 'reset');
    // Six at once: one pipeline, so the node receives them while its first one makes it read history (which holds five).
    const acks = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => pub.request({ op: 'pub', ch: 'chat.burst', data: i })));
    expect(acks.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await sub.next((f) => f.ch === 'chat.burst' && (f.ev === 'msg' || f.ev === 'gap') && f.seq === 6);
    expect(stream(sub, 'chat.burst')).toEqual(['1', 'gap reset 2..undefined (undefined) @0', ...range(1, 6)]);
  });

  it('a subscription revoked while it joins, whose join then fails, is answered once: no err without id or channel', async () => {
    fresh();
    const keys = await TestKeys.generate();
    const a = await node({ auth: { keys: keys.config, namespaces: [{ pattern: 'chat.*', subscribe: 'granted', publish: 'granted' }] }, broker: { redis: { reconnectMaxMs: 200 } } });
    await ready([a]);
    const carol = await connectWithToken(a.url, await keys.sign({ sub: 'carol', sluice: { sub: ['chat.*'] } }));
    clients.push(carol);
    redis.freeze(); // the join waits on Redis
    carol.send({ op: 'sub', ch: 'chat.revoked', id: 7 });
    expect(await carol.request({ op: 'auth', token: await keys.sign({ sub: 'carol', sluice: { sub: ['chat.other'] } }) })).toMatchObject({ ev: 'ack' });
    await carol.next((f) => f.ev === 'err' && f.ch === 'chat.revoked'); // the revocation
    await redis.kill(); // the join fails
    await carol.next((f) => f.ev === 'err' && f.id === 7);
    expect(await carol.request({ op: 'ping' })).toMatchObject({ ev: 'pong' });
    await redis.restart();
    expect(carol.frames.filter((f) => f.ev === 'err')).toEqual([
      expect.objectContaining({ code: 'forbidden', ch: 'chat.revoked' }),
      expect.objectContaining({ code: 'unavailable', id: 7 }),
    ]);
  });

  for (const transport of TRANSPORTS) {
    it(`${transport}: a publisher keeping 200 publications in flight has every one acked, none refused`, async () => {
      fresh();
      const gw = await node({ inbound: { messagesPerSecond: 0, bytesPerSecond: 0 } }, transport);
      await ready([gw]);
      const c = await connect(gw);
      const total = 5_000;
      const inFlight = 200;
      let sent = 0;
      const send = (): void => {
        sent++;
        c.send({ op: 'pub', ch: 'chat.window', data: sent, id: sent });
      };
      c.ws.on('message', () => {
        if (sent < total) send();
      });
      for (let i = 0; i < inFlight; i++) send();
      const isReply = (f: Frame): boolean => f.id !== undefined;
      const replies = await c.waitForCount(isReply, total, 60_000);
      const refused = replies.filter((f) => f.ev !== 'ack');
      expect(refused.length, JSON.stringify(refused.slice(0, 3))).toBe(0);
      expect(replies.map((f) => f.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }, 90_000);
  }
});
