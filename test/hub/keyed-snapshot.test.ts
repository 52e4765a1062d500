import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HistoryOutcome } from '../../src/broker/broker.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { until } from '../../devkit/until.js';
import { redisHarness } from '../helpers/harness.js';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { DELIVERY, type DeliveryOutcome, type JoinOutcome, type Subscriber } from '../../src/hub/channel.js';
import { Hub } from '../../src/hub/hub.js';
import type { StreamPosition } from '../../src/stream/position.js';
import type { Delivered } from '../../src/hub/hub.js';
import type { Publication } from '../../src/stream/publication.js';
import type { StreamSettings } from '../../src/stream/settings.js';
import type { KeyedSnapshot } from '../../src/stream/snapshot.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { silentLogger } from '../helpers/gateway.js';

/**
 * A memory broker whose history reads take effect and answer when the test says: a read is
 * executed (its position and state taken, as Redis runs the script) at one step and answered at a
 * later one, while publications go on being delivered at once in between — the races of a real
 * Redis, chosen by fast-check.
 */
class SteppedReads extends MemoryBroker {
  readonly waiting: Array<() => void> = [];
  readonly executed: Array<() => void> = [];
  override history(channel: string, settings: StreamSettings, since: StreamPosition | undefined, tail = false, snapshot = false): HistoryOutcome {
    return new Promise<HistoryOutcome>((answer) => {
      this.waiting.push(() => {
        const outcome = super.history(channel, settings, since, tail, snapshot);
        this.executed.push(() => answer(outcome));
      });
    }) as unknown as HistoryOutcome;
  }
}

/** A subscriber's view: the snapshot replaces it, then each message sets or deletes its key. */
class View implements Subscriber {
  readonly wantsDeltas = false;
  readonly wantsState = true;
  ack: JoinOutcome | undefined;
  snap: KeyedSnapshot | undefined;
  readonly live: Publication[] = [];
  joined(outcome: JoinOutcome): void {
    this.ack = outcome;
  }
  deliver(pub: Publication): DeliveryOutcome {
    this.live.push(pub);
    return DELIVERY.written;
  }
  replay(pubs: readonly Publication[]): void {
    this.live.push(...pubs);
  }
  snapshot(state: KeyedSnapshot): void {
    this.snap = state;
  }
  /** The node lost part of the stream (a repair from a provisional position whose history is gone): the state replaces the view. */
  restate(_notice: Publication, state: KeyedSnapshot): void {
    this.snap = state;
    this.live.length = 0;
    this.ack = { ok: true, epoch: state.epoch, seq: state.seq, recovered: undefined, snapshot: true };
  }
  state(): Map<string, unknown> {
    const view = new Map<string, unknown>();
    const data = (pub: Publication) => (JSON.parse(pub.encoded.toString()) as { data: unknown }).data;
    for (const pub of this.snap?.entries ?? []) view.set(pub.key!, data(pub));
    for (const pub of this.live) {
      if (pub.del) view.delete(pub.key!);
      else view.set(pub.key!, data(pub));
    }
    return view;
  }
}

const Op = fc.oneof(
  fc.record({ op: fc.constant('pub' as const), key: fc.integer({ min: 0, max: 5 }), value: fc.integer({ min: 0, max: 99 }) }),
  fc.record({ op: fc.constant('del' as const), key: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant('subscribe' as const) }),
  fc.record({ op: fc.constant('execute' as const) }),
  fc.record({ op: fc.constant('answer' as const) }),
);

