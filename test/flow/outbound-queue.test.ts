import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OutboundQueue, type OutboundQueueLimits, type Queueable } from '../../src/flow/outbound-queue.js';
import { POLICIES, type ShedReason, type SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';

interface Msg extends Queueable {
  readonly key?: string;
}

const channel = (policy: SlowConsumerPolicy, maxAgeMs = 0): { name: string; queuePolicy: { policy: SlowConsumerPolicy; maxAgeMs: number } } => ({ name: policy, queuePolicy: { policy, maxAgeMs } });

function message(ch: ReturnType<typeof channel>, seq: number, bytes = 10, key?: string, at = 0): Msg {
  return { channel: ch.name, queuePolicy: ch.queuePolicy, seq, bytes, at, key, cost: bytes, queued: 0, conflationKey: ch.queuePolicy.policy === 'conflate' && key !== undefined ? `${ch.name}\0${key}` : undefined };
}

const limits = (over: Partial<OutboundQueueLimits> = {}): OutboundQueueLimits => ({ maxQueueBytes: 100, maxQueueMessages: 5, softQueueBytes: 0, softLimitMs: 0, ...over });

function harness(l: OutboundQueueLimits) {
  const shed: Array<[number, ShedReason]> = [];
  const queue = new OutboundQueue<Msg>(l, (m, reason) => shed.push([m.seq, reason]));
  const drain = (now = 0): number[] => {
    const out: number[] = [];
    for (let m = queue.shift(now); m !== undefined; m = queue.shift(now)) out.push(m.seq);
    return out;
  };
  return { queue, shed, drain };
}

describe('OutboundQueue policies', () => {
  it('drop-oldest sheds the oldest of the channel and keeps the newest', () => {
    const { queue, shed, drain } = harness(limits());
    const ch = channel('drop-oldest');
    for (let seq = 1; seq <= 8; seq++) queue.push(message(ch, seq), 0);
    expect(shed).toEqual([[1, 'dropped'], [2, 'dropped'], [3, 'dropped']]);
    expect(drain()).toEqual([4, 5, 6, 7, 8]);
  });

  it('drop-oldest sheds a run at once: past a hard limit, down to 15/16 of each limit, then queues without shedding until it is passed again', () => {
    const { queue, shed, drain } = harness(limits({ maxQueueMessages: 32, maxQueueBytes: 10_000 }));
    const ch = channel('drop-oldest');
    for (let seq = 1; seq <= 33; seq++) queue.push(message(ch, seq), 0);
    expect(shed.map(([s]) => s)).toEqual([1, 2, 3]);
    expect(queue.length).toBe(30);
    queue.push(message(ch, 34), 0);
    queue.push(message(ch, 35), 0);
    expect(shed).toHaveLength(3);
    queue.push(message(ch, 36), 0);
    expect(shed.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(drain()).toEqual(Array.from({ length: 30 }, (_, i) => i + 7));
  });

  it('purge removes one channel\'s messages silently and keeps conflation working for the rest', () => {
    const { queue, shed, drain } = harness(limits({ maxQueueMessages: 10, maxQueueBytes: 1000 }));
    const gone = channel('drop-oldest');
    const kept = channel('conflate');
    queue.push(message(gone, 1), 0);
    queue.push(message(kept, 1, 10, 'k'), 0);
    queue.push(message(gone, 2), 0);
    queue.purge((m) => m.channel === gone.name);
    queue.push(message(kept, 2, 10, 'k'), 0);
    expect(shed).toEqual([[1, 'conflated']]);
    expect(queue.bytes).toBe(10);
    expect(drain()).toEqual([2]);
  });

  it('drop-newest sheds arriving messages and keeps the oldest', () => {
    const { queue, shed, drain } = harness(limits());
    const ch = channel('drop-newest');
    const results = [];
    for (let seq = 1; seq <= 8; seq++) results.push(queue.push(message(ch, seq), 0));
    expect(results).toEqual(['queued', 'queued', 'queued', 'queued', 'queued', 'shed', 'shed', 'shed']);
    expect(shed.map(([s]) => s)).toEqual([6, 7, 8]);
    expect(drain()).toEqual([1, 2, 3, 4, 5]);
  });

  it('conflate keeps only the newest per key, in publication order', () => {
    const { queue, shed, drain } = harness(limits({ maxQueueMessages: 100, maxQueueBytes: 10_000 }));
    const ch = channel('conflate');
    const keys = ['BTC', 'ETH', 'BTC', 'SOL', 'ETH', 'BTC'];
    keys.forEach((key, i) => queue.push(message(ch, i + 1, 10, key), 0));
    expect(shed).toEqual([[1, 'conflated'], [2, 'conflated'], [3, 'conflated']]);
    expect(drain()).toEqual([4, 5, 6]);
  });

  it('conflate falls back to dropping the oldest when distinct keys overflow', () => {
    const { queue, shed, drain } = harness(limits({ maxQueueMessages: 3 }));
    const ch = channel('conflate');
    ['a', 'b', 'c', 'd'].forEach((key, i) => queue.push(message(ch, i + 1, 10, key), 0));
    expect(shed).toEqual([[1, 'dropped']]);
    expect(drain()).toEqual([2, 3, 4]);
  });

  it('disconnect asks for the consumer to be cut off when nothing lossy can make room', () => {
    const { queue } = harness(limits());
    const ch = channel('disconnect');
    const results = [];
    for (let seq = 1; seq <= 6; seq++) results.push(queue.push(message(ch, seq), 0));
    expect(results.slice(0, 5)).toEqual(['queued', 'queued', 'queued', 'queued', 'queued']);
    expect(results[5]).toBe('disconnect');
  });

  it('a lossless channel takes room from lossy channels before disconnecting', () => {
    const { queue, shed, drain } = harness(limits());
    const chat = channel('disconnect');
    const sensor = channel('drop-oldest');
    queue.push(message(sensor, 1), 0);
    queue.push(message(chat, 1), 0);
    queue.push(message(sensor, 2), 0);
    queue.push(message(chat, 2), 0);
    queue.push(message(chat, 3), 0);
    expect(queue.push(message(chat, 4), 0)).toBe('queued');
    expect(queue.push(message(chat, 5), 0)).toBe('queued');
    expect(shed).toEqual([[1, 'dropped'], [2, 'dropped']]);
    expect(queue.push(message(chat, 6), 0)).toBe('disconnect');
    queue.clear();
    expect(drain()).toEqual([]);
  });

  it('enforces the byte limit as well as the count limit', () => {
    const { queue, drain } = harness(limits({ maxQueueBytes: 100, maxQueueMessages: 1000 }));
    const ch = channel('drop-oldest');
    for (let seq = 1; seq <= 10; seq++) queue.push(message(ch, seq, 30), 0);
    expect(queue.bytes).toBe(90);
    expect(drain()).toEqual([8, 9, 10]);
  });

  it('sheds messages older than maxAgeMs at the head', () => {
    const { queue, shed, drain } = harness(limits({ maxQueueMessages: 100, maxQueueBytes: 10_000 }));
    const ch = channel('drop-oldest', 1000);
    queue.push(message(ch, 1, 10, undefined, 0), 0);
    queue.push(message(ch, 2, 10, undefined, 700), 700);
    queue.push(message(ch, 3, 10, undefined, 1500), 1500);
    expect(drain(1600)).toEqual([2, 3]);
    expect(shed).toEqual([[1, 'expired']]);
  });

  it('reports a consumer above its soft limit for too long', () => {
    const { queue } = harness(limits({ maxQueueBytes: 1000, maxQueueMessages: 1000, softQueueBytes: 50, softLimitMs: 100 }));
    const ch = channel('drop-oldest');
    for (let seq = 1; seq <= 6; seq++) expect(queue.push(message(ch, seq), 0)).toBe('queued');
    expect(queue.softLimitExceeded(50)).toBe(false);
    expect(queue.softLimitExceeded(101)).toBe(true);
    expect(queue.push(message(ch, 7), 150)).toBe('disconnect');
    queue.shift(150);
    queue.shift(150);
    expect(queue.softLimitExceeded(1000)).toBe(false);
  });
});

describe('OutboundQueue invariants (property-based)', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), policy: fc.constantFrom(...POLICIES), key: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }), bytes: fc.integer({ min: 1, max: 60 }) }),
    fc.record({ kind: fc.constant('shift' as const) }),
  );

  it('never exceeds its bounds, keeps per-channel order, and accounts for every message', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 60, max: 400 }), fc.array(op, { maxLength: 300 }), (maxQueueMessages, maxQueueBytes, ops) => {
        const channels = Object.fromEntries(POLICIES.map((p) => [p, channel(p)]));
        const seqs: Record<string, number> = {};
        const { queue, shed } = harness({ maxQueueMessages, maxQueueBytes, softQueueBytes: 0, softLimitMs: 0 });
        const delivered: Msg[] = [];
        let pushed = 0;
        let disconnected = false;
        for (const o of ops) {
          if (o.kind === 'shift') {
            const m = queue.shift(0);
            if (m) delivered.push(m);
            continue;
          }
          const ch = channels[o.policy]!;
          seqs[o.policy] = (seqs[o.policy] ?? 0) + 1;
          pushed++;
          if (queue.push(message(ch, seqs[o.policy]!, o.bytes, o.key), 0) === 'disconnect') {
            disconnected = true;
            break;
          }
          expect(queue.length).toBeLessThanOrEqual(maxQueueMessages);
          expect(queue.bytes).toBeLessThanOrEqual(maxQueueBytes);
        }
        if (disconnected) return;
        let m;
        while ((m = queue.shift(0))) delivered.push(m);
        // Every message pushed was delivered or shed, exactly once.
        expect(delivered.length + shed.length).toBe(pushed);
        expect(queue.bytes).toBe(0);
        // Per channel, delivered seqs strictly increase.
        for (const p of POLICIES) {
          const s = delivered.filter((d) => d.channel === channels[p].name).map((d) => d.seq);
          expect(s).toEqual([...s].sort((a, b) => a - b));
        }
        // Lossless channel messages are never shed.
        expect(delivered.filter((d) => d.channel === channels.disconnect.name).length).toBe(seqs.disconnect ?? 0);
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * The policies' contract written the plain way (an array, searched from the head): the queue must
 * do exactly what this does, step by step, whatever shortcuts it takes to shed cheaply.
 */
class ReferenceQueue {
  items: Msg[] = [];
  readonly shed: Array<[string, number, ShedReason]> = [];
  constructor(private readonly l: OutboundQueueLimits) {}
  get bytes(): number {
    return this.items.reduce((n, m) => n + m.bytes, 0);
  }
  private drop(i: number, reason: ShedReason): void {
    const [m] = this.items.splice(i, 1);
    this.shed.push([m!.channel, m!.seq, reason]);
  }
  private over(bytes: number, messages: number): boolean {
    return this.bytes > bytes || this.items.length > messages;
  }
  push(m: Msg): 'queued' | 'shed' | 'disconnect' {
    if (m.conflationKey !== undefined) {
      const old = this.items.findIndex((x) => x.conflationKey === m.conflationKey);
      if (old >= 0) this.drop(old, 'conflated');
    }
    this.items.push(m);
    const policy = m.queuePolicy.policy;
    if (!this.over(this.l.maxQueueBytes, this.l.maxQueueMessages)) return 'queued';
    if (policy === 'drop-newest') {
      this.drop(this.items.length - 1, 'dropped');
      return 'shed';
    }
    if (policy === 'disconnect') {
      while (this.over(this.l.maxQueueBytes, this.l.maxQueueMessages)) {
        const victim = this.items.findIndex((x) => x.queuePolicy.policy !== 'disconnect');
        if (victim < 0) return 'disconnect';
        this.drop(victim, 'dropped');
      }
      return 'queued';
    }
    // The oldest of the channel, a run at once: down to 15/16 of each limit, or the message itself.
    const low = (limit: number): number => limit - Math.floor(limit / 16);
    while (this.over(low(this.l.maxQueueBytes), low(this.l.maxQueueMessages))) {
      this.drop(this.items.findIndex((x) => x.channel === m.channel), 'dropped');
      if (!this.items.includes(m)) return 'shed';
    }
    return 'queued';
  }
  shift(now: number): Msg | undefined {
    for (;;) {
      const m = this.items.shift();
      if (m === undefined) return undefined;
      if (m.queuePolicy.maxAgeMs > 0 && now - m.at > m.queuePolicy.maxAgeMs) this.shed.push([m.channel, m.seq, 'expired']);
      else return m;
    }
  }
  purge(channelName: string): void {
    this.items = this.items.filter((x) => x.channel !== channelName);
  }
  shedLossy(): void {
    for (let i = 0; i < this.items.length; ) {
      if (this.items[i]!.queuePolicy.policy !== 'disconnect') this.drop(i, 'dropped');
      else i++;
    }
  }
}

describe('OutboundQueue against the reference (property-based, injected clock)', () => {
  const chans = [channel('drop-oldest'), channel('drop-oldest', 5), channel('drop-newest'), channel('conflate'), channel('disconnect')].map((c, i) => ({ ...c, name: `${c.name}${i}` }));
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), ch: fc.nat(chans.length - 1), key: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }), bytes: fc.integer({ min: 1, max: 60 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('shift' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), ch: fc.nat(chans.length - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('shedLossy' as const) }) },
  );

  it('sheds, conflates, expires and delivers exactly what the plain version does, step by step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 60, max: 1200 }), fc.array(op, { maxLength: 400 }), (maxQueueMessages, maxQueueBytes, ops) => {
        const l = { maxQueueMessages, maxQueueBytes, softQueueBytes: 0, softLimitMs: 0 };
        const b = new MemoryBudget(0, { now: () => 0, later: () => {} });
        const shed: Array<[string, number, ShedReason]> = [];
        const queue = new OutboundQueue<Msg>(l, (m, reason) => shed.push([m.channel, m.seq, reason]), b.pools.outbound);
        const ref = new ReferenceQueue(l);
        let now = 0;
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const ch = chans[o.ch]!;
            const m = message(ch, ++seq, o.bytes, o.key, now);
            const got = queue.push(m, now);
            expect(got).toBe(ref.push(m));
            if (got === 'disconnect') return;
          } else if (o.kind === 'shift') expect(queue.shift(now)?.seq).toBe(ref.shift(now)?.seq);
          else if (o.kind === 'tick') now += o.ms;
          else if (o.kind === 'purge') {
            queue.purge((m) => m.channel === chans[o.ch]!.name);
            ref.purge(chans[o.ch]!.name);
          } else {
            queue.shedLossy();
            ref.shedLossy();
          }
          expect(shed).toEqual(ref.shed);
          expect([queue.length, queue.bytes, b.pools.outbound.bytes]).toEqual([ref.items.length, ref.bytes, ref.bytes]);
          expect(queue.oldestAt()).toBe(ref.items[0]?.at);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('OutboundQueue memory accounting', () => {
  const budget = () => new MemoryBudget(0, { now: () => 0, later: () => {} });

  it('charges a message shared by many queues once, and releases it when the last lets go', () => {
    const b = budget();
    const pool = b.pools.outbound;
    const queues = [1, 2, 3].map(() => new OutboundQueue<Msg>(limits(), () => {}, pool));
    const ch = channel('drop-oldest');
    const shared = message(ch, 1, 10);
    for (const q of queues) q.push(shared, 0);
    expect(pool.bytes).toBe(10);
    queues[0]!.shift(0);
    queues[1]!.clear();
    expect(pool.bytes).toBe(10);
    queues[2]!.shift(0);
    expect(pool.bytes).toBe(0);
  });

  it('releases what its policy sheds, conflates and expires', () => {
    const b = budget();
    const q = new OutboundQueue<Msg>(limits({ maxQueueMessages: 2 }), () => {}, b.pools.outbound);
    const ch = channel('drop-oldest', 5);
    for (let seq = 1; seq <= 4; seq++) q.push(message(ch, seq, 10), 0);
    expect(b.pools.outbound.bytes).toBe(20);
    expect(q.shift(100)).toBeUndefined();
    expect(b.pools.outbound.bytes).toBe(0);
    expect(b.total).toBe(0);
  });

  it('shedLossy drops lossy channels only, reporting each as dropped', () => {
    const shed: Array<[number, ShedReason]> = [];
    const b = budget();
    const q = new OutboundQueue<Msg>(limits({ maxQueueMessages: 10 }), (m, r) => shed.push([m.seq, r]), b.pools.outbound);
    q.push(message(channel('drop-oldest'), 1, 10), 0);
    q.push(message(channel('disconnect'), 2, 10), 0);
    q.push(message(channel('conflate'), 3, 10, 'k'), 0);
    expect(q.shedLossy()).toBe(20);
    expect(shed).toEqual([[1, 'dropped'], [3, 'dropped']]);
    expect(q.shift(0)?.seq).toBe(2);
    expect(b.pools.outbound.bytes).toBe(0);
  });
});
