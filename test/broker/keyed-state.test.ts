import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { channelFactory, RecordingEvents } from './fixtures.js';

function setup(rule: Record<string, unknown> = {}) {
  let now = 1_000;
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const broker = new MemoryBroker(() => now, 0, budget.pools.history, budget.pools.keyed);
  broker.start(new RecordingEvents(() => now));
  const ch = channelFactory({ channelDefaults: { keyed: true, ...rule } })('prices');
  const pub = (key: string, data: string, del = false) => broker.publish(ch.name, ch.settings, key, data, undefined, del);
  const state = () => {
    const read = broker.history(ch.name, ch.settings, undefined, false, true);
    if (!read.ok || read.snapshot === undefined) throw new Error('no snapshot');
    return { seq: read.snapshot.seq, entries: read.snapshot.entries.map((p) => [p.key, p.encoded.toString()] as const) };
  };
  return { broker, ch, pub, state, budget, advance: (ms: number) => (now += ms) };
}

describe('memory broker: keyed state', () => {
  it('keeps the latest publication of every key, consistent with the position, and forgets deleted keys', () => {
    const { pub, state } = setup();
    pub('A', '1');
    pub('B', '2');
    pub('A', '3');
    expect(state()).toEqual({ seq: 3, entries: [['B', '2'], ['A', '3']] });
    expect(pub('B', 'null', true)).toMatchObject({ ok: true, seq: 4 });
    expect(state()).toEqual({ seq: 4, entries: [['A', '3']] });
  });

  it('refuses a new key past maxKeys and a value past keyedMaxBytes before giving a seq; a delete or a smaller value still goes', () => {
    const { pub, state } = setup({ maxKeys: 2, keyedMaxBytes: 10 });
    pub('A', '1234');
    pub('B', '1234');
    expect(pub('C', '1')).toEqual({ ok: false, code: 'key_limit' });
    expect(pub('A', '1234567')).toEqual({ ok: false, code: 'key_limit' }); // 7 + 4 > 10
    expect(pub('A', '123456')).toMatchObject({ ok: true, seq: 3 }); // 6 + 4 = 10
    expect(pub('B', 'null', true)).toMatchObject({ ok: true, seq: 4 });
    expect(pub('C', '1')).toMatchObject({ ok: true, seq: 5 });
    expect(state().entries.map(([k]) => k)).toEqual(['A', 'C']);
  });

  it('expires keys not published for keyTtlMs (injected clock) and keeps the channel while it holds keys', () => {
    const { broker, ch, pub, state, advance } = setup({ keyTtlMs: 100, historyTtlMs: 10 });
    pub('A', '1');
    advance(60);
    pub('B', '2');
    advance(60);
    expect(state().entries.map(([k]) => k)).toEqual(['B']);
    expect(broker.retains(ch.name, 1_120)).toBe(true);
    advance(60);
    expect(state().entries).toEqual([]);
  });

  it('charges every held publication to the keyed pool and releases it on replace, delete and release', () => {
    const { broker, ch, pub, budget } = setup({ historySize: 0 });
    pub('A', '1');
    const one = budget.pools.keyed.bytes;
    expect(one).toBeGreaterThan(0);
    pub('A', '2');
    expect(budget.pools.keyed.bytes).toBe(one);
    pub('B', '2');
    expect(budget.pools.keyed.bytes).toBe(2 * one);
    pub('A', 'null', true);
    expect(budget.pools.keyed.bytes).toBe(one);
    broker.release(ch.name);
    expect(budget.pools.keyed.bytes).toBe(0);
  });

  it('serves history to a resume it covers, and the state to one it does not', () => {
    const { broker, ch, pub } = setup({ historySize: 2 });
    for (let i = 1; i <= 5; i++) pub(`k${i % 2}`, String(i));
    const first = broker.history(ch.name, ch.settings, undefined);
    if (!first.ok) throw new Error('unreachable');
    const { epoch } = first.position;
    const covered = broker.history(ch.name, ch.settings, { epoch, seq: 3 }, false, true);
    expect(covered).toMatchObject({ recovered: true });
    expect(covered.ok && covered.snapshot).toBeUndefined();
    const fallback = broker.history(ch.name, ch.settings, { epoch, seq: 1 }, false, true);
    expect(fallback).toMatchObject({ recovered: false, publications: [] });
    expect(fallback.ok && fallback.snapshot?.entries.map((p) => p.seq)).toEqual([4, 5]);
  });
});
