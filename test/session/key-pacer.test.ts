import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { TimerWheel } from '../../src/flow/timer-wheel.js';
import { Channel, DELIVERY } from '../../src/hub/channel.js';
import { DeliveryContracts, type PacedSink } from '../../src/session/key-pacer.js';
import { Subscription } from '../../src/session/subscription.js';
import { Publication } from '../../src/stream/publication.js';
import { unmeteredPool } from '../../src/util/memory-budget.js';

function setup(ask: { maxRate?: number; maxStalenessMs?: number }, rule: Record<string, unknown> = {}) {
  let now = 0;
  let timerRunning = 0;
  const clock = () => now;
  const wheel = new TimerWheel(clock, 10, 256, () => {
    timerRunning++;
    return () => timerRunning--;
  });
  const settings = new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: 'k', keyed: true, ...rule }] } })).settingsFor('k');
  const sent: Array<{ at: number; seq: number; key: string }> = [];
  const shed: Array<{ seq: number; reason: string }> = [];
  const sink: PacedSink & { replay(): void; snapshot(): void; restate(): void } = {
    deliver: (pub) => (sent.push({ at: now, seq: pub.seq, key: pub.key! }), DELIVERY.written),
    noteShed: (pub, _sub, reason) => void shed.push({ seq: pub.seq, reason }),
    replay: () => {},
    snapshot: () => {},
    restate: () => {},
  };
  const sub = new Subscription(new Channel('k', settings), sink);
  const pool = unmeteredPool('outbound');
  sub.pacer = new DeliveryContracts(wheel, clock, pool).pacerFor(sub, ask, sink);
  let seq = 0;
  const publish = (key: string, at = ++seq) => sub.deliver(new Publication('k', settings.queuePolicy, 'E', (seq = at), key, undefined, Buffer.from(String(at)), now));
  const at = (t: number) => {
    now = t;
    wheel.advance(t);
  };
  return { sub, settings, sent, shed, publish, at, wheel, pool, timer: () => timerRunning };
}

describe('delivery contracts: a pacer per subscriber on one timer wheel (injected clock)', () => {
  it('lets a message through at once when idle, then at most one per key per interval, the newest, in seq order; what it replaced is a conflated gap', () => {
    const { sent, shed, publish, at, timer } = setup({ maxRate: 2 });
    expect(publish('A')).toBe(DELIVERY.written); // seq 1 at 0
    at(100);
    publish('A'); // 2
    publish('B'); // 3
    publish('A'); // 4 replaces 2
    expect(sent.map((s) => s.seq)).toEqual([1]);
    expect(timer()).toBe(1);
    at(499);
    expect(sent.map((s) => s.seq)).toEqual([1]);
    at(500);
    expect(sent).toEqual([{ at: 0, seq: 1, key: 'A' }, { at: 500, seq: 3, key: 'B' }, { at: 500, seq: 4, key: 'A' }]);
    expect(shed).toEqual([{ seq: 2, reason: 'conflated' }]);
    expect(timer()).toBe(0); // nothing waits: the wheel's timer is off
  });

  it('drops a waiting value older than maxStalenessMs with an expired gap', () => {
    const { sent, shed, publish, at } = setup({ maxRate: 1, maxStalenessMs: 300 });
    publish('A'); // 1, sent at 0
    at(100);
    publish('A'); // 2, waits from 100; flushed at 1000: 900 ms old
    at(800);
    publish('B'); // 3, 200 ms old at 1000
    at(1000);
    expect(sent.map((s) => s.seq)).toEqual([1, 3]);
    expect(shed).toEqual([{ seq: 2, reason: 'expired' }]);
  });

  it('a restate (the node lost part of the stream, the state at seq 10 follows) supersedes what waits: nothing at or below 10 is written or reported shed after it', () => {
    const { sub, settings, sent, shed, publish, at, pool } = setup({ maxRate: 2 });
    publish('A'); // 1, sent at 0
    at(100);
    publish('A'); // 2 waits
    publish('B'); // 3 waits
    sub.restate(new Publication('', settings.queuePolicy, 'E', 10, undefined, undefined, Buffer.from('{}'), 100), { epoch: 'E', seq: 10, entries: [] });
    expect(pool.bytes).toBe(0);
    publish('A', 11); // waits for the interval, replacing nothing
    at(500);
    expect(sent.map((s) => s.seq)).toEqual([1, 11]);
    expect(shed).toEqual([]);
    expect(pool.bytes).toBe(0);
  });

  it('clamps the ask to the channel rule (contractMinRate, contractMaxRate) and takes none when contractMaxRate is 0 or the channel is not keyed', () => {
    expect(setup({ maxRate: 500 }, { contractMaxRate: 20 }).sub.pacer?.rate).toBe(20);
    expect(setup({ maxRate: 0.1 }, { contractMinRate: 2 }).sub.pacer?.rate).toBe(2);
    expect(setup({ maxRate: 5 }, { contractMaxRate: 0 }).sub.pacer).toBeUndefined();
    expect(setup({ maxRate: 5 }, { keyed: false }).sub.pacer).toBeUndefined();
    expect(setup({}).sub.pacer).toBeUndefined();
  });

  it('whatever the arrivals, no key is delivered more than rate times in any second, the last value of each key always arrives, seqs stay in order, and every other seq is a gap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 120 }), key: fc.constantFrom('A', 'B', 'C') }), { maxLength: 200 }),
        (rate, arrivals) => {
          const { sent, shed, publish, at, pool } = setup({ maxRate: rate });
          let t = 0;
          const last = new Map<string, number>();
          arrivals.forEach(({ dt, key }, i) => {
            at((t += dt));
            publish(key);
            last.set(key, i + 1);
          });
          at(t + 2_000);
          for (const key of last.keys()) {
            const times = sent.filter((s) => s.key === key).map((s) => s.at);
            for (let i = rate; i < times.length; i++) expect(times[i]! - times[i - rate]!).toBeGreaterThanOrEqual(1000);
          }
          for (const seq of last.values()) expect(sent.some((s) => s.seq === seq)).toBe(true);
          const seqs = sent.map((s) => s.seq);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          expect([...seqs, ...shed.map((s) => s.seq)].sort((a, b) => a - b)).toEqual(arrivals.map((_, i) => i + 1));
          expect(pool.bytes).toBe(0);
        },
      ),
    );
  });
});
