import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { channelFactory, RecordingEvents } from './fixtures.js';

describe('memory broker', () => {
  it('completes publish synchronously: delivered and in history before it returns', () => {
    const broker = new MemoryBroker(() => 0);
    const events = new RecordingEvents();
    broker.start(events);
    const ch = channelFactory()('a');
    const r = broker.publish(ch, undefined, '1');
    expect(r).toEqual({ ok: true, seq: 1 });
    expect(events.delivered).toHaveLength(1);
    expect(broker.retains(ch, 0)).toBe(true);
  });

  it('forgets history older than the channel TTL (injected clock), after which resume fails', () => {
    let now = 1_000;
    const broker = new MemoryBroker(() => now);
    const events = new RecordingEvents(() => now);
    broker.start(events);
    const ch = channelFactory({ channelDefaults: { historyTtlMs: 100 } })('a');
    broker.publish(ch, undefined, '1');
    now += 50;
    broker.publish(ch, undefined, '2');
    const position = broker.history(ch, undefined);
    if (!position.ok) throw new Error('unreachable');
    const { epoch } = position.position;
    now += 60; // seq 1 is 110 ms old, seq 2 is 60 ms old
    expect(broker.history(ch, { epoch, seq: 0 })).toMatchObject({ recovered: false });
    expect(broker.history(ch, { epoch, seq: 1 })).toMatchObject({ recovered: true });
    now += 100;
    expect(broker.retains(ch, now)).toBe(false);
  });

  it('starts a new epoch when the channel is released', () => {
    const broker = new MemoryBroker(() => 0);
    broker.start(new RecordingEvents());
    const ch = channelFactory()('a');
    broker.publish(ch, undefined, '1');
    const before = broker.history(ch, undefined);
    broker.release(ch);
    const after = broker.history(ch, undefined);
    expect(before.ok && after.ok && before.position.epoch !== after.position.epoch).toBe(true);
    expect(after).toMatchObject({ position: { seq: 0 } });
  });
});