describe('keyed snapshot + live stream (model, fast-check)', () => {
  it('whatever the interleaving of publications, deletes, reads taking effect and answers, each subscriber ends with the publisher state; no seq arrives twice, none is missing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(Op, { maxLength: 60 }), async (ops) => {
        const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
        const broker = new SteppedReads(() => 0, 0, budget.pools.history, budget.pools.keyed);
        const hub = new Hub({
          rules: new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: 'k', keyed: true, historySize: 3 }] } })),
          maxChannels: 10,
          budget,
          prepare: (p) => p,
          clock: () => 0,
          broker,
          maxJoinBuffer: 1000,
          log: silentLogger(),
        });
        broker.start(hub);
        const truth = new Map<string, unknown>();
        const views: View[] = [];
        let seq = 0;
        const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
        for (const step of [...ops, ...Array.from({ length: 30 }, () => ({ op: 'execute' as const })), ...Array.from({ length: 30 }, () => ({ op: 'answer' as const }))]) {
          if (step.op === 'pub' || step.op === 'del') {
            const key = `K${step.key}`;
            const data = step.op === 'pub' ? String(step.value) : 'null';
            const r = hub.publish('k', key, data, undefined, step.op === 'del');
            if (r instanceof Promise || !r.ok) throw new Error('publish failed');
            seq = r.seq;
            if (step.op === 'del') truth.delete(key);
            else truth.set(key, step.value);
          } else if (step.op === 'subscribe') {
            const view = new View();
            views.push(view);
            hub.subscribe(hub.channel('k')!, view, undefined, true);
          } else if (step.op === 'execute') {
            broker.waiting.shift()?.();
          } else {
            broker.executed.shift()?.();
            await settle();
          }
        }
        for (const view of views) {
          expect(view.ack).toMatchObject({ ok: true, snapshot: true });
          const at = (view.ack as { seq: number }).seq;
          expect(view.snap!.seq).toBe(at);
          const snapSeqs = view.snap!.entries.map((p) => p.seq);
          for (const s of snapSeqs) expect(s).toBeLessThanOrEqual(at);
          expect(view.live.map((p) => p.seq)).toEqual(Array.from({ length: seq - at }, (_, i) => at + 1 + i));
          expect(view.state()).toEqual(truth);
        }
      }),
      { numRuns: 100 },
    );
  });
});

/** Values longer than Redis keeps in a listpack (64 bytes): the state hash is a hash table, so HSCAN reads it in chunks. */
const long = (value: number) => JSON.stringify(`${'v'.repeat(70)}${value}`);

const RedisOp = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('pub' as const), key: fc.integer({ min: 0, max: 9 }), value: fc.integer({ min: 0, max: 99 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('del' as const), key: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('subscribe' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('turn' as const) }) },
);

