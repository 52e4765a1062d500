import { describe, expect, it } from 'vitest';
import { TestClient, type Frame } from '../helpers/client.js';
import type { DeepPartial } from '../helpers/gateway.js';
import { nodesHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { until } from '../../devkit/until.js';
import type { ConfigInput } from '../../src/config/schema.js';

type Msg = { seq: number; key: string; data: unknown; del?: boolean };

/** A subscriber's view rebuilt from its frames: the snapshot replaces it, then every msg after it applies in order. */
function rebuild(client: TestClient, ch: string): { view: Map<string, unknown>; snapSeq: number; snapSeqs: number[]; live: number[] } {
  const view = new Map<string, unknown>();
  let snapSeq = -1;
  const snapSeqs: number[] = [];
  const live: number[] = [];
  for (const f of client.frames) {
    if (f.ch !== ch) continue;
    if (f.ev === 'snap') {
      if (snapSeqs.length === 0 || view.size === 0) snapSeq = f.seq as number;
      for (const m of f.msgs as Msg[]) {
        view.set(m.key, m.data);
        snapSeqs.push(m.seq);
      }
    } else if (f.ev === 'msg') {
      const m = f as unknown as Msg;
      live.push(m.seq);
      if (m.del === true) view.delete(m.key);
      else view.set(m.key, m.data);
    }
  }
  return { view, snapSeq, snapSeqs, live };
}

const isLastSnap = (ch: string) => (f: Frame) => f.ev === 'snap' && f.ch === ch && f.last === true;

const CASES = TRANSPORTS.flatMap((transport) => (['memory', 'redis'] as const).map((broker) => [transport, broker] as const));

/**
 * Keyed channels on each transport and broker. On Redis every test runs two nodes: `connect`
 * alternates between them, so publisher and subscriber sit on different nodes (the state lives in
 * Redis, a snapshot works from any node).
 */
describe.each(CASES)('keyed channels [%s, %s broker]', (transport, broker) => {
  const h = nodesHarness(transport, broker);
  const rules = (extra: Record<string, unknown> = {}): DeepPartial<ConfigInput> => ({
    inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
    channels: [{ pattern: 'px.*', keyed: true, policy: 'disconnect' as const, historySize: 50, ...extra }],
  });

  it('a snapshot on subscribe then the live stream reproduce the publisher state, under concurrent publishing, with no seq twice and none missing', async () => {
    await h.start(rules({ snapshotChunkBytes: 1024 }));
    const publisher = await h.connect();
    const truth = new Map<string, unknown>();
    let seq = 0;
    const publish = (i: number) => {
      const key = `k${i % 37}`;
      seq++;
      if (i % 11 === 0) {
        truth.delete(key);
        publisher.send({ op: 'pub', ch: 'px.a', key, del: true });
      } else {
        const data = { i, pad: 'x'.repeat(i % 50) };
        truth.set(key, data);
        publisher.send({ op: 'pub', ch: 'px.a', key, data });
      }
    };
    for (let i = 1; i <= 400; i++) publish(i);
    const sub = await h.connect();
    const reply = sub.request({ op: 'sub', ch: 'px.a', snapshot: true });
    for (let i = 401; i <= 800; i++) publish(i);
    const ack = await reply;
    expect(ack).toMatchObject({ ev: 'ack', snapshot: true });
    await publisher.request({ op: 'ping' });
    await sub.next(isLastSnap('px.a'));
    await sub.until(() => sub.messages('px.a').some((m) => m.seq === seq));
    const { view, snapSeq, snapSeqs, live } = rebuild(sub, 'px.a');
    expect(snapSeq).toBe(ack.seq);
    expect(Math.max(0, ...snapSeqs)).toBeLessThanOrEqual(ack.seq as number);
    expect(live).toEqual(Array.from({ length: seq - (ack.seq as number) }, (_, i) => (ack.seq as number) + 1 + i));
    expect(new Set([...snapSeqs, ...live]).size).toBe(snapSeqs.length + live.length);
    expect(view).toEqual(truth);
    expect(sub.frames.filter((f) => f.ev === 'snap').length).toBeGreaterThan(1); // chunked at 1 KiB
  });

  it('refuses a keyless publication with key_required, delivers a delete as a msg with del, and sends an empty state as one last chunk', async () => {
    await h.start(rules());
    const c = await h.connect();
    expect(await c.request({ op: 'pub', ch: 'px.b', data: 1 })).toMatchObject({ ev: 'err', code: 'key_required' });
    expect(await c.subscribe('px.b', { snapshot: true })).toMatchObject({ seq: 0, snapshot: true });
    expect(await c.next(isLastSnap('px.b'))).toMatchObject({ seq: 0, msgs: [] });
    await c.request({ op: 'pub', ch: 'px.b', key: 'K', data: { v: 1 } });
    expect(await c.request({ op: 'pub', ch: 'px.b', key: 'K', del: true })).toMatchObject({ ev: 'ack', seq: 2 });
    expect(await c.next((f) => f.ev === 'msg' && f.seq === 2)).toMatchObject({ key: 'K', del: true, data: null });
    expect(await c.request({ op: 'pub', ch: 'px.b', del: true })).toMatchObject({ ev: 'err', code: 'bad_frame' });
  });

  it('refuses a new key past maxKeys and values past keyedMaxBytes with key_limit, publishing nothing', async () => {
    await h.start(rules({ maxKeys: 2, keyedMaxBytes: 10 }));
    const c = await h.connect();
    await c.request({ op: 'pub', ch: 'px.c', key: 'A', data: 1 });
    await c.request({ op: 'pub', ch: 'px.c', key: 'B', data: 1 });
    expect(await c.request({ op: 'pub', ch: 'px.c', key: 'C', data: 1 })).toMatchObject({ ev: 'err', code: 'key_limit' });
    expect(await c.request({ op: 'pub', ch: 'px.c', key: 'A', data: 'x'.repeat(8) })).toMatchObject({ ev: 'err', code: 'key_limit' }); // 10 + 1 bytes
    expect(await c.request({ op: 'pub', ch: 'px.c', key: 'A', data: 'x'.repeat(7) })).toMatchObject({ ev: 'ack', seq: 3 }); // 9 + 1 bytes
    expect(await c.request({ op: 'pub', ch: 'px.c', key: 'B', del: true })).toMatchObject({ ev: 'ack', seq: 4 });
    expect(await c.request({ op: 'pub', ch: 'px.c', key: 'C', data: 1 })).toMatchObject({ ev: 'ack', seq: 5 });
  });

  it('a key past keyTtlMs no longer counts against maxKeys or keyedMaxBytes: a new key is admitted once the old ones expired', async () => {
    await h.start(rules({ maxKeys: 2, keyedMaxBytes: 20, keyTtlMs: 300 }));
    const c = await h.connect();
    await c.request({ op: 'pub', ch: 'px.t', key: 'A', data: 1 });
    await c.request({ op: 'pub', ch: 'px.t', key: 'B', data: 'x'.repeat(15) });
    expect(await c.request({ op: 'pub', ch: 'px.t', key: 'C', data: 1 })).toMatchObject({ ev: 'err', code: 'key_limit' });
    // Polled until A and B are past their TTL: then C, and a value as large as B's, fit.
    await until(async () => (await c.request({ op: 'pub', ch: 'px.t', key: 'C', data: 'y'.repeat(15) })).ev === 'ack', 'C admitted once A and B expired', 10_000);
    expect(await c.request({ op: 'pub', ch: 'px.t', key: 'D', data: 1 })).toMatchObject({ ev: 'ack' });
    const sub = await h.connect();
    await sub.subscribe('px.t', { snapshot: true });
    const snap = await sub.next((f) => f.ev === 'snap' && f.last === true);
    expect((snap.msgs as Array<{ key: string }>).map((m) => m.key).sort()).toEqual(['C', 'D']);
  });

  it('a resume outside history falls back to the snapshot (recovered: "snapshot"), one inside gets the history', async () => {
    await h.start(rules({ historySize: 5 }));
    const publisher = await h.connect();
    const sub = await h.connect();
    const ack = await sub.subscribe('px.d');
    for (let i = 1; i <= 20; i++) await publisher.request({ op: 'pub', ch: 'px.d', key: `k${i % 3}`, data: i });
    await sub.request({ op: 'unsub', ch: 'px.d' });
    const inside = await sub.request({ op: 'sub', ch: 'px.d', since: { epoch: ack.epoch, seq: 17 } });
    expect(inside).toMatchObject({ recovered: true, seq: 20 });
    await sub.request({ op: 'unsub', ch: 'px.d' });
    const mark = sub.frames.length;
    const outside = await sub.request({ op: 'sub', ch: 'px.d', since: { epoch: ack.epoch, seq: 3 } });
    expect(outside).toMatchObject({ recovered: 'snapshot', snapshot: true, seq: 20 });
    const snap = await sub.next(isLastSnap('px.d'), 10_000, mark);
    expect((snap.msgs as Msg[]).map((m) => [m.key, m.data]).sort()).toEqual([['k0', 18], ['k1', 19], ['k2', 20]]);
  });

  it('maxRate: a real subscriber gets at most that many updates per key per second, the newest value of each key last, and a gap for each one it skipped', async () => {
    await h.start(rules({ contractMaxRate: 10 }));
    const publisher = await h.connect();
    const paced = await h.connect();
    const full = await h.connect();
    expect(await paced.subscribe('px.r', { maxRate: 4 })).toMatchObject({ maxRate: 4, maxStalenessMs: 0 });
    await full.subscribe('px.r');
    const started = Date.now();
    const keys = ['A', 'B', 'C'];
    let n = 0;
    // About 600 updates per key over ~1.2 s; the last of each key says so.
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 30; i++) publisher.send({ op: 'pub', ch: 'px.r', key: keys[n % 3], data: { n: n++ } });
      await publisher.request({ op: 'ping' });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const final = keys.map((key) => ({ key, n: n++ }));
    for (const { key, n: v } of final) publisher.send({ op: 'pub', ch: 'px.r', key, data: { n: v, last: true } });
    await publisher.request({ op: 'ping' });
    await paced.until(() => keys.every((key) => paced.messages('px.r').some((m) => m.key === key && (m.data as { last?: boolean }).last === true)));
    const elapsed = (Date.now() - started) / 1000;
    const msgs = paced.messages('px.r');
    for (const key of keys) {
      const got = msgs.filter((m) => m.key === key);
      // Counts, not timings: at most 4 per started second (plus the one let through at once).
      expect(got.length).toBeLessThanOrEqual(4 * Math.ceil(elapsed) + 1);
      expect((got.at(-1)!.data as { last?: boolean }).last).toBe(true);
    }
    expect(msgs.length).toBeLessThan(full.messages('px.r').length / 10);
    const seqs = msgs.map((m) => m.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Every seq is a message or inside a gap.
    const gaps = paced.frames.filter((f) => f.ev === 'gap' && f.ch === 'px.r');
    const covered = gaps.reduce((sum, g) => sum + (g.n as number), 0);
    expect(covered + msgs.length).toBe(n);
    expect(gaps.every((g) => g.reason === 'conflated')).toBe(true);
  });
});
