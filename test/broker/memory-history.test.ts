import { describe, expect, it } from 'vitest';
import { MemoryBroker, STREAM_BYTES } from '../../src/broker/memory-broker.js';
import { unmeteredPool } from '../../src/util/memory-budget.js';
import { channelFactory, RecordingEvents } from './fixtures.js';

describe('memory broker', () => {
  it('completes publish synchronously: handed back for delivery and in history before it returns', () => {
    const broker = new MemoryBroker(() => 0, 0);
    const events = new RecordingEvents();
    broker.start(events);
    const ch = channelFactory()('a');
    const r = broker.publish(ch.name, ch.settings, undefined, '1');
    expect(r).toMatchObject({ ok: true, seq: 1, publication: { seq: 1 } });
    expect(events.delivered).toHaveLength(0);
    expect(broker.retains(ch.name, 0)).toBe(true);
  });

  it('forgets history older than the channel TTL (injected clock), after which resume fails', () => {
    let now = 1_000;
    const broker = new MemoryBroker(() => now, 0);
    const events = new RecordingEvents(() => now);
    broker.start(events);
    const ch = channelFactory({ channelDefaults: { historyTtlMs: 100 } })('a');
    broker.publish(ch.name, ch.settings, undefined, '1');
    now += 50;
    broker.publish(ch.name, ch.settings, undefined, '2');
    const position = broker.history(ch.name, ch.settings, undefined);
    if (!position.ok) throw new Error('unreachable');
    const { epoch } = position.position;
    now += 60; // seq 1 is 110 ms old, seq 2 is 60 ms old
    expect(broker.history(ch.name, ch.settings, { epoch, seq: 0 })).toMatchObject({ recovered: false });
    expect(broker.history(ch.name, ch.settings, { epoch, seq: 1 })).toMatchObject({ recovered: true });
    now += 100;
    expect(broker.retains(ch.name, now)).toBe(false);
  });

  it('keeps a stream without history while it was active within historyTtlMs (a publication, a subscriber leaving)', () => {
    let now = 1_000;
    const broker = new MemoryBroker(() => now, 0);
    broker.start(new RecordingEvents(() => now));
    const ch = channelFactory({ channelDefaults: { historySize: 0, historyTtlMs: 100 } })('a');
    broker.publish(ch.name, ch.settings, undefined, '1');
    now += 90;
    expect(broker.retains(ch.name, now)).toBe(true);
    broker.unsubscribe(ch.name);
    now += 90;
    expect(broker.retains(ch.name, now)).toBe(true);
    now += 20;
    expect(broker.retains(ch.name, now)).toBe(false);
    const forever = channelFactory({ channelDefaults: { historySize: 0, historyTtlMs: 0 } })('b');
    broker.publish(forever.name, forever.settings, undefined, '1');
    expect(broker.retains(forever.name, now + 1e9)).toBe(true);
  });

  it('starts a new epoch when the channel is released', () => {
    const broker = new MemoryBroker(() => 0, 0);
    broker.start(new RecordingEvents());
    const ch = channelFactory()('a');
    broker.publish(ch.name, ch.settings, undefined, '1');
    const before = broker.history(ch.name, ch.settings, undefined);
    broker.release(ch.name);
    const after = broker.history(ch.name, ch.settings, undefined);
    expect(before.ok && after.ok && before.position.epoch !== after.position.epoch).toBe(true);
    expect(after).toMatchObject({ position: { seq: 0 } });
  });

  it('charges every stream and publication it holds to the history pool, and releases them', () => {
    const pool = unmeteredPool('history');
    const broker = new MemoryBroker(() => 0, 0, pool);
    broker.start(new RecordingEvents());
    const ch = channelFactory({ channelDefaults: { historySize: 2 } })('a');
    const costs: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const r = broker.publish(ch.name, ch.settings, undefined, String(i));
      if (r.ok) costs.push(r.publication!.cost);
    }
    expect(pool.bytes).toBe(STREAM_BYTES + costs[1]! + costs[2]!);
    broker.release(ch.name);
    expect(pool.bytes).toBe(0);
  });

  it('bounds history by bytes (historyMaxBytes), keeping at least the newest entry', () => {
    const broker = new MemoryBroker(() => 0, 0);
    broker.start(new RecordingEvents());
    const data = JSON.stringify('x'.repeat(1000));
    const ch = channelFactory({ channelDefaults: { historySize: 100, historyMaxBytes: 1100 * 3 } })('a');
    for (let i = 0; i < 10; i++) broker.publish(ch.name, ch.settings, undefined, data);
    const at = broker.history(ch.name, ch.settings, undefined);
    if (!at.ok) throw new Error('unreachable');
    const { epoch } = at.position;
    expect(broker.history(ch.name, ch.settings, { epoch, seq: 6 })).toMatchObject({ recovered: false });
    expect(broker.history(ch.name, ch.settings, { epoch, seq: 7 })).toMatchObject({ recovered: true });
    const tiny = channelFactory({ channelDefaults: { historyMaxBytes: 1 } })('b');
    broker.publish(tiny.name, tiny.settings, undefined, data);
    expect(broker.history(tiny.name, tiny.settings, { epoch: (broker.history(tiny.name, tiny.settings, undefined) as { position: { epoch: string } }).position.epoch, seq: 0 })).toMatchObject({ recovered: true });
  });

  it('trimHistory forgets history under pressure but keeps the position, so a resume learns the exact loss', () => {
    const pool = unmeteredPool('history');
    const broker = new MemoryBroker(() => 0, 0, pool);
    broker.start(new RecordingEvents());
    const ch = channelFactory()('a');
    for (let i = 0; i < 5; i++) broker.publish(ch.name, ch.settings, undefined, '1');
    const at = broker.history(ch.name, ch.settings, undefined);
    if (!at.ok) throw new Error('unreachable');
    broker.trimHistory(ch.name, 0);
    expect(pool.bytes).toBe(STREAM_BYTES);
    expect(broker.history(ch.name, ch.settings, { epoch: at.position.epoch, seq: 2 })).toMatchObject({ recovered: false, position: { epoch: at.position.epoch, seq: 5 } });
  });
});