describe('keyed snapshot on Redis, read in chunks (model, fast-check)', () => {
  const suite = redisHarness();
  let prefix = 0;

  async function redisHub(historySize: number, snapshotScanCount: number, keyPrefix = `ks${prefix++}:`) {
    const config = loadConfig({
      overrides: { broker: { type: 'redis', redis: { url: suite.redis.url, keyPrefix, snapshotScanCount } }, channels: [{ pattern: 'k', keyed: true, historySize }] },
    });
    const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
    const broker = new RedisBroker(config.broker, silentLogger());
    const hub = new Hub({ rules: new ChannelRules(config), maxChannels: 10, budget, prepare: (p) => p, clock: Date.now, broker, maxJoinBuffer: 10_000, log: silentLogger() });
    broker.start(hub);
    await until(() => broker.ready, 'redis broker ready');
    return { hub, broker };
  }

  it('publications, deletes and subscribes racing reads of 2 keys at a time: each subscriber gets the exact state at its ack seq, then every later seq once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(RedisOp, { minLength: 1, maxLength: 40 }), fc.constantFrom(3, 100), async (ops, historySize) => {
        const { hub, broker } = await redisHub(historySize, 2);
        try {
          const published: Array<{ key: string; value: number | undefined; result: Promise<unknown> }> = [];
          const publish = (key: string, value: number | undefined) => published.push({ key, value, result: Promise.resolve(hub.publish('k', key, value === undefined ? 'null' : long(value), undefined, value === undefined)) });
          // Subscribes may come before the stream's first publish: a provisional position, then a repair into the stream.
          for (let k = 0; k < 10; k++) publish(`K${k}`, 0);
          const views: View[] = [];
          for (const step of ops) {
            if (step.op === 'pub') publish(`K${step.key}`, step.value);
            else if (step.op === 'del') publish(`K${step.key}`, undefined);
            else if (step.op === 'subscribe') {
              const view = new View();
              views.push(view);
              hub.subscribe(hub.channel('k')!, view, undefined, true);
            } else await new Promise<void>((resolve) => setImmediate(resolve));
          }
          const results = (await Promise.all(published.map((p) => p.result))) as Delivered[];
          const truth = new Map<string, unknown>();
          const bySeq = published.map((p, i) => ({ ...p, seq: results[i]!.seq })).sort((a, b) => a.seq - b.seq);
          for (const p of bySeq) {
            if (p.value === undefined) truth.delete(p.key);
            else truth.set(p.key, JSON.parse(long(p.value)));
          }
          const last = bySeq.at(-1)!.seq;
          const end = (view: View) => (view.live.at(-1)?.seq ?? (view.ack as { seq: number } | undefined)?.seq ?? -1);
          await until(() => views.every((v) => v.ack !== undefined && end(v) === last), 'every subscriber at the last seq', 10_000);
          for (const view of views) {
            expect(view.ack).toMatchObject({ ok: true, snapshot: true });
            const at = (view.ack as { seq: number }).seq;
            expect(view.snap!.seq).toBe(at);
            for (const s of view.snap!.entries.map((p) => p.seq)) expect(s).toBeLessThanOrEqual(at);
            expect(view.live.map((p) => p.seq)).toEqual(Array.from({ length: last - at }, (_, i) => at + 1 + i));
            expect(view.state()).toEqual(truth);
          }
        } finally {
          await broker.close();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a read with the state that continues a provisional position says so (a stream repair gives unavailable, not reset)', async () => {
    const keyPrefix = `ks${prefix++}:`;
    const { hub, broker } = await redisHub(3, 2, keyPrefix);
    try {
      const { settings } = hub.channel('k')!;
      const before = await broker.history('k', settings, undefined);
      if (!before.ok) throw new Error('history read failed');
      expect(before.position.epoch.startsWith('~')).toBe(true); // no stream yet: a provisional position
      const writes: Array<Promise<unknown>> = [];
      for (let k = 0; k < 10; k++) writes.push(Promise.resolve(hub.publish('k', `K${k}`, long(k))));
      await Promise.all(writes);
      for (const chunk of [2, 0]) {
        const { hub: other, broker: reader } = await redisHub(3, chunk, keyPrefix);
        try {
          const outcome = await reader.history('k', other.channel('k')!.settings, before.position, true, true);
          expect(outcome).toMatchObject({ ok: true, continued: true, position: { seq: 10 } });
          expect((outcome as { snapshot?: { entries: unknown[] } }).snapshot?.entries).toHaveLength(10);
        } finally {
          await reader.close();
        }
      }
    } finally {
      await broker.close();
    }
  });

  it('reads a large state in chunks of snapshotScanCount keys, never in one reply', async () => {
    const { hub, broker } = await redisHub(100, 50);
    try {
      const redis = suite.redis.client();
      await redis.config('RESETSTAT');
      const writes: Array<Promise<unknown>> = [];
      for (let k = 0; k < 300; k++) writes.push(Promise.resolve(hub.publish('k', `K${k}`, long(k))));
      await Promise.all(writes);
      const view = new View();
      hub.subscribe(hub.channel('k')!, view, undefined, true);
      await until(() => view.snap !== undefined, 'the snapshot');
      expect(view.snap!.entries.length).toBe(300);
      const stats = await redis.info('commandstats');
      redis.disconnect();
      expect(stats).not.toMatch(/cmdstat_hvals:/);
      expect(Number(/cmdstat_hscan:calls=(\d+)/.exec(stats)?.[1] ?? 0)).toBeGreaterThanOrEqual(6);
    } finally {
      await broker.close();
    }
  });
});
